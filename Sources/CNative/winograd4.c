// Winograd F(4x4, 3x3) input and output transforms on AVX-512, sixteen 4x4-output tiles per vector,
// for the inference path of Tensor's Winograd4.swift when dcot's own GEMM runs (gemm_avx512.c).
// The input transform writes V = B^T d B straight into the GEMM's packed-B layout, so the 36 products
// pack neither operand (the filters are packed once, cn_sgemm_pack_a).
//
// Each value gets the operations of Winograd4.swift's one-tile and eight-tile paths in the same
// order (B^T down the patch's columns, then along its rows; A^T likewise, then + bias, then ReLU as
// "x < 0 -> 0"), with no contraction into FMAs, so both give the same bits (a test compares them).
#include "CNative.h"

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#include <string.h>
#pragma clang fp contract(off)

#define TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

// The six values of B^T r (Winograd4.swift's bt6).
TARGET static inline void bt6(const __m512 r[6], __m512 out[6]) {
    const __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
    __m512 a = _mm512_sub_ps(r[4], _mm512_mul_ps(four, r[2])), b = _mm512_sub_ps(r[3], _mm512_mul_ps(four, r[1]));
    __m512 c = _mm512_sub_ps(r[4], r[2]), d = _mm512_mul_ps(two, _mm512_sub_ps(r[3], r[1]));
    out[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, r[0]), _mm512_mul_ps(five, r[2])), r[4]);
    out[1] = _mm512_add_ps(a, b);
    out[2] = _mm512_sub_ps(a, b);
    out[3] = _mm512_add_ps(c, d);
    out[4] = _mm512_sub_ps(c, d);
    out[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, r[1]), _mm512_mul_ps(five, r[3])), r[5]);
}

// Lane l of d[j] := row[base + 4l + j] for j in 0..5 (zero where base + 4l + j is outside [0, w)).
TARGET static inline void deinterleave(const float *row, long base, long w, __m512 d[6]) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512 e[5];
    for (int v = 0; v < 5; v++) {
        long x0 = base + 16 * v;
        __mmask16 m;
        if (x0 >= 0 && x0 + 16 <= w) m = 0xFFFF;
        else if (x0 >= w || x0 + 16 <= 0) m = 0;
        else {
            __m512i xs = _mm512_add_epi32(_mm512_set1_epi32((int)x0), iota);
            m = _mm512_cmpge_epi32_mask(xs, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(xs, _mm512_set1_epi32((int)w));
        }
        e[v] = m ? _mm512_maskz_loadu_ps(m, row + x0) : _mm512_setzero_ps();
    }
    for (int j = 0; j < 4; j++) {
        // Elements 4l + j of e0|e1 (l = 0..7) and of e2|e3.
        const __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(iota, 2), _mm512_set1_epi32(j));
        __m512 lo = _mm512_permutex2var_ps(e[0], idx, e[1]), hi = _mm512_permutex2var_ps(e[2], idx, e[3]);
        d[j] = _mm512_shuffle_f32x4(lo, hi, 0x44);
    }
    // d4[l] = d0[l + 1], d5[l] = d1[l + 1]; lane 15 takes e4's elements 0 and 1.
    const __m512i up = _mm512_add_epi32(iota, _mm512_set1_epi32(1));
    d[4] = _mm512_permutex2var_ps(d[0], up, e[4]);
    d[5] = _mm512_permutex2var_ps(d[1], _mm512_mask_mov_epi32(up, 0x8000, _mm512_set1_epi32(17)), e[4]);
}

