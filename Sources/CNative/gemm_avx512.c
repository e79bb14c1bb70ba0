// Single-precision GEMM for CPUs with AVX-512 (row-major, all four transposes):
//   C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C
// For machines whose OpenBLAS runs AVX2 kernels on an AVX-512 CPU (Gemm.swift decides): on an AMD
// EPYC Zen 5 with OPENBLAS_CORETYPE=Haswell (set there because older OpenBLAS builds misbehave on
// such CPUs), OpenBLAS ran ResNet-50's conv GEMMs at 113-134 GFLOP/s on one thread, against a
// 286 GFLOP/s AVX-512 FMA peak (143 for AVX2); this code runs them at 150-257.
//
// The layout is the usual one of packed GEMMs (Goto & van de Geijn, "Anatomy of High-Performance
// Matrix Multiplication", 2008): op(B) is packed in KC x NR column panels, op(A) in MR x KC row
// panels, and a register tile of 24 accumulators (12 x 32, or 8 x 48 for products of at most 96
// rows, where 12-row panels would be partly empty) is summed over one KC block, k in order, then
// added to C. Every element of C is thus computed by the same operations in the same order
// whatever its tile's shape and position, the block sizes of the caller's thread split or the
// thread count: its K is cut at multiples of KC only, and its partial sums are added to C in K order.
// (One thread, products of 24-64 rows: 8 x 48 ran 5-20 % faster than 12 x 32; with 128 rows and
// more, 12 x 32 ran up to 10 % faster.) Products of at most 96 rows read an untransposed op(B) in
// place, panel by panel, instead of packing it (the same values in the same order, so the same bits).
// op(A) is read in place too, transposed or not (a tile's MR values of one k are MR row starts lda
// apart, or MR consecutive floats): only a last partial MR-row panel is packed. One thread, Zen 5,
// against packing it: the transformer's linear layers gained most (tokens x 64 x 256: 165-194 ->
// 274-275 GFLOP/s; tokens x 64 x 64 and 128 x 128: +12-24 %; 256 x 72 x 2304, a Winograd product of
// few tiles, +9-16 %), the conv shapes -2 to +9 %.
#include "CNative.h"
#include <stdlib.h>
#include <pthread.h>

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
// KC: the K block (fixes each element's sums); MC, NC: the A and B blocks packed at a time (MC a
// multiple of both tiles' rows, NC of both tiles' columns).
enum { KC = 256, MC = 120, NC = 3072 };

// Per-thread packing buffers, allocated on a thread's first GEMM and freed when it exits.
typedef struct { float *a, *b; } pack_buffers;
static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static void free_buffers(void *p) {
    pack_buffers *pb = p;
    free(pb->a);
    free(pb->b);
    free(pb);
}
static void make_key(void) { pthread_key_create(&buffers_key, free_buffers); }

static pack_buffers *buffers(void) {
    pthread_once(&buffers_once, make_key);
    pack_buffers *pb = pthread_getspecific(buffers_key);
    if (pb) return pb;
    pb = malloc(sizeof *pb);
    if (!pb) return NULL;
    pb->a = aligned_alloc(64, sizeof(float) * MC * KC);
    pb->b = aligned_alloc(64, sizeof(float) * KC * NC);
    if (!pb->a || !pb->b) { free_buffers(pb); return NULL; }
    pthread_setspecific(buffers_key, pb);
    return pb;
}

static inline __mmask16 lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

// r[0..15] := its transpose (r[i][j] -> r[j][i]).
TARGET static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int j = 0; j < 4; j++) {
        __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE);
        __m512 y0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), y1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
}

