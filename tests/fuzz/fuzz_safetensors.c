/* libFuzzer target for the safetensors reader (single file). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    vc_safetensors *st = NULL;
    vc_error err;
    if (vc_safetensors_open(&st, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < vc_safetensors_n_tensors(st); i++) {
            const vc_tensor *t = vc_safetensors_tensor_at(st, i);
            sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)sink;
        vc_safetensors_free(st);
    }
    close(fd);
    return 0;
}