TARGET static void input_channels(const float *x, long ns, long c, long h, long w, long pad, long th, long tw, long o,
                                  float *v, long c0, long c1) {
    const long t = ns * th * tw, tps = th * tw;
    const long nr = cn_sgemm_tile_cols(o), kcb = cn_sgemm_kc(), tpad = (t + nr - 1) / nr * nr;
    const long plane = tpad * c;
    for (long ch = c0; ch < c1; ch++) {
        const long p0 = ch / kcb * kcb, kc = c - p0 < kcb ? c - p0 : kcb;
        // Offset of (ch, tile T) in every plane: T's panel, then ch's row in it.
        const long chOff = p0 * tpad + (ch - p0) * nr;
        for (long t0 = 0; t0 < t; t0 += 16) {
            // The group's tiles as row segments (consecutive tiles of one tile row): lanes, sample, tile row, column.
            struct { long lane, cnt, s, ty, tx; } seg[16];
            int nseg = 0;
            for (long lane = 0; lane < 16 && t0 + lane < t;) {
                long tt = t0 + lane, s = tt / tps, rem = tt - s * tps, ty = rem / tw, tx = rem - ty * tw;
                long cnt = tw - tx;
                if (cnt > 16 - lane) cnt = 16 - lane;
                if (cnt > t - tt) cnt = t - tt;
                seg[nseg].lane = lane; seg[nseg].cnt = cnt; seg[nseg].s = s; seg[nseg].ty = ty; seg[nseg].tx = tx;
                nseg++;
                lane += cnt;
            }
            __m512 r[6][6];                                   // r[i][j]: patch row i, column j, 16 tiles
            for (int i = 0; i < 6; i++) {
                __m512 row[6];
                for (int j = 0; j < 6; j++) row[j] = _mm512_setzero_ps();
                for (int g = 0; g < nseg; g++) {
                    long iy = 4 * seg[g].ty - pad + i;
                    if (iy < 0 || iy >= h) continue;
                    __m512 d[6];
                    // x of lane 0's column 0: the segment's first tile sits in lane seg[g].lane.
                    deinterleave(x + ((seg[g].s * c + ch) * h + iy) * w, 4 * seg[g].tx - pad - 4 * seg[g].lane, w, d);
                    if (seg[g].cnt == 16)
                        for (int j = 0; j < 6; j++) row[j] = d[j];
                    else {
                        __mmask16 m = (__mmask16)(((1u << seg[g].cnt) - 1) << seg[g].lane);
                        for (int j = 0; j < 6; j++) row[j] = _mm512_mask_mov_ps(row[j], m, d[j]);
                    }
                }
                for (int j = 0; j < 6; j++) r[i][j] = row[j];
            }
            __m512 cols[6][6];                                // (B^T d)[i][j]
            for (int j = 0; j < 6; j++) {
                __m512 col[6] = {r[0][j], r[1][j], r[2][j], r[3][j], r[4][j], r[5][j]}, q[6];
                bt6(col, q);
                for (int i = 0; i < 6; i++) cols[i][j] = q[i];
            }
            float *dst = v + chOff + (t0 / nr) * kc * nr + t0 % nr;
            for (int i = 0; i < 6; i++) {
                __m512 q[6];
                bt6(cols[i], q);
                for (int k = 0; k < 6; k++) _mm512_storeu_ps(dst + (6 * i + k) * plane, q[k]);
            }
        }
        // Columns past the last group, to the end of the last panel: zeros, which the GEMM reads.
        long done = (t + 15) / 16 * 16;
        if (done < tpad)
            for (int k = 0; k < 36; k++)
                memset(v + k * plane + chOff + (done / nr) * kc * nr + done % nr, 0, sizeof(float) * (size_t)(tpad - done));
    }
}

