// The copies around an im2col conv on AVX-512 (Tensor's Conv.swift): padded planes, the column
// matrix and its adjoint (col2im). Swift builds for the baseline x86-64, so its 16-float copies were
// four 16-byte moves with the loop's bookkeeping around each row of 4-16 floats, and im2col was
// 14.7 % of a 1-thread cnn-dct inference profile; here a row of 16 is one 64-byte load and store.
//
// The values and the order of col2im's additions are those of the Swift loops (each element gets
// its taps' values added in (i, j, oy, ox) order, no contraction), so the bits are the same; a test
// compares both paths.
#include "CNative.h"

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#pragma clang fp contract(off)

#define TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

// No masked loads or stores: on the Zen 5 the masked loads of a first version, whose masked-off
// lanes reached past the row's end, stalled (perf put 57 % of im2col's samples on the instruction
// after one, and ResNet's strided 1x1 downsample ran its im2col 2.3x slower than the Swift loop and
// its forward 15 % slower), so rows end in 8-, 4- and 1-float steps that touch only their floats.

// dst[0..n) = src[0..n).
TARGET static inline void copy_row(const float *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i + 8 <= n) { _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i)); i += 8; }
    if (i + 4 <= n) { _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i)); i += 4; }
    for (; i < n; i++) dst[i] = src[i];
}

// dst[0..n) = 0.
TARGET static inline void zero_row(float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
    if (i + 8 <= n) { _mm256_storeu_ps(dst + i, _mm256_setzero_ps()); i += 8; }
    if (i + 4 <= n) { _mm_storeu_ps(dst + i, _mm_setzero_ps()); i += 4; }
    for (; i < n; i++) dst[i] = 0;
}

// dst[0..n) += src[0..n) (col2im's row of one tap: each element one addition, as the Swift loop).
TARGET static inline void add_row(const float *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
    if (i + 8 <= n) { _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i))); i += 8; }
    if (i + 4 <= n) { _mm_storeu_ps(dst + i, _mm_add_ps(_mm_loadu_ps(dst + i), _mm_loadu_ps(src + i))); i += 4; }
    for (; i < n; i++) dst[i] += src[i];
}

// dst[0..n) = src[0], src[2], ..., src[2(n-1)], reading at most src[0 .. avail): 32 floats per 16
// outputs while they are inside, then one at a time.
TARGET static inline void copy_row_stride2(const float *src, float *dst, long n, long avail) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    long i = 0;
    for (; i + 16 <= n && 2 * i + 32 <= avail; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * i), even, _mm512_loadu_ps(src + 2 * i + 16)));
    for (; i < n; i++) dst[i] = src[2 * i];
}

TARGET static void im2col_avx512(const float *base, long wp, long channel_stride, long sample_stride, long kh, long kw,
                                 long stride, long dilation, long ho, long wo, long samples, long r0, long r1, float *col,
                                 long ld) {
    const long howo = ho * wo, row_step = stride * wp;
    for (long r = r0; r < r1; r++) {
        const long j = r % kw, i = (r / kw) % kh, ci = r / (kw * kh);
        const long offset = ci * channel_stride + i * dilation * wp + j * dilation, avail = wp - j * dilation;
        float *dst_row = col + (r - r0) * ld;
        for (long s = 0; s < samples; s++) {
            const float *from = base + s * sample_stride + offset;
            float *d = dst_row + s * howo;
            for (long oy = 0; oy < ho; oy++, from += row_step, d += wo) {
                if (stride == 1) copy_row(from, d, wo);
                else if (stride == 2) copy_row_stride2(from, d, wo, avail);
                else for (long ox = 0; ox < wo; ox++) d[ox] = from[ox * stride];
            }
        }
    }
}