// Packs op(B)[p0 .. p0+kc) x [j0 .. j0+nc) into panels of NR columns: panel q holds
// dst[q*kc*NR + kk*NR + j] = op(B)[p0+kk][j0+q*NR+j], zeros past nc.
TARGET __attribute__((noinline)) static void pack_b(int trans, const float *b, long ldb, long p0, long j0, long kc, long nc, int nv, float *dst) {
    const long NR = 16 * nv;
    for (long q = 0; q * NR < nc; q++) {
        long cols = nc - q * NR < NR ? nc - q * NR : NR;
        float *d = dst + q * kc * NR;
        if (!trans) {
            const float *s = b + p0 * ldb + j0 + q * NR;
            for (long kk = 0; kk < kc; kk++, s += ldb, d += NR)
                for (int v = 0; v < nv; v++) _mm512_store_ps(d + 16 * v, _mm512_maskz_loadu_ps(lanes(cols - 16 * v), s + 16 * v));
        } else {
            // op(B)[kk][j] = b[j*ldb + kk]: 16 x 16 blocks through the transpose.
            for (long kk0 = 0; kk0 < kc; kk0 += 16) {
                __mmask16 mk = lanes(kc - kk0);
                long rows = kc - kk0 < 16 ? kc - kk0 : 16;
                for (int half = 0; half < nv; half++) {
                    __m512 r[16];
                    for (int j = 0; j < 16; j++) {
                        long col = q * NR + half * 16 + j;
                        r[j] = half * 16 + j < cols ? _mm512_maskz_loadu_ps(mk, b + (j0 + col) * ldb + p0 + kk0) : _mm512_setzero_ps();
                    }
                    transpose16(r);
                    for (long i = 0; i < rows; i++) _mm512_store_ps(d + (kk0 + i) * NR + half * 16, r[i]);
                }
            }
        }
    }
}

// Packs op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into panels of MR rows: panel q holds
// dst[q*kc*MR + kk*MR + r] = op(A)[i0+q*MR+r][p0+kk], zeros past mc.
TARGET __attribute__((noinline)) static void pack_a(int trans, const float *a, long lda, long i0, long p0, long mc, long kc, int MR, float *dst) {
    const __mmask16 mr_mask = lanes(MR);
    for (long q = 0; q * MR < mc; q++) {
        long rows = mc - q * MR < MR ? mc - q * MR : MR;
        float *d = dst + q * kc * MR;
        if (trans) {
            // op(A)[i][kk] = a[kk*lda + i]: MR consecutive floats per kk.
            __mmask16 m = lanes(rows);
            const float *s = a + p0 * lda + i0 + q * MR;
            for (long kk = 0; kk < kc; kk++, s += lda) _mm512_mask_storeu_ps(d + kk * MR, mr_mask, _mm512_maskz_loadu_ps(m, s));
        } else {
            for (long kk0 = 0; kk0 < kc; kk0 += 16) {
                __mmask16 mk = lanes(kc - kk0);
                long cnt = kc - kk0 < 16 ? kc - kk0 : 16;
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = i < rows ? _mm512_maskz_loadu_ps(mk, a + (i0 + q * MR + i) * lda + p0 + kk0) : _mm512_setzero_ps();
                transpose16(r);
                for (long i = 0; i < cnt; i++) _mm512_mask_storeu_ps(d + (kk0 + i) * MR, mr_mask, r[i]);
            }
        }
    }
}

