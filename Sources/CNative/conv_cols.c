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

// ---- A tap's rectangle of small planes (the atrous convs, Models/AtrousConv.swift) ----
// Rows of 2-4 floats (a dilated 3x3 on the demo's 4 x 4 and 6 x 6 maps) cost a row loop's bookkeeping
// per row. Instead each plane's rectangle is read in windows of 16 floats that stay inside the
// plane (a window past the plane's end starts at its last 16 floats), and the window's tap pixels
// are moved together in registers (compress for the gather, expand and a lane-masked add for the
// adjoint; no masked loads or stores, see above). The same values and, for the adjoint, one
// addition per element, as the row loops: the same bits.

#define TAP_MAX_WINDOWS 8

// Window starts and lane masks of a rectangle (rows x cols at `first`, rows w apart) in planes of hw
// >= 16 floats; the windows cover consecutive 16-float stretches of the rectangle's span, so each
// pixel is in exactly one mask, in row-major order. Returns the window count, 0 if over the limit.
static int tap_windows(long hw, long first, long rows, long cols, long w, long *start, __mmask16 *mask) {
    long span = (rows - 1) * w + cols, count = (span + 15) / 16;
    if (count > TAP_MAX_WINDOWS) return 0;
    for (long j = 0; j < count; j++) {
        long nominal = first + 16 * j;
        start[j] = nominal + 16 <= hw ? nominal : hw - 16;
        mask[j] = 0;
    }
    for (long r = 0; r < rows; r++) {
        for (long q = 0; q < cols; q++) {
            long e = first + r * w + q, j = (e - first) / 16;
            mask[j] |= (__mmask16)(1u << (e - start[j]));
        }
    }
    return (int)count;
}

// dst[0..k) = the first k lanes of v (k <= 16), in 8-, 4-, 2- and 1-float stores.
TARGET static inline void store_lanes(float *dst, __m512 v, int k) {
    if (k == 16) { _mm512_storeu_ps(dst, v); return; }
    __m512i x = _mm512_castps_si512(v);
    const __m512i z = _mm512_setzero_si512();
    if (k & 8) { _mm256_storeu_ps(dst, _mm512_castps512_ps256(_mm512_castsi512_ps(x))); x = _mm512_alignr_epi32(z, x, 8); dst += 8; }
    if (k & 4) { _mm_storeu_ps(dst, _mm512_castps512_ps128(_mm512_castsi512_ps(x))); x = _mm512_alignr_epi32(z, x, 4); dst += 4; }
    if (k & 2) { _mm_storel_pi((__m64 *)dst, _mm512_castps512_ps128(_mm512_castsi512_ps(x))); x = _mm512_alignr_epi32(z, x, 2); dst += 2; }
    if (k & 1) _mm_store_ss(dst, _mm512_castps512_ps128(_mm512_castsi512_ps(x)));
}

// Lanes [0, k) from src[0..k), the others 0, reading only those k floats.
TARGET static inline __m512 load_lanes(const float *src, int k) {
    if (k == 16) return _mm512_loadu_ps(src);
    float tmp[16] = {0};
    for (int i = 0; i < k; i++) tmp[i] = src[i];
    return _mm512_loadu_ps(tmp);
}

TARGET static void tap_gather_avx512(const float *src, long hw, long c, long c0, long c1, long n, long p, int count,
                                     const long *start, const __mmask16 *mask, float *dst, long ld) {
    int k[TAP_MAX_WINDOWS];
    for (int j = 0; j < count; j++) k[j] = __builtin_popcount(mask[j]);
    for (long ci = c0; ci < c1; ci++) {
        float *row = dst + ci * ld, *rowEnd = row + n * p;
        for (long s = 0; s < n; s++) {
            const float *plane = src + (s * c + ci) * hw;
            float *out = row + s * p;
            for (int j = 0; j < count; j++) {
                __m512 v = _mm512_maskz_compress_ps(mask[j], _mm512_loadu_ps(plane + start[j]));
                // A whole 16-float store where its tail lands on this row's later outputs (written after).
                if (out + 16 <= rowEnd) _mm512_storeu_ps(out, v); else store_lanes(out, v, k[j]);
                out += k[j];
            }
        }
    }
}

TARGET static void tap_scatter_add_avx512(const float *src, long hw, long c, long c0, long c1, long n, long p, int count,
                                          const long *start, const __mmask16 *mask, float *dst, long ld) {
    int k[TAP_MAX_WINDOWS];
    for (int j = 0; j < count; j++) k[j] = __builtin_popcount(mask[j]);
    for (long ci = c0; ci < c1; ci++) {
        const float *row = src + ci * ld, *rowEnd = row + n * p;
        for (long s = 0; s < n; s++) {
            float *plane = dst + (s * c + ci) * hw;
            const float *in = row + s * p;
            for (int j = 0; j < count; j++) {
                __m512 vals = in + 16 <= rowEnd ? _mm512_loadu_ps(in) : load_lanes(in, k[j]);
                __m512 acc = _mm512_loadu_ps(plane + start[j]);
                acc = _mm512_mask_add_ps(acc, mask[j], acc, _mm512_maskz_expand_ps(mask[j], vals));
                _mm512_storeu_ps(plane + start[j], acc);
                in += k[j];
            }
        }
    }
}
#endif

int cn_tap_copy(int adjoint, const float *src, long hw, long c, long c0, long c1, long n, long first, long rows, long cols,
                long w, float *dst, long ld) {
#if defined(__x86_64__) && defined(__clang__)
    if (cn_simd_level() < 2) return CN_E_UNSUPPORTED;
    if (hw < 16 || rows <= 0 || cols <= 0 || cols > w || first < 0 || first + (rows - 1) * w + cols > hw || c0 < 0 ||
        c1 > c || n <= 0) return CN_E_ARG;
    long start[TAP_MAX_WINDOWS];
    __mmask16 mask[TAP_MAX_WINDOWS];
    int count = tap_windows(hw, first, rows, cols, w, start, mask);
    if (count == 0) return CN_E_UNSUPPORTED;
    if (adjoint) tap_scatter_add_avx512(src, hw, c, c0, c1, n, rows * cols, count, start, mask, dst, ld);
    else tap_gather_avx512(src, hw, c, c0, c1, n, rows * cols, count, start, mask, dst, ld);
    return CN_OK;
#else
    (void)adjoint; (void)src; (void)hw; (void)c; (void)c0; (void)c1; (void)n; (void)first; (void)rows; (void)cols; (void)w;
    (void)dst; (void)ld;
    return CN_E_UNSUPPORTED;
#endif
}

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
