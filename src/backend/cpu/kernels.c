/* Which CPU kernels run: the best the CPU supports (cpuid through
 * __builtin_cpu_supports), lowered by the environment variable
 * VLLMC_KERNELS=portable|avx2|avx512|amx (a level above what the CPU has
 * (amx: also the OS must grant the tile state), or an
 * unknown name, gives the best supported). Read at every matmul call: getenv
 * is a short scan, and there is no global to go stale. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

static vc_kernels best_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("f16c");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    if (avx512 && __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") &&
        vc_cpu_amx_enable() == 0)
        return VC_KERNELS_AMX;
    if (avx512) return VC_KERNELS_AVX512;
    if (avx2) return VC_KERNELS_AVX2;
#endif
    return VC_KERNELS_PORTABLE;
}

vc_kernels vc_cpu_kernels(void) {
    const vc_kernels best = best_supported();
    const char *want = getenv("VLLMC_KERNELS");
    if (!want) return best;
    vc_kernels k = best;
    if (!strcmp(want, "portable")) k = VC_KERNELS_PORTABLE;
    else if (!strcmp(want, "avx2")) k = VC_KERNELS_AVX2;
    else if (!strcmp(want, "avx512")) k = VC_KERNELS_AVX512;
    else if (!strcmp(want, "amx")) k = VC_KERNELS_AMX;
    return k < best ? k : best;
}

const char *vc_cpu_kernels_name(vc_kernels k) {
    switch (k) {
    case VC_KERNELS_PORTABLE: return "portable";
    case VC_KERNELS_AVX2: return "avx2";
    case VC_KERNELS_AVX512: return "avx512";
    case VC_KERNELS_AMX: return "amx";
    }
    return "?";
}