// C[0..mr) x [0..nr) = alpha * (a panel x b panel over kc) + beta * C (C not read when beta is 0),
// for an MR x 16·NV tile; the wrappers below fix MR and NV so that the accumulators stay in registers.
// Row r of the tile takes a[r * as + kk * ak] at step kk: a packed panel (as 1, ak MR), a row-major
// op(A) read in place (as lda, ak 1) or a transposed one (as 1, ak lda).
TARGET static inline __attribute__((always_inline)) void
kernel(const int MR, const int NV, long kc, const float *restrict a, long as, long ak, const float *restrict b, long bs,
       float *c, long ldc, long mr, long nr, float alpha, float beta, const float *bias, const float *res, long ldr) {
    __m512 acc[12][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (long kk = 0; kk < kc; kk++) {
        __m512 bv[3];
        for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < MR; r++) {
            __m512 ar = _mm512_set1_ps(a[r * as]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
        a += ak;
        b += bs;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + r * ldc;
        for (int v = 0; v < NV; v++) {
            __mmask16 mask = lanes(nr - 16 * v);
            __m512 x = alpha == 1 ? acc[r][v] : _mm512_mul_ps(acc[r][v], va);    // x * 1 is x: the same bits
            if (bias || res) {
                // (res + bias) + x: the bits of C = res + bias followed by beta = 1 (fma(1, C, x)).
                __m512 t = res ? _mm512_maskz_loadu_ps(mask, res + r * ldr + 16 * v) : _mm512_maskz_loadu_ps(mask, bias + 16 * v);
                if (res && bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(mask, bias + 16 * v));
                x = _mm512_add_ps(t, x);
            } else if (beta != 0) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, mask, x);
        }
    }
}

typedef void tile_kernel(long, const float *restrict, long, long, const float *restrict, long, float *, long, long, long,
                         float, float, const float *, const float *, long);
TARGET static void kernel_12x32(long kc, const float *restrict a, long as, long ak, const float *restrict b, long bs, float *c,
                                long ldc, long mr, long nr, float alpha, float beta, const float *bias,
                                const float *res, long ldr) {
    kernel(12, 2, kc, a, as, ak, b, bs, c, ldc, mr, nr, alpha, beta, bias, res, ldr);
}
TARGET static void kernel_8x48(long kc, const float *restrict a, long as, long ak, const float *restrict b, long bs, float *c,
                               long ldc, long mr, long nr, float alpha, float beta, const float *bias,
                               const float *res, long ldr) {
    kernel(8, 3, kc, a, as, ak, b, bs, c, ldc, mr, nr, alpha, beta, bias, res, ldr);
}

// Edge tiles: a last panel of at most 4 or 8 rows, or of at most 16 or 32 columns, runs a kernel of
// that many rows or vectors instead of the whole tile's FMAs on zero padding. Each element is still
// the same FMAs in the same order (acc = fma(a, b, acc) over k, then alpha, beta), so the bits do not
// change. Winograd F(4x4) on layer3 at batch 2 multiplies [256 x 256] by [256 x 72]: 72 columns are
// two 32-column panels and 8 columns of a third, so a quarter of the 12 x 32 tile's FMAs were padding.
#define EDGE_KERNEL(R, V)                                                                                          \
    TARGET static void kernel_##R##x##V(long kc, const float *restrict a, long as, long ak, const float *restrict b, \
                                        long bs, float *c, long ldc, long mr, long nr, float alpha, float beta,     \
                                        const float *bias, const float *res, long ldr) {                            \
        kernel(R, V, kc, a, as, ak, b, bs, c, ldc, mr, nr, alpha, beta, bias, res, ldr);                            \
    }
EDGE_KERNEL(12, 1)
EDGE_KERNEL(8, 1)
EDGE_KERNEL(8, 2)
EDGE_KERNEL(4, 1)
EDGE_KERNEL(4, 2)
EDGE_KERNEL(4, 3)
#undef EDGE_KERNEL
static int edge_tiles = 1;
void cn_sgemm_set_edge_tiles(int on) { edge_tiles = on; }

// The kernel for a tile of mr x nr live elements of a product whose tile is MR x 16·NV.
static tile_kernel *tile_for(int MR, int NV, long mr, long nr) {
    tile_kernel *const full = MR == 12 ? kernel_12x32 : kernel_8x48;
    if (!edge_tiles || (mr >= MR && nr >= 16 * NV)) return full;
    const int rows = mr >= MR ? MR : mr <= 4 ? 4 : mr <= 8 ? 8 : MR;
    const int vecs = nr >= 16 * NV ? NV : (int)((nr + 15) / 16);
    static tile_kernel *const table[3][3] = {{kernel_4x1, kernel_4x2, kernel_4x3},
                                             {kernel_8x1, kernel_8x2, kernel_8x48},
                                             {kernel_12x1, kernel_12x32, NULL}};
    return table[rows / 4 - 1][vecs - 1];
}

