/* Shared helpers for the C tests (cmocka). Tests run from the repo root. */
#ifndef VLLMC_TESTUTIL_H
#define VLLMC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Reads a whole file into a malloc'd buffer (NUL-terminated); NULL on error. */
char *tu_read_file(const char *path, size_t *len);
/* 1 if the path exists */
int tu_exists(const char *path);
/* the default real model, models/SmolLM2-135M-Instruct.Q4_1.gguf (fetched by scripts/fetch-model.sh) */
#define TU_REAL_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

#endif
