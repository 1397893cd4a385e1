/* libFuzzer target for the GGUF reader and config_from_gguf: any input must
 * open cleanly or fail with a message; ASan/UBSan catch the rest.
 *   make fuzz            (runs each target for FUZZ_SECONDS, seeds from tests/fixtures/formats) */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/config.h"
#include "model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.gguf", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    vc_gguf *g = NULL;
    vc_error err;
    if (vc_gguf_open(&g, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < vc_gguf_n_tensors(g); i++) {
            const vc_tensor *t = vc_gguf_tensor_at(g, i);
            if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
            if (vc_gguf_tensor(g, t->name) != t) __builtin_trap();
        }
        for (int64_t i = 0; i < vc_gguf_n_kv(g); i++) {
            const vc_gguf_kv *kv = vc_gguf_kv_at(g, i);
            if (kv->val.type == VC_GGUF_ARRAY && kv->val.arr.n)
                sink ^= (uint8_t)vc_gguf_arr_int(&kv->val, kv->val.arr.n - 1);
        }
        (void)sink;
        vc_config cfg;
        vc_config_from_gguf(&cfg, g, &err);
        vc_gguf_free(g);
    }
    close(fd);
    return 0;
}