// dst[0], dst[2], ..., dst[2(n-1)] += src[0..n) (col2im's row of a stride-2 tap), touching at most
// dst[0 .. avail): 16 sums per step from the even lanes of 32 floats, blended back into them, while
// the 32 floats are inside; then one at a time. Each element still gets one addition.
TARGET static inline void add_row_stride2(const float *src, float *dst, long n, long avail) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    // Lane l of the first 16 floats: the new sum l/2 (index 16 + l/2 of the second operand) when l is
    // even, else itself; of the next 16: the new sum 8 + l/2, else itself.
    const __m512i lo = _mm512_set_epi32(15, 23, 13, 22, 11, 21, 9, 20, 7, 19, 5, 18, 3, 17, 1, 16);
    const __m512i hi = _mm512_set_epi32(15, 31, 13, 30, 11, 29, 9, 28, 7, 27, 5, 26, 3, 25, 1, 24);
    long i = 0;
    for (; i + 16 <= n && 2 * i + 32 <= avail; i += 16) {
        __m512 a = _mm512_loadu_ps(dst + 2 * i), b = _mm512_loadu_ps(dst + 2 * i + 16);
        __m512 sums = _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_loadu_ps(src + i));
        _mm512_storeu_ps(dst + 2 * i, _mm512_permutex2var_ps(a, lo, sums));
        _mm512_storeu_ps(dst + 2 * i + 16, _mm512_permutex2var_ps(b, hi, sums));
    }
    for (; i < n; i++) dst[2 * i] += src[i];
}

TARGET static void col2im_avx512(const float *col, long ld, float *acc, long wp, long plane, long kh, long kw, long stride,
                                 long dilation, long ho, long wo) {
    zero_row(acc, plane);
    const long row_step = stride * wp;
    for (long i = 0; i < kh; i++) {
        for (long j = 0; j < kw; j++) {
            const float *s = col + (i * kw + j) * ld;
            float *d = acc + i * dilation * wp + j * dilation;
            for (long oy = 0; oy < ho; oy++, s += wo, d += row_step) {
                if (stride == 1) {
                    add_row(s, d, wo);
                } else if (stride == 2) {
                    add_row_stride2(s, d, wo, wp - j * dilation);
                } else {
                    for (long ox = 0; ox < wo; ox++) d[ox * stride] += s[ox];
                }
            }
        }
    }
}

TARGET static void pad_plane_avx512(const float *src, long h, long w, long p, float *dst) {
    const long wp = w + 2 * p;
    zero_row(dst, p * wp + p);
    for (long y = 0; y < h; y++) {
        float *row = dst + (y + p) * wp + p;
        copy_row(src + y * w, row, w);
        zero_row(row + w, 2 * p);                   // right pad, then the next row's left pad
    }
    zero_row(dst + (h + p) * wp + p, p * wp - p);
}
#endif

int cn_im2col(const float *base, long wp, long channel_stride, long sample_stride, long kh, long kw, long stride,
              long dilation, long ho, long wo, long samples, long r0, long r1, float *col, long ld) {
#if defined(__x86_64__) && defined(__clang__)
    if (cn_simd_level() < 2) return CN_E_UNSUPPORTED;
    if (kh <= 0 || kw <= 0 || stride <= 0 || dilation <= 0 || ho <= 0 || wo <= 0 || r0 < 0 || r1 < r0) return CN_E_ARG;
    im2col_avx512(base, wp, channel_stride, sample_stride, kh, kw, stride, dilation, ho, wo, samples, r0, r1, col, ld);
    return CN_OK;
#else
    (void)base; (void)wp; (void)channel_stride; (void)sample_stride; (void)kh; (void)kw; (void)stride; (void)dilation;
    (void)ho; (void)wo; (void)samples; (void)r0; (void)r1; (void)col; (void)ld;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_col2im_plane(const float *col, long ld, float *acc, long wp, long plane, long kh, long kw, long stride,
                    long dilation, long ho, long wo) {
#if defined(__x86_64__) && defined(__clang__)
    if (cn_simd_level() < 2) return CN_E_UNSUPPORTED;
    if (kh <= 0 || kw <= 0 || stride <= 0 || dilation <= 0 || ho <= 0 || wo <= 0) return CN_E_ARG;
    col2im_avx512(col, ld, acc, wp, plane, kh, kw, stride, dilation, ho, wo);
    return CN_OK;
#else
    (void)col; (void)ld; (void)acc; (void)wp; (void)plane; (void)kh; (void)kw; (void)stride; (void)dilation; (void)ho;
    (void)wo;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_pad_plane(const float *src, long h, long w, long p, float *dst) {
#if defined(__x86_64__) && defined(__clang__)
    if (cn_simd_level() < 2) return CN_E_UNSUPPORTED;
    if (h <= 0 || w <= 0 || p < 0) return CN_E_ARG;
    pad_plane_avx512(src, h, w, p, dst);
    return CN_OK;
#else
    (void)src; (void)h; (void)w; (void)p; (void)dst;
    return CN_E_UNSUPPORTED;
#endif
}
