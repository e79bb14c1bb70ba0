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
// more, 12 x 32 ran up to 10 % faster.)
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
TARGET static void pack_b(int trans, const float *b, long ldb, long p0, long j0, long kc, long nc, int nv, float *dst) {
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
TARGET static void pack_a(int trans, const float *a, long lda, long i0, long p0, long mc, long kc, int MR, float *dst) {
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
TARGET static inline __attribute__((always_inline)) void
kernel(const int MR, const int NV, long kc, const float *restrict a, const float *restrict b, float *c, long ldc, long mr,
       long nr, float alpha, float beta) {
    __m512 acc[12][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (long kk = 0; kk < kc; kk++) {
        __m512 bv[3];
        for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < MR; r++) {
            __m512 ar = _mm512_set1_ps(a[r]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
        a += MR;
        b += 16 * NV;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + r * ldc;
        for (int v = 0; v < NV; v++) {
            __mmask16 mask = lanes(nr - 16 * v);
            __m512 x = _mm512_mul_ps(acc[r][v], va);
            if (beta != 0) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, mask, x);
        }
    }
}

typedef void tile_kernel(long, const float *restrict, const float *restrict, float *, long, long, long, float, float);
TARGET static void kernel_12x32(long kc, const float *restrict a, const float *restrict b, float *c, long ldc, long mr, long nr,
                                float alpha, float beta) { kernel(12, 2, kc, a, b, c, ldc, mr, nr, alpha, beta); }
TARGET static void kernel_8x48(long kc, const float *restrict a, const float *restrict b, float *c, long ldc, long mr, long nr,
                               float alpha, float beta) { kernel(8, 3, kc, a, b, c, ldc, mr, nr, alpha, beta); }

// Forced tile (tests): 0 by the rows, 1 always 12 x 32, 2 always 8 x 48.
static int forced_tile = 0;
void cn_sgemm_force_tile(int tile) { forced_tile = tile; }

TARGET static int sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                               const float *b, long ldb, float beta, float *c, long ldc) {
    pack_buffers *pb = buffers();
    if (!pb) return CN_E_NOMEM;
    int narrow = forced_tile ? forced_tile == 2 : m <= 96;
    const int MR = narrow ? 8 : 12, NV = narrow ? 3 : 2, NR = 16 * NV;
    tile_kernel *run = narrow ? kernel_8x48 : kernel_12x32;
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            float bk = pc == 0 ? beta : 1;
            pack_b(transB, b, ldb, pc, jc, kc, nc, NV, pb->b);
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                pack_a(transA, a, lda, ic, pc, mc, kc, MR, pb->a);
                for (long jr = 0; jr < nc; jr += NR) {
                    const float *bp = pb->b + (jr / NR) * kc * NR;
                    for (long ir = 0; ir < mc; ir += MR)
                        run(kc, pb->a + (ir / MR) * kc * MR, bp, c + (ic + ir) * ldc + jc + jr, ldc, mc - ir, nc - jr, alpha, bk);
                }
            }
        }
    }
    return CN_OK;
}
#endif

#if !(defined(__x86_64__) && defined(__clang__))
void cn_sgemm_force_tile(int tile) { (void)tile; }
#endif

int cn_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
             const float *b, long ldb, float beta, float *c, long ldc) {
#if defined(__x86_64__) && defined(__clang__)
    if (m <= 0 || n <= 0) return CN_OK;
    if (k <= 0) return CN_E_ARG;
    return sgemm_avx512(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
    return CN_E_UNSUPPORTED;
#endif
}
