// Body of the vector kernels in simd_kernels.c, compiled once per instruction set: VW floats per
// vector, names suffixed by SUF, every function built for TARGET (FMA contraction allowed there).
// Same formulas as Tensor's FastMath (Cephes expf, Abramowitz-Stegun 7.1.26 erf).
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(f) CAT(f, SUF)

#pragma clang attribute push(__attribute__((target(TARGET))), apply_to = function)

typedef float NAME(vf) __attribute__((ext_vector_type(VW)));
typedef int32_t NAME(vi) __attribute__((ext_vector_type(VW)));
typedef uint32_t NAME(vu) __attribute__((ext_vector_type(VW)));
#define VF NAME(vf)
#define VI NAME(vi)
#define VU NAME(vu)

static inline VF NAME(ld)(const float *p) { VF v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void NAME(st)(float *p, VF v) { __builtin_memcpy(p, &v, sizeof v); }
/// The first k < VW floats, zeros after.
static inline VF NAME(ldk)(const float *p, long k) { float b[VW] = {0}; for (long i = 0; i < k; i++) b[i] = p[i]; return NAME(ld)(b); }
static inline void NAME(stk)(float *p, VF v, long k) { float b[VW]; NAME(st)(b, v); for (long i = 0; i < k; i++) p[i] = b[i]; }

static inline VF NAME(vexp)(VF v) {
    const VF magic = 12582912.0f;
    VF t = v * 1.44269504088896341f + magic;
    VF n = t - magic;
    VI ni = (VI)t - 0x4B400000;
    VF x = v - n * 0.693359375f + n * 2.12194440e-4f;
    VF p = 1.9875691500e-4f;
    p = p * x + 1.3981999507e-3f;
    p = p * x + 8.3334519073e-3f;
    p = p * x + 4.1665795894e-2f;
    p = p * x + 1.6666665459e-1f;
    p = p * x + 5.0000001201e-1f;
    VF y = p * (x * x) + x + 1.0f;
    VI e = ni + 127;
    e = e & ~(e >> 31);
    VI d = e - 254;
    e = 254 + (d & (d >> 31));
    return y * (VF)(e << 23);
}

static inline VF NAME(verf)(VF v) {
    VU sign = (VU)v & 0x80000000u;
    VF a = (VF)((VU)v & 0x7FFFFFFFu);
    VF t = 1.0f / (a * 0.3275911f + 1.0f);
    VF r = 1.061405429f;
    r = r * t - 1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t - 0.284496736f;
    r = r * t + 0.254829592f;
    VF e = 1.0f - r * t * NAME(vexp)(-(a * a));
    return (VF)((VU)e | sign);
}

static inline VF NAME(gelu1)(VF v) { return 0.5f * v * (1.0f + NAME(verf)(v * 0.70710678118654752f)); }

static inline VF NAME(gelu_grad1)(VF v, VF g) {
    VF cdf = 0.5f * (1.0f + NAME(verf)(v * 0.70710678118654752f));
    VF pdf = NAME(vexp)(-0.5f * v * v) * 0.39894228040143268f;
    return g * (cdf + v * pdf);
}

static void NAME(gelu)(const float *x, float *y, long n) {
    long i = 0;
    for (; i + VW <= n; i += VW) NAME(st)(y + i, NAME(gelu1)(NAME(ld)(x + i)));
    if (i < n) NAME(stk)(y + i, NAME(gelu1)(NAME(ldk)(x + i, n - i)), n - i);
}

static void NAME(gelu_backward)(const float *g, const float *x, float *dx, long n) {
    long i = 0;
    for (; i + VW <= n; i += VW) NAME(st)(dx + i, NAME(gelu_grad1)(NAME(ld)(x + i), NAME(ld)(g + i)));
    if (i < n) NAME(stk)(dx + i, NAME(gelu_grad1)(NAME(ldk)(x + i, n - i), NAME(ldk)(g + i, n - i)), n - i);
}

/// Rows r0..<r0+G of softmax_rows, each row computed as on its own (the same operations in the same
/// order, so the same bits); G rows side by side so that their reductions' latency chains overlap.
static inline __attribute__((always_inline)) void NAME(softmax_group)(const float *x, float *y, long r0, long cols, long ld,
                                                                       float scale, const int G) {
    const float *s[4];
    float *d[4], m[4];
    VF mv[4], zv[4], sm[4], iz[4];
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) { s[g] = x + (r0 + g) * ld; d[g] = y + (r0 + g) * ld; m[g] = -__builtin_inff(); mv[g] = -__builtin_inff(); }
    long i = 0;
    for (; i + VW <= cols; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) mv[g] = __builtin_elementwise_max(mv[g], NAME(ld)(s[g] + i));
    }
    for (int l = 0; l < VW; l++) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) m[g] = mv[g][l] > m[g] ? mv[g][l] : m[g];
    }
    for (long t = i; t < cols; t++) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) m[g] = s[g][t] > m[g] ? s[g][t] : m[g];
    }
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) { sm[g] = scale * m[g]; zv[g] = 0; }
    for (i = 0; i + VW <= cols; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) { VF e = NAME(vexp)(scale * NAME(ld)(s[g] + i) - sm[g]); NAME(st)(d[g] + i, e); zv[g] += e; }
    }
    if (i < cols) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) {
            VF e = NAME(vexp)(scale * NAME(ldk)(s[g] + i, cols - i) - sm[g]);
            // Lanes past the row are exp(0 - sm) garbage: zero them before the sum.
            for (long l = cols - i; l < VW; l++) e[l] = 0;
            NAME(stk)(d[g] + i, e, cols - i);
            zv[g] += e;
        }
    }
    float z[4];
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) z[g] = 0;
    for (int l = 0; l < VW; l++) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) z[g] += zv[g][l];
    }
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) iz[g] = 1.0f / z[g];
    for (i = 0; i + VW <= cols; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) NAME(st)(d[g] + i, NAME(ld)(d[g] + i) * iz[g]);
    }
    if (i < cols) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) NAME(stk)(d[g] + i, NAME(ldk)(d[g] + i, cols - i) * iz[g], cols - i);
    }
}