// Forced tile (tests): 0 by the rows, 1 always 12 x 32, 2 always 8 x 48.
static int forced_tile = 0;
// Whether products of at most 96 rows read op(B) in place when it is not transposed (tests switch
// it off to compare bits). One thread, Zen 5, against packing it: M = 64, N = 1680-6561, K = 64-576
// 229-238 -> 242-263 GFLOP/s; M = 16-32 178-189 -> 231-251. With 128 rows it gained 3-6 % on
// K <= 128 and lost 3 % on K = 1152; with 256 and more it lost up to 11 %, so wider products pack.
static int direct_b = 1;
void cn_sgemm_set_direct_b(int on) { direct_b = on; }
// Whether op(A) is read in place (tests switch it off to compare bits with packed panels).
static int direct_a = 1;
void cn_sgemm_set_direct_a(int on) { direct_a = on; }
void cn_sgemm_force_tile(int tile) { forced_tile = tile; }

// The register tile of a product of m rows (the forced tile in tests).
static int narrow_tile(long m) { return forced_tile ? forced_tile == 2 : m <= 96; }

// Computes the block [i0, i1) x [j0, j1) of C (whole-product coordinates; m decides the tile). op(A)
// comes from `pa` (cn_sgemm_pack_a's layout; then i0 is a multiple of the tile's rows) or is packed
// here from `a`; op(B) likewise from `pb` (then j0 is a multiple of the tile's columns) or `b`.
// bias [n] and res (rows ldr apart, whole-product coordinates), either may be NULL: the first K
// block adds (res + bias) instead of beta * C.
TARGET static int sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                               const float *pa, const float *b, long ldb, const float *pb, float beta, float *c, long ldc,
                               long i0, long i1, long j0, long j1, const float *bias, const float *res, long ldr) {
    pack_buffers *buf = (pa && pb) ? NULL : buffers();
    if (!(pa && pb) && !buf) return CN_E_NOMEM;
    int narrow = narrow_tile(m);
    const int MR = narrow ? 8 : 12, NV = narrow ? 3 : 2, NR = 16 * NV;
    const long mpad = (m + MR - 1) / MR * MR, npad = (n + NR - 1) / NR * NR;
    for (long jc = j0; jc < j1; jc += NC) {
        long nc = j1 - jc < NC ? j1 - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            float bk = pc == 0 ? beta : 1;
            const float *bblock;
            // B read in place: its whole panels straight from the row-major op(B), the last partial
            // one packed (products of few rows, which reuse a packed panel little).
            const int direct = !pb && !transB && narrow && direct_b;
            const long whole = direct ? nc / NR * NR : 0;
            if (pb) bblock = pb + pc * npad + (jc / NR) * kc * NR;
            else {
                if (whole < nc) pack_b(transB, b, ldb, pc, jc + whole, kc, nc - whole, NV, buf->b);
                bblock = buf->b;
            }
            for (long ic = i0; ic < i1; ic += MC) {
                long mc = i1 - ic < MC ? i1 - ic : MC;
                // A read in place: its whole MR-row panels straight from op(A), a last partial one packed.
                const long awhole = !pa && direct_a ? mc / MR * MR : 0;
                const float *ablock;
                if (pa) ablock = pa + pc * mpad + (ic / MR) * kc * MR;
                else {
                    if (awhole < mc) pack_a(transA, a, lda, ic + awhole, pc, mc - awhole, kc, MR, buf->a);
                    ablock = buf->a;
                }
                const long as = transA ? 1 : lda, ak = transA ? lda : 1;
                for (long jr = 0; jr < nc; jr += NR) {
                    const float *bp = jr < whole ? b + pc * ldb + jc + jr : bblock + ((jr - whole) / NR) * kc * NR;
                    const long bs = jr < whole ? ldb : NR;
                    for (long ir = 0; ir < mc; ir += MR) {
                        float *ct = c + (ic + ir) * ldc + jc + jr;
                        tile_kernel *run = tile_for(MR, NV, mc - ir, nc - jr);
                        const float *tb = pc == 0 && bias ? bias + jc + jr : NULL;
                        const float *tr = pc == 0 && res ? res + (ic + ir) * ldr + jc + jr : NULL;
                        if (ir < awhole)
                            run(kc, a + (ic + ir) * as + pc * ak, as, ak, bp, bs, ct, ldc, mc - ir, nc - jr, alpha, bk, tb, tr, ldr);
                        else
                            run(kc, ablock + ((ir - awhole) / MR) * kc * MR, 1, MR, bp, bs, ct, ldc, mc - ir, nc - jr, alpha, bk,
                                tb, tr, ldr);
                    }
                }
            }
        }
    }
    return CN_OK;
}

