// Vector kernels for Tensor's elementwise ops (GELU, attention softmax rows), compiled for AVX-512
// and for AVX2 + FMA from one template (simd_template.h), chosen at run time by the CPU's flags.
// Level 0 (no such CPU, or forced by a test) means the caller runs its portable Swift path.
#include "CNative.h"
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__clang__)
#define HAVE_X86_PATHS 1

#define VW 16
#define SUF avx512
#define TARGET "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"
#include "simd_template.h"
#undef VW
#undef SUF
#undef TARGET

#define VW 8
#define SUF avx2
#define TARGET "avx2,fma"
#include "simd_template.h"
#undef VW
#undef SUF
#undef TARGET
#endif

static int detected = -1;
static int cap = 2;

static int detect(void) {
#ifdef HAVE_X86_PATHS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int cn_simd_supported(void) {
    if (detected < 0) detected = detect();
    return detected;
}

int cn_simd_level(void) {
    int s = cn_simd_supported();
    return s < cap ? s : cap;
}

void cn_simd_cap_level(int level) { cap = level < 0 ? 0 : level; }

// The wrappers below have no scalar path: their Swift callers check VectorISA.level first and run
// their own portable code at level 0. A call at level 0 is a caller's bug; stop loudly rather than
// return with the output unwritten.
static void no_vector_level(const char *name) {
    fprintf(stderr, "dcot: internal error: %s called without an AVX2/AVX-512 level (VectorISA.level 0)\n", name);
    abort();
}

void cn_gelu(const float *x, float *y, long n) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: gelu_avx512(x, y, n); return;
    case 1: gelu_avx2(x, y, n); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_gelu_backward(const float *g, const float *x, float *dx, long n) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: gelu_backward_avx512(g, x, dx, n); return;
    case 1: gelu_backward_avx2(g, x, dx, n); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_softmax_rows(const float *x, float *y, long rows, long cols, long ld, float scale) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: softmax_rows_avx512(x, y, rows, cols, ld, scale); return;
    case 1: softmax_rows_avx2(x, y, rows, cols, ld, scale); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_dw3x3_nhwc(const float *x, const float *w9, const float *bias, float *y, float *pre, long h, long w, long c, long y0,
                   long y1, int gelu) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: dw3x3_nhwc_avx512(x, w9, bias, y, pre, h, w, c, y0, y1, gelu); return;
    case 1: dw3x3_nhwc_avx2(x, w9, bias, y, pre, h, w, c, y0, y1, gelu); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_dw3x3_nhwc_wgrad(const float *x, const float *dy, float *part, long h, long w, long c, long y0, long y1) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: dw3x3_nhwc_wgrad_avx512(x, dy, part, h, w, c, y0, y1); return;
    case 1: dw3x3_nhwc_wgrad_avx2(x, dy, part, h, w, c, y0, y1); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_layernorm_rows(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *invstd,
                       long rows, long d, float eps) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: layernorm_rows_avx512(x, gamma, beta, y, mean, invstd, rows, d, eps); return;
    case 1: layernorm_rows_avx2(x, gamma, beta, y, mean, invstd, rows, d, eps); return;
    }
#endif
    no_vector_level(__func__);
}

void cn_layernorm_backward_rows(const float *x, const float *dy, const float *mean, const float *invstd, const float *gamma,
                                float *dx, float *pg, float *pb, long rows, long d) {
#ifdef HAVE_X86_PATHS
    switch (cn_simd_level()) {
    case 2: layernorm_backward_rows_avx512(x, dy, mean, invstd, gamma, dx, pg, pb, rows, d); return;
    case 1: layernorm_backward_rows_avx2(x, dy, mean, invstd, gamma, dx, pg, pb, rows, d); return;
    }
#endif
    no_vector_level(__func__);
}