/// y[r] = softmax(scale * x[r]) over `cols` for each of `rows` rows (rows `ld` floats apart, in place
/// allowed). Lane sums are combined in a fixed order: a row's bits depend only on the row.
static void NAME(softmax_rows)(const float *x, float *y, long rows, long cols, long ld, float scale) {
    long r = 0;
    for (; r + 4 <= rows; r += 4) NAME(softmax_group)(x, y, r, cols, ld, scale, 4);
    for (; r < rows; r++) NAME(softmax_group)(x, y, r, cols, ld, scale, 1);
}

/// Depthwise 3x3, stride 1, padding 1, channels last: output rows y0..<y1 of one sample,
/// y[oy][ox][c] = bias[c] + sum over taps (i, j) in order of w9[i*3+j][c] * x[oy+i-1][ox+j-1][c]
/// (taps outside the map skipped), then GELU if `gelu` (the value before it also to `pre` unless NULL).
/// x, y, pre: [h][w][c]; w9: [9][c]; bias may be NULL. Four vectors of channels at a time: four
/// independent chains of nine FMAs (one chain waited on each FMA's latency).
static void NAME(dw3x3_nhwc)(const float *x, const float *w9, const float *bias, float *y, float *pre,
                             long h, long w, long c, long y0, long y1, int gelu) {
    enum { Q = 4 };
    for (long oy = y0; oy < y1; oy++) {
        const long i0 = oy > 0 ? 0 : 1, i1 = oy + 1 < h ? 3 : 2;
        for (long ox = 0; ox < w; ox++) {
            const long j0 = ox > 0 ? 0 : 1, j1 = ox + 1 < w ? 3 : 2;
            const long o = (oy * w + ox) * c;
            const float *xb = x + ((oy - 1) * w + (ox - 1)) * c;      // tap (0, 0), read only in bounds
            long c0 = 0;
            for (; c0 + Q * VW <= c; c0 += Q * VW) {
                VF acc[Q];
                for (int q = 0; q < Q; q++) acc[q] = bias ? NAME(ld)(bias + c0 + q * VW) : (VF)0;
                for (long i = i0; i < i1; i++)
                    for (long j = j0; j < j1; j++) {
                        const float *wt = w9 + (i * 3 + j) * c + c0, *xt = xb + (i * w + j) * c + c0;
                        _Pragma("clang loop unroll(full)")
                        for (int q = 0; q < Q; q++) acc[q] += NAME(ld)(wt + q * VW) * NAME(ld)(xt + q * VW);
                    }
                _Pragma("clang loop unroll(full)")
                for (int q = 0; q < Q; q++) {
                    if (pre) NAME(st)(pre + o + c0 + q * VW, acc[q]);
                    NAME(st)(y + o + c0 + q * VW, gelu ? NAME(gelu1)(acc[q]) : acc[q]);
                }
            }
            for (; c0 < c; c0 += VW) {
                const long k = c - c0 < VW ? c - c0 : VW;
                VF acc = bias ? NAME(ldk)(bias + c0, k) : (VF)0;
                for (long i = i0; i < i1; i++)
                    for (long j = j0; j < j1; j++)
                        acc += NAME(ldk)(w9 + (i * 3 + j) * c + c0, k) * NAME(ldk)(xb + (i * w + j) * c + c0, k);
                if (pre) NAME(stk)(pre + o + c0, acc, k);
                if (gelu) acc = NAME(gelu1)(acc);
                NAME(stk)(y + o + c0, acc, k);
            }
        }
    }
}