// ---- A * B^T as dot products: op(A) = A, op(B) = B^T, both read in place along K ----
// For products whose K is long against M and N (the weight gradients dW = dY X^T of convs on large
// maps: M, N 32-512, K = one or more samples' pixels), where packing both operands through 16 x 16
// transposes cost as much as the multiply-adds. A 4 x 4 tile keeps 16 accumulators of 16 K lanes
// (lane l sums k = l mod 16 in order); after each DOT_KC block of K the 16 vectors are reduced by
// one fixed tree and added to C, so an element's bits depend on K alone, not on its tile or the split.
enum { DOT_KC = 1024, DOT_NB = 64 };

// w[4p + q] = the sum of v[4p + q]'s lanes, by a fixed tree (pairs of lanes, then 64-bit halves, then
// 128-bit quarters).
TARGET static inline __m512 reduce16(const __m512 v[16]) {
    __m512 x[8], y[4];
    for (int p = 0; p < 8; p++) x[p] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]), _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
    for (int p = 0; p < 4; p++) {
        __m512d a = _mm512_castps_pd(x[2 * p]), b = _mm512_castps_pd(x[2 * p + 1]);
        y[p] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 z0 = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], 0x88), _mm512_shuffle_f32x4(y[0], y[1], 0xDD));
    __m512 z1 = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], 0x88), _mm512_shuffle_f32x4(y[2], y[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(z0, z1, 0x88), _mm512_shuffle_f32x4(z0, z1, 0xDD));
}

// The same tree over 8 vectors: w[8p + q] (and w[8p + 4 + q]) = the sum of v[4p + q]'s lanes.
TARGET static inline __m512 reduce8(const __m512 v[8]) {
    __m512 x[4], y[2];
    for (int p = 0; p < 4; p++) x[p] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]), _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
    for (int p = 0; p < 2; p++) {
        __m512d a = _mm512_castps_pd(x[2 * p]), b = _mm512_castps_pd(x[2 * p + 1]);
        y[p] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    __m512 z = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], 0x88), _mm512_shuffle_f32x4(y[0], y[1], 0xDD));
    return _mm512_add_ps(z, _mm512_shuffle_f32x4(z, z, 0xB1));
}

