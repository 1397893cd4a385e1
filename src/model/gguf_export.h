/* GGUF export of a model loaded from a safetensors folder (quantized in situ
 * or not), in llama.cpp's conventions so that llama.cpp, gguf-py and our own
 * loader read it: llama.cpp tensor names, "<arch>.*" hyperparameter keys,
 * tokenizer.ggml.* from tokenizer.json / tokenizer_config.json, the chat
 * template. For llama/mistral the q/k rows are permuted to llama.cpp's
 * interleaved rope pairing (what its convert_hf_to_gguf.py does), so the
 * file reads as any llama GGUF. 1-D weights (norms, biases) are stored F32. */
#ifndef VLLMC_GGUF_EXPORT_H
#define VLLMC_GGUF_EXPORT_H

#include "model/gguf_writer.h"
#include "model/model.h"
#include "util/error.h"

/* mix: the --quant mix applied (VC_Q4_K, ...), or VC_F32/VC_F16/VC_BF16 for
 * an unquantized export; it sets general.file_type. */
int vc_model_export_gguf(const vc_model *m, vc_dtype mix, const char *path, vc_error *err);

/* tokenizer.ggml.* and tokenizer.chat_template from a Hugging Face folder
 * (tokenizer.json, tokenizer_config.json, chat_template.jinja, config.json).
 * Byte-level BPE tokenizers (GPT-2 style: Llama 3, Qwen, SmolLM) only. */
int vc_export_tokenizer_meta(vc_gguf_writer *w, const char *dir, int vocab_size, vc_error *err);

#endif