/// Weight and bias gradient partials of dw3x3_nhwc over output rows y0..<y1 of one sample:
/// part[t][c] = sum dy[oy][ox][c] * x[oy+i-1][ox+j-1][c] (t = i*3+j), part[9][c] = sum dy. Each
/// row's sums are kept in registers (ox order), then added to part in row order. part: [10][c],
/// overwritten.
static void NAME(dw3x3_nhwc_wgrad)(const float *x, const float *dy, float *part, long h, long w, long c, long y0, long y1) {
    for (long i = 0; i < 10 * c; i++) part[i] = 0;
    for (long oy = y0; oy < y1; oy++) {
        long i0 = oy > 0 ? 0 : 1, i1 = oy + 1 < h ? 3 : 2;
        for (long c0 = 0; c0 < c; c0 += VW) {
            long kk = c - c0 < VW ? c - c0 : VW;
            VF a[10];
            for (int t = 0; t < 10; t++) a[t] = 0;
            for (long ox = 0; ox < w; ox++) {
                long j0 = ox > 0 ? 0 : 1, j1 = ox + 1 < w ? 3 : 2;
                long base = ((oy - 1) * w + (ox - 1)) * c + c0;
                const float *g = dy + (oy * w + ox) * c + c0;
                VF gv = kk == VW ? NAME(ld)(g) : NAME(ldk)(g, kk);
                for (long i = i0; i < i1; i++)
                    for (long j = j0; j < j1; j++) {
                        const float *src = x + (base + (i * w + j) * c);
                        a[i * 3 + j] += gv * (kk == VW ? NAME(ld)(src) : NAME(ldk)(src, kk));
                    }
                a[9] += gv;
            }
            for (int t = 0; t < 10; t++) {
                float *pt = part + t * c + c0;
                if (kk == VW) NAME(st)(pt, NAME(ld)(pt) + a[t]); else NAME(stk)(pt, NAME(ldk)(pt, kk) + a[t], kk);
            }
        }
    }
}

static inline float NAME(hsum)(VF v) { float t = 0; for (int l = 0; l < VW; l++) t += v[l]; return t; }
/// Lanes k..<VW set to zero.
static inline VF NAME(keep)(VF v, long k) { for (long l = k; l < VW; l++) v[l] = 0; return v; }

