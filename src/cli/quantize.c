/* The quantize-and-export mode (see quantize.h). */
#include "cli/quantize.h"

#include <stdio.h>

#include "model/gguf_export.h"
#include "model/model.h"
#include "model/quantize_model.h"

int vc_cli_quantize_export(const char *model_path, const char *quant, const char *out_path, int n_threads,
                           bool progress) {
    vc_error err = {{0}};
    vc_dtype mix = VC_BF16;
    if (quant && vc_quant_parse(quant, &mix, &err)) {
        fprintf(stderr, "vllmc: %s\n", err.msg);
        return -1;
    }
    vc_model *m = NULL;
    if (vc_model_open(&m, model_path, &err)) {
        fprintf(stderr, "vllmc: %s\n", err.msg);
        return -1;
    }
    if (!quant) mix = m->layers[0].wq.type;   /* as stored */
    int rc = 0;
    if (quant) rc = vc_model_quantize(m, mix, n_threads, progress, &err);
    if (!rc) rc = vc_model_export_gguf(m, mix, out_path, &err);
    if (rc) fprintf(stderr, "vllmc: %s\n", err.msg);
    else fprintf(stderr, "vllmc: wrote %s\n", out_path);
    vc_model_free(m);
    return rc ? -1 : 0;
}
