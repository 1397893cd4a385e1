/* safetensors reader: one file or a sharded folder
 * (model.safetensors.index.json), mmap-based. The header JSON is parsed with
 * jansson; every tensor's offsets are checked against its file and its dtype
 * and shape against its byte size. F32, F16, BF16 (others rejected clearly). */
#ifndef VLLMC_SAFETENSORS_H
#define VLLMC_SAFETENSORS_H

#include <stdint.h>

#include "model/tensor.h"
#include "util/error.h"

typedef struct vc_safetensors vc_safetensors;

/* path: a .safetensors file, or a folder holding model.safetensors or
 * model.safetensors.index.json + shards. */
int vc_safetensors_open(vc_safetensors **out, const char *path, vc_error *err);
void vc_safetensors_free(vc_safetensors *st);

int64_t vc_safetensors_n_tensors(const vc_safetensors *st);
const vc_tensor *vc_safetensors_tensor_at(const vc_safetensors *st, int64_t i);
/* by HF name, e.g. "model.layers.0.self_attn.q_proj.weight"; NULL if absent */
const vc_tensor *vc_safetensors_tensor(const vc_safetensors *st, const char *name);

#endif