/// Rows r0..<r0+G of layernorm_rows, each computed as on its own (the same operations in the same
/// order, so the same bits); G rows side by side so that their sums' and divisions' latency chains
/// overlap (a MiT stage-1 row is four vectors: one row at a time waited on its reductions).
static inline __attribute__((always_inline)) void NAME(layernorm_group)(const float *x, const float *gamma, const float *beta,
                                                                         float *y, float *mean, float *invstd, long r0, long d,
                                                                         float eps, const int G) {
    const float *s[4];
    float *o[4], mu[4], iv[4];
    VF acc[4], acc2[4];
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) { s[g] = x + (r0 + g) * d; o[g] = y + (r0 + g) * d; acc[g] = 0; acc2[g] = 0; }
    long i = 0;
    for (; i + VW <= d; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) acc[g] += NAME(ld)(s[g] + i);
    }
    if (i < d) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) acc[g] += NAME(ldk)(s[g] + i, d - i);
    }
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) mu[g] = (float)((double)NAME(hsum)(acc[g]) / (double)d);
    for (i = 0; i + VW <= d; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) { VF t = NAME(ld)(s[g] + i) - mu[g]; acc2[g] += t * t; }
    }
    if (i < d) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++) { VF t = NAME(keep)(NAME(ldk)(s[g] + i, d - i) - mu[g], d - i); acc2[g] += t * t; }
    }
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < G; g++) {
        double var = (double)NAME(hsum)(acc2[g]) / (double)d;
        iv[g] = (float)(1.0 / __builtin_sqrt(var + (double)eps));
        mean[r0 + g] = mu[g]; invstd[r0 + g] = iv[g];
    }
    for (i = 0; i + VW <= d; i += VW) {
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++)
            NAME(st)(o[g] + i, (NAME(ld)(s[g] + i) - mu[g]) * iv[g] * NAME(ld)(gamma + i) + NAME(ld)(beta + i));
    }
    if (i < d) {
        long k = d - i;
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < G; g++)
            NAME(stk)(o[g] + i, (NAME(ldk)(s[g] + i, k) - mu[g]) * iv[g] * NAME(ldk)(gamma + i, k) + NAME(ldk)(beta + i, k), k);
    }
}

/// Layer norm over rows of d floats: y = (x - mean) * invstd * gamma + beta; mean and invstd per
/// row written out. Sums in fixed lane order, mean and variance finished in double.
static void NAME(layernorm_rows)(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                                 float *invstd, long rows, long d, float eps) {
    long r = 0;
    for (; r + 4 <= rows; r += 4) NAME(layernorm_group)(x, gamma, beta, y, mean, invstd, r, d, eps, 4);
    for (; r < rows; r++) NAME(layernorm_group)(x, gamma, beta, y, mean, invstd, r, d, eps, 1);
}

/// Layer norm backward over rows: adds dy * xhat and dy into the partials pg, pb [d] (row order),
/// and if dx is not NULL writes dx = invstd * (dy * gamma - mean(dy * gamma) - xhat * mean(dy * gamma * xhat)).
static void NAME(layernorm_backward_rows)(const float *x, const float *dy, const float *mean, const float *invstd,
                                          const float *gamma, float *dx, float *pg, float *pb, long rows, long d) {
    for (long r = 0; r < rows; r++) {
        const float *s = x + r * d, *g = dy + r * d;
        float mu = mean[r], iv = invstd[r];
        VF sdh = 0, sdhx = 0;
        long i = 0;
        for (; i + VW <= d; i += VW) {
            VF gv = NAME(ld)(g + i), xh = (NAME(ld)(s + i) - mu) * iv;
            NAME(st)(pg + i, NAME(ld)(pg + i) + gv * xh);
            NAME(st)(pb + i, NAME(ld)(pb + i) + gv);
            VF dh = gv * NAME(ld)(gamma + i);
            sdh += dh; sdhx += dh * xh;
        }
        if (i < d) {
            long k = d - i;
            VF gv = NAME(ldk)(g + i, k), xh = NAME(keep)((NAME(ldk)(s + i, k) - mu) * iv, k);
            NAME(stk)(pg + i, NAME(ldk)(pg + i, k) + gv * xh, k);
            NAME(stk)(pb + i, NAME(ldk)(pb + i, k) + gv, k);
            VF dh = gv * NAME(ldk)(gamma + i, k);
            sdh += dh; sdhx += dh * xh;
        }
        if (!dx) continue;
        float *o = dx + r * d;
        VF a = NAME(hsum)(sdh) / (float)d, c = NAME(hsum)(sdhx) / (float)d;
        for (i = 0; i + VW <= d; i += VW) {
            VF gv = NAME(ld)(g + i), xh = (NAME(ld)(s + i) - mu) * iv;
            NAME(st)(o + i, iv * (gv * NAME(ld)(gamma + i) - a - xh * c));
        }
        if (i < d) {
            long k = d - i;
            VF gv = NAME(ldk)(g + i, k), xh = (NAME(ldk)(s + i, k) - mu) * iv;
            NAME(stk)(o + i, iv * (gv * NAME(ldk)(gamma + i, k) - a - xh * c), k);
        }
    }
}

#pragma clang attribute pop
#undef VF
#undef VI
#undef VU