TARGET static void output_planes(const float *m, long ns, long o, long ho, long wo, long th, long tw, const float *bias,
                                 int relu, float *y, long q0, long q1) {
    const long t = ns * th * tw, tps = th * tw, ot = o * t;
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8), zero = _mm512_setzero_ps();
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    // Interleaving four vectors o0..o3 into 64 floats f[4l + j] = oj[l]: pairs first, then pairs of pairs.
    const __m512i pairLo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i pairHi = _mm512_add_epi32(pairLo, _mm512_set1_epi32(8));
    const __m512i quadLo = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    const __m512i quadHi = _mm512_add_epi32(quadLo, _mm512_set1_epi32(8));
    // The planes are (output channel oc) x (16-tile group): q = oc * groups + group.
    const long groups = (t + 15) / 16;
    for (long q = q0; q < q1; q++) {
        const long oc = q / groups, t0 = (q - oc * groups) * 16;
        const __m512 b = _mm512_set1_ps(bias ? bias[oc] : 0);
        const long valid = t - t0 < 16 ? t - t0 : 16;
        const __mmask16 lm = valid == 16 ? 0xFFFF : (__mmask16)((1u << valid) - 1);
        const float *base = m + oc * t + t0;
        __m512 rows[4][6];                                    // (A^T M)[i][j]
        for (int j = 0; j < 6; j++) {
            __m512 mm[6];
            for (int i = 0; i < 6; i++) mm[i] = _mm512_maskz_loadu_ps(lm, base + (6 * i + j) * ot);
            __m512 a = _mm512_add_ps(mm[1], mm[2]), bb = _mm512_sub_ps(mm[1], mm[2]);
            __m512 cc = _mm512_add_ps(mm[3], mm[4]), d = _mm512_sub_ps(mm[3], mm[4]);
            rows[0][j] = _mm512_add_ps(_mm512_add_ps(mm[0], a), cc);
            rows[1][j] = _mm512_add_ps(bb, _mm512_mul_ps(two, d));
            rows[2][j] = _mm512_add_ps(a, _mm512_mul_ps(four, cc));
            rows[3][j] = _mm512_add_ps(_mm512_add_ps(bb, _mm512_mul_ps(eight, d)), mm[5]);
        }
        for (int i = 0; i < 4; i++) {
            const __m512 *u = rows[i];
            __m512 a = _mm512_add_ps(u[1], u[2]), bb = _mm512_sub_ps(u[1], u[2]);
            __m512 cc = _mm512_add_ps(u[3], u[4]), d = _mm512_sub_ps(u[3], u[4]);
            __m512 out[4] = {
                _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(u[0], a), cc), b),
                _mm512_add_ps(_mm512_add_ps(bb, _mm512_mul_ps(two, d)), b),
                _mm512_add_ps(_mm512_add_ps(a, _mm512_mul_ps(four, cc)), b),
                _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(bb, _mm512_mul_ps(eight, d)), u[5]), b),
            };
            if (relu)
                for (int jj = 0; jj < 4; jj++) out[jj] = _mm512_mask_mov_ps(out[jj], _mm512_cmp_ps_mask(out[jj], zero, _CMP_LT_OQ), zero);
            __m512 p01lo = _mm512_permutex2var_ps(out[0], pairLo, out[1]), p01hi = _mm512_permutex2var_ps(out[0], pairHi, out[1]);
            __m512 p23lo = _mm512_permutex2var_ps(out[2], pairLo, out[3]), p23hi = _mm512_permutex2var_ps(out[2], pairHi, out[3]);
            __m512 f[4] = {_mm512_permutex2var_ps(p01lo, quadLo, p23lo), _mm512_permutex2var_ps(p01lo, quadHi, p23lo),
                           _mm512_permutex2var_ps(p01hi, quadLo, p23hi), _mm512_permutex2var_ps(p01hi, quadHi, p23hi)};
            // Store f's 4 x 4 values per tile, one row segment of tiles at a time.
            long lane = 0;
            while (lane < valid) {
                long tt = t0 + lane, s = tt / tps, rem = tt - s * tps, ty = rem / tw, tx = rem - ty * tw;
                long cnt = tw - tx;
                if (cnt > valid - lane) cnt = valid - lane;
                long oy = 4 * ty + i;
                if (oy < ho) {
                    float *row = y + ((s * o + oc) * ho + oy) * wo;
                    long x0 = 4 * tx - 4 * lane;              // x of f's element 0
                    for (int vv = 0; vv < 4; vv++) {
                        long e0 = 16 * vv;                    // f[vv] holds elements e0 .. e0 + 15
                        long lo = 4 * lane > e0 ? 4 * lane : e0, hi = 4 * (lane + cnt) < e0 + 16 ? 4 * (lane + cnt) : e0 + 16;
                        if (x0 + hi > wo) hi = wo - x0;
                        if (hi <= lo) continue;
                        __m512i es = _mm512_add_epi32(_mm512_set1_epi32((int)e0), iota);
                        __mmask16 sm = _mm512_cmpge_epi32_mask(es, _mm512_set1_epi32((int)lo)) &
                                       _mm512_cmplt_epi32_mask(es, _mm512_set1_epi32((int)hi));
                        _mm512_mask_storeu_ps(row + x0 + e0, sm, f[vv]);
                    }
                }
                lane += cnt;
            }
        }
    }
}
#endif