// C[r][q] (r < mr, q < nr) = alpha * sum over kc of a_r[k] b_q[k] + beta * C, for a 4 x DOT_NR tile.
enum { DOT_NR = 6 };
TARGET static void dot_tile(long kc, const float *a[4], const float *b[DOT_NR], float *c, long ldc, long mr, long nr,
                            float alpha, float beta) {
    __m512 acc[4 * DOT_NR];                           // acc[q * 4 + r]
    for (int i = 0; i < 4 * DOT_NR; i++) acc[i] = _mm512_setzero_ps();
    long kk = 0;
    for (; kk + 16 <= kc; kk += 16) {
        __m512 av[4];
        for (int r = 0; r < 4; r++) av[r] = _mm512_loadu_ps(a[r] + kk);
        for (int q = 0; q < DOT_NR; q++) {
            __m512 bv = _mm512_loadu_ps(b[q] + kk);
            for (int r = 0; r < 4; r++) acc[4 * q + r] = _mm512_fmadd_ps(av[r], bv, acc[4 * q + r]);
        }
    }
    if (kk < kc) {
        __mmask16 m = lanes(kc - kk);
        __m512 av[4];
        for (int r = 0; r < 4; r++) av[r] = _mm512_maskz_loadu_ps(m, a[r] + kk);
        for (int q = 0; q < DOT_NR; q++) {
            __m512 bv = _mm512_maskz_loadu_ps(m, b[q] + kk);
            for (int r = 0; r < 4; r++) acc[4 * q + r] = _mm512_fmadd_ps(av[r], bv, acc[4 * q + r]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha);
    float out[32];                                    // out[4q + r]
    _mm512_storeu_ps(out, _mm512_mul_ps(reduce16(acc), va));
    _mm512_storeu_ps(out + 16, _mm512_mul_ps(reduce8(acc + 16), va));
    for (long r = 0; r < mr; r++)
        for (long q = 0; q < nr; q++) {
            float *e = c + r * ldc + q, x = out[q < 4 ? 4 * q + r : 16 + 8 * (q - 4) + r];
            *e = beta != 0 ? __builtin_fmaf(beta, *e, x) : x;
        }
}

TARGET static void sgemm_nt_dot(long m, long n, long k, float alpha, const float *a, long lda, const float *b, long ldb,
                                float beta, float *c, long ldc, long i0, long i1, long j0, long j1) {
    for (long jb = j0; jb < j1; jb += DOT_NB) {
        long je = j1 - jb < DOT_NB ? j1 : jb + DOT_NB;
        for (long pc = 0; pc < k; pc += DOT_KC) {
            long kc = k - pc < DOT_KC ? k - pc : DOT_KC;
            float bk = pc == 0 ? beta : 1;
            for (long i = i0; i < i1; i += 4) {
                const float *ar[4];
                for (int r = 0; r < 4; r++) ar[r] = a + (i + r < m ? i + r : m - 1) * lda + pc;
                for (long j = jb; j < je; j += DOT_NR) {
                    const float *br[DOT_NR];
                    for (int q = 0; q < DOT_NR; q++) br[q] = b + (j + q < n ? j + q : n - 1) * ldb + pc;
                    dot_tile(kc, ar, br, c + i * ldc + j, ldc, i1 - i < 4 ? i1 - i : 4, je - j < DOT_NR ? je - j : DOT_NR, alpha, bk);
                }
            }
        }
    }
    (void)n;
}

TARGET static void pack_a_whole(int transA, long m, long k, const float *a, long lda, float *dst) {
    const int MR = narrow_tile(m) ? 8 : 12;
    const long mpad = (m + MR - 1) / MR * MR;
    for (long pc = 0; pc < k; pc += KC) pack_a(transA, a, lda, 0, pc, m, k - pc < KC ? k - pc : KC, MR, dst + pc * mpad);
}

TARGET static void pack_b_whole(int transB, long m, long n, long k, const float *b, long ldb, float *dst) {
    const int NV = narrow_tile(m) ? 3 : 2;
    const long NR = 16 * NV, npad = (n + NR - 1) / NR * NR;
    for (long pc = 0; pc < k; pc += KC) pack_b(transB, b, ldb, pc, 0, k - pc < KC ? k - pc : KC, n, NV, dst + pc * npad);
}
#endif

#if !(defined(__x86_64__) && defined(__clang__))
void cn_sgemm_force_tile(int tile) { (void)tile; }
void cn_sgemm_set_direct_b(int on) { (void)on; }
void cn_sgemm_set_direct_a(int on) { (void)on; }
void cn_sgemm_set_edge_tiles(int on) { (void)on; }
#endif

long cn_sgemm_tile_rows(long m) {
#if defined(__x86_64__) && defined(__clang__)
    return narrow_tile(m) ? 8 : 12;
#else
    (void)m; return 12;
#endif
}

long cn_sgemm_tile_cols(long m) {
#if defined(__x86_64__) && defined(__clang__)
    return narrow_tile(m) ? 48 : 32;
#else
    (void)m; return 32;
#endif
}

long cn_sgemm_kc(void) {
#if defined(__x86_64__) && defined(__clang__)
    return KC;
#else
    return 256;
#endif
}

long cn_sgemm_packed_a_floats(long m, long k) {
    long mr = cn_sgemm_tile_rows(m);
    return (m + mr - 1) / mr * mr * k;
}

long cn_sgemm_packed_b_floats(long m, long n, long k) {
    long nr = cn_sgemm_tile_cols(m);
    return (n + nr - 1) / nr * nr * k;
}

int cn_sgemm_pack_a(int transA, long m, long k, const float *a, long lda, float *dst) {
#if defined(__x86_64__) && defined(__clang__)
    if (m <= 0 || k <= 0) return CN_E_ARG;
    pack_a_whole(transA, m, k, a, lda, dst);
    return CN_OK;
#else
    (void)transA; (void)m; (void)k; (void)a; (void)lda; (void)dst;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_sgemm_pack_b(int transB, long m, long n, long k, const float *b, long ldb, float *dst) {
#if defined(__x86_64__) && defined(__clang__)
    if (m <= 0 || n <= 0 || k <= 0) return CN_E_ARG;
    pack_b_whole(transB, m, n, k, b, ldb, dst);
    return CN_OK;
#else
    (void)transB; (void)m; (void)n; (void)k; (void)b; (void)ldb; (void)dst;
    return CN_E_UNSUPPORTED;
#endif
}

// cn_sgemm_block and cn_sgemm_block_add: the arguments checked, then the block.
static int block_checked(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *packedA, const float *b, long ldb, const float *packedB, float beta, float *c, long ldc,
                         long i0, long i1, long j0, long j1, const float *bias, const float *res, long ldr) {
#if defined(__x86_64__) && defined(__clang__)
    if (k <= 0 || i0 < 0 || j0 < 0 || i1 > m || j1 > n || (res && ldr < n)) return CN_E_ARG;
    if (i1 <= i0 || j1 <= j0) return CN_OK;
    if ((packedA && i0 % cn_sgemm_tile_rows(m)) || (packedB && j0 % cn_sgemm_tile_cols(m))) return CN_E_ARG;
    return sgemm_avx512(transA, transB, m, n, k, alpha, a, lda, packedA, b, ldb, packedB, beta, c, ldc, i0, i1, j0, j1,
                        bias, res, ldr);
#else
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)packedA; (void)b;
    (void)ldb; (void)packedB; (void)beta; (void)c; (void)ldc; (void)i0; (void)i1; (void)j0; (void)j1; (void)bias; (void)res;
    (void)ldr;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_sgemm_block(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                   const float *packedA, const float *b, long ldb, const float *packedB, float beta, float *c, long ldc,
                   long i0, long i1, long j0, long j1) {
    return block_checked(transA, transB, m, n, k, alpha, a, lda, packedA, b, ldb, packedB, beta, c, ldc, i0, i1, j0, j1,
                         NULL, NULL, 0);
}

int cn_sgemm_block_add(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                       const float *packedA, const float *b, long ldb, const float *packedB, const float *bias,
                       const float *res, long ldr, float *c, long ldc, long i0, long i1, long j0, long j1) {
    return block_checked(transA, transB, m, n, k, alpha, a, lda, packedA, b, ldb, packedB, 0, c, ldc, i0, i1, j0, j1,
                         bias, res, ldr);
}

int cn_sgemm_nt_dot(long m, long n, long k, float alpha, const float *a, long lda, const float *b, long ldb, float beta,
                    float *c, long ldc, long i0, long i1, long j0, long j1) {
#if defined(__x86_64__) && defined(__clang__)
    if (k <= 0 || i0 < 0 || j0 < 0 || i1 > m || j1 > n) return CN_E_ARG;
    if (i1 <= i0 || j1 <= j0) return CN_OK;
    sgemm_nt_dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, i0, i1, j0, j1);
    return CN_OK;
#else
    (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    (void)i0; (void)i1; (void)j0; (void)j1;
    return CN_E_UNSUPPORTED;
#endif
}

int cn_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
             const float *b, long ldb, float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return CN_OK;
    return cn_sgemm_block(transA, transB, m, n, k, alpha, a, lda, NULL, b, ldb, NULL, beta, c, ldc, 0, m, 0, n);
}