// G g G^T for filters [i0, i1) of w (9 taps each), sixteen filters per vector: Winograd4.swift's
// winograd4Filter (g6 down the filter's columns, then along the rows of G g), the same operations
// in the same order; negation flips the sign bit as Swift's prefix minus does.
#if defined(__x86_64__) && defined(__clang__)
TARGET static inline void g6(__m512 a, __m512 b, __m512 c, __m512 out[6]) {
    const __m512 quarter = _mm512_set1_ps(0.25f), r6 = _mm512_set1_ps(1.0f / 6.0f);
    const __m512 r12 = _mm512_set1_ps(1.0f / 12.0f), r24 = _mm512_set1_ps(1.0f / 24.0f);
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
    out[0] = _mm512_mul_ps(a, quarter);
    out[1] = _mm512_mul_ps(_mm512_xor_ps(_mm512_add_ps(_mm512_add_ps(a, b), c), sign), r6);
    out[2] = _mm512_mul_ps(_mm512_xor_ps(_mm512_add_ps(_mm512_sub_ps(a, b), c), sign), r6);
    __m512 a24 = _mm512_mul_ps(a, r24), b12 = _mm512_mul_ps(b, r12), c6 = _mm512_mul_ps(c, r6);
    out[3] = _mm512_add_ps(_mm512_add_ps(a24, b12), c6);
    out[4] = _mm512_add_ps(_mm512_sub_ps(a24, b12), c6);
    out[5] = c;
}

TARGET static void filters(const float *w, long oc, float *u, long i0, long i1) {
    const __m512i nine = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(9));
    for (long i = i0; i < i1; i += 16) {
        long lanes = i1 - i < 16 ? i1 - i : 16;
        __mmask16 m = (__mmask16)((1u << lanes) - 1u);
        __m512 tap[9];
        for (int j = 0; j < 9; j++)
            tap[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, nine, w + i * 9 + j, 4);
        __m512 col[3][6];
        g6(tap[0], tap[3], tap[6], col[0]);
        g6(tap[1], tap[4], tap[7], col[1]);
        g6(tap[2], tap[5], tap[8], col[2]);
        for (int r = 0; r < 6; r++) {
            __m512 vals[6];
            g6(col[0][r], col[1][r], col[2][r], vals);
            for (int k = 0; k < 6; k++) _mm512_mask_storeu_ps(u + (6 * r + k) * oc + i, m, vals[k]);
        }
    }
}
#endif

int cn_winograd4_filter(const float *w, long oc, float *u, long i0, long i1) {
#if defined(__x86_64__) && defined(__clang__)
    if (oc < 1 || i0 < 0 || i1 > oc || i0 > i1) return CN_E_ARG;
    filters(w, oc, u, i0, i1);
    return CN_OK;
#else
    (void)w; (void)oc; (void)u; (void)i0; (void)i1;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_winograd4_input(const float *x, long ns, long c, long h, long w, long pad, long th, long tw, long o, float *v,
                       long c0, long c1) {
#if defined(__x86_64__) && defined(__clang__)
    if (ns < 1 || c < 1 || th < 1 || tw < 1 || c0 < 0 || c1 > c) return CN_E_ARG;
    input_channels(x, ns, c, h, w, pad, th, tw, o, v, c0, c1);
    return CN_OK;
#else
    (void)x; (void)ns; (void)c; (void)h; (void)w; (void)pad; (void)th; (void)tw; (void)o; (void)v; (void)c0; (void)c1;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_winograd4_output(const float *m, long ns, long o, long ho, long wo, long th, long tw, const float *bias, int relu,
                        float *y, long q0, long q1) {
#if defined(__x86_64__) && defined(__clang__)
    if (ns < 1 || o < 1 || q0 < 0 || q1 > o * ((ns * th * tw + 15) / 16)) return CN_E_ARG;
    output_planes(m, ns, o, ho, wo, th, tw, bias, relu, y, q0, q1);
    return CN_OK;
#else
    (void)m; (void)ns; (void)o; (void)ho; (void)wo; (void)th; (void)tw; (void)bias; (void)relu; (void)y; (void)q0; (void)q1;
    return CN_E_UNSUPPORTED;
#endif
}
