// CNative: the C calls Swift cannot make safely (libpng and libjpeg report errors by longjmp),
// plus SHA-256. Every function returns a CN_* code and, on error, a message in `err`.
#ifndef DCOT_CNATIVE_H
#define DCOT_CNATIVE_H
#include <stddef.h>
#include <stdint.h>

enum {
    CN_OK = 0,
    CN_E_DECODE = -1,      // corrupt or truncated data
    CN_E_UNSUPPORTED = -2, // valid file of a kind we do not take (e.g. 16-bit PNG)
    CN_E_CAPACITY = -3,    // caller buffer too small
    CN_E_NOMEM = -4,
    CN_E_ARG = -5,
    CN_E_ENCODE = -6,
};

// ---- PNG ----
enum { CN_PNG_PALETTE = 1, CN_PNG_GRAY = 2, CN_PNG_RGB = 3, CN_PNG_RGBA = 4, CN_PNG_GRAY_ALPHA = 5 };

typedef struct {
    uint32_t width, height;
    int bit_depth;       // as stored
    int kind;            // CN_PNG_*
    int channels;        // bytes per pixel delivered by cn_png_read (1, 3 or 4; 16-bit is rejected)
    int num_palette;
    uint8_t palette[256 * 3];
    int has_trns;
    int num_warnings;
} cn_png_info;

// Header only when dst == NULL. Otherwise decodes into dst (width*height*channels bytes):
// palette and grey images as raw stored values (palette indices are NOT expanded; 1/2/4-bit
// values are unpacked unchanged), RGB(A) as bytes. Grey+alpha is delivered as grey (alpha dropped).
int cn_png_read(const uint8_t *data, size_t len, uint8_t *dst, size_t dst_capacity,
                cn_png_info *info, char *err, size_t errlen);

// 8-bit palette PNG from indices (w*h bytes) and a palette of num_palette RGB triples.
// The encoded bytes are returned in *out (free with cn_free).
int cn_png_write_palette(const uint8_t *indices, uint32_t w, uint32_t h, const uint8_t *palette_rgb,
                         int num_palette, int compression_level, uint8_t **out, size_t *out_len,
                         char *err, size_t errlen);
// 8-bit greyscale (channels 1) or RGB (channels 3) PNG.
int cn_png_write(const uint8_t *pixels, uint32_t w, uint32_t h, int channels, int compression_level,
                 uint8_t **out, size_t *out_len, char *err, size_t errlen);
void cn_free(void *p);

// ---- JPEG DCT coefficients (libjpeg jpeg_read_coefficients; the route jpeg2dct takes) ----
enum { CN_DCT_DEQUANTIZE = 1 };

typedef struct {
    int image_width, image_height;
    int num_components;           // 1 (grey) or 3
    int color_space;              // libjpeg J_COLOR_SPACE of the file
    int h_samp[3], v_samp[3];     // sampling factors
    int blocks_h[3], blocks_w[3]; // per component: height/width in 8x8 blocks
    uint16_t quant[3][64];        // quantisation table per component, natural (row-major) order
    int progressive;
    int num_warnings;
} cn_jpeg_coef_info;

// Header pass (fills info). Planes are blocks_h x blocks_w x 64 int16, natural order (k = 8v + u).
int cn_jpeg_coef_header(const uint8_t *data, size_t len, cn_jpeg_coef_info *info, char *err, size_t errlen);
// Reads the coefficients of up to 3 components into the given planes (NULL to skip one).
int cn_jpeg_read_coefs(const uint8_t *data, size_t len, int flags, int16_t *planes[3], const size_t caps[3],
                       cn_jpeg_coef_info *info, char *err, size_t errlen);

// ---- The DCT input transform (METHOD.md section 3), fast path ----
// rgb: h x w x 3 bytes. out: int16 [64, ceil(h/4), ceil(w/4)] (Y 44, Cb 10, Cr 10 channels).
int cn_dct_input(const uint8_t *rgb, int h, int w, int16_t *out);

// ---- SHA-256 ----
typedef struct {
    uint32_t state[8];
    uint64_t bitcount;
    uint8_t buffer[64];
    size_t buffered;
} cn_sha256_ctx;
void cn_sha256_init(cn_sha256_ctx *ctx);
void cn_sha256_update(cn_sha256_ctx *ctx, const void *data, size_t len);
void cn_sha256_final(cn_sha256_ctx *ctx, uint8_t digest[32]);
// 1 when the SHA-NI path is in use. Tests force the portable path to compare the two.
int cn_sha256_accelerated(void);
void cn_sha256_force_portable(int on);

// ---- Allocator ----
// Serve multi-megabyte buffers from the heap and keep freed memory (no mmap/page-fault churn).
void cn_tune_malloc_for_large_buffers(void);

// ---- Thread pool (thread_pool.c): Tensor's Parallel loops and split GEMMs ----
typedef void (*cn_task_fn)(void *ctx, long task);
// threads - 1 workers beside the calling thread (0 or 1: everything runs inline).
void cn_pool_set_threads(int threads);
int cn_pool_workers(void);
// Whether the calling thread is running a pool task (a nested cn_pool_run then runs inline).
int cn_pool_in_task(void);
// How long an idle worker spins before it sleeps (default 2 ms).
void cn_pool_set_spin_ns(long ns);
// fn(ctx, k) for k in 0..<tasks on the caller and the workers; returns when all are done. Runs
// inline when nested in a task or when another thread is using the pool.
void cn_pool_run(long tasks, cn_task_fn fn, void *ctx);
// 1 while the machine has more runnable threads than cores (re-read every 10 ms).
int cn_pool_crowded(void);

// A spin lock for critical sections of a few hundred nanoseconds that the pool's threads enter at
// the same moment (BufferPool's free lists at the start of every sample task). *lock starts 0.
// A waiter spins, yielding its core now and then, instead of sleeping on a futex and being woken.
void cn_spin_lock(int32_t *lock);
void cn_spin_unlock(int32_t *lock);

// ---- Host probe (host_probe.c): how two threads of this process run side by side ----
typedef struct {
    long trips;        // round trips measured
    long elapsed_ns;   // their total time
    long p50_ns, p90_ns, p99_ns, max_ns;
    long stalls;       // trips longer than stall_ns (a thread waited for the other to be scheduled)
    long stalled_ns;   // their total time
} cn_core_pair_probe;
// Passes a cache line between the caller and a new thread for budget_ns (at most 2^20 round trips),
// the two pinned to the first two CPUs the process may use (the caller's CPU set is restored).
// CN_E_UNSUPPORTED when the process may use fewer than 2 CPUs, CN_E_ARG for a non-positive budget
// or stall_ns.
int cn_probe_core_pair(long budget_ns, long stall_ns, cn_core_pair_probe *out);


// ---- Vector kernels (simd_kernels.c): AVX-512 or AVX2 + FMA by the CPU's flags ----
// The instruction set in use: 2 AVX-512, 1 AVX2 + FMA, 0 none (callers run their portable path;
// the cn_* kernels below then do nothing).
int cn_simd_level(void);
// What the CPU supports (the level before any cap).
int cn_simd_supported(void);
// Caps the level (tests run every path the CPU has; 0 forces the portable path).
void cn_simd_cap_level(int level);
// y = GELU(x) (erf form), n floats; elementwise, so any split of a tensor gives the same bits.
void cn_gelu(const float *x, float *y, long n);
// dx = g * GELU'(x).
void cn_gelu_backward(const float *g, const float *x, float *dx, long n);
// y[r] = softmax(scale * x[r]) (scale > 0) over `cols` floats for `rows` rows `ld` floats apart
// (x == y allowed).
void cn_softmax_rows(const float *x, float *y, long rows, long cols, long ld, float scale);
// Depthwise 3x3 (stride 1, padding 1) on one channels-last sample x, y [h][w][c], output rows
// y0..<y1: y = bias + taps in (i, j) order (w9 [9][c], bias may be NULL), then GELU if `gelu`
// (with the value before the GELU also written to `pre` unless NULL).
void cn_dw3x3_nhwc(const float *x, const float *w9, const float *bias, float *y, float *pre, long h, long w, long c, long y0,
                   long y1, int gelu);
// Its weight and bias gradient over output rows y0..<y1 of one sample: part [10][c] (taps, then bias).
void cn_dw3x3_nhwc_wgrad(const float *x, const float *dy, float *part, long h, long w, long c, long y0, long y1);
// Layer norm over `rows` rows of d floats (y, mean, invstd per row written).
void cn_layernorm_rows(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *invstd,
                       long rows, long d, float eps);
// Its backward over `rows` rows: pg += dy * xhat, pb += dy (row order); dx if not NULL.
void cn_layernorm_backward_rows(const float *x, const float *dy, const float *mean, const float *invstd, const float *gamma,
                                float *dx, float *pg, float *pb, long rows, long d);


// ---- GEMM (gemm_avx512.c) ----
// Row-major C = alpha * op(A) * op(B) + beta * C (C is not read when beta is 0), one thread, on
// AVX-512; each element's sum is cut at multiples of 256 in K and added in K order, so its bits do
// not depend on how the caller splits M or N. CN_E_UNSUPPORTED without AVX-512 (callers check
// cn_simd_supported() == 2 first), CN_E_ARG for k < 1, CN_E_NOMEM if the packing buffers fail.
int cn_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
             const float *b, long ldb, float beta, float *c, long ldc);
// Tests: 1 runs every product on 12 x 32 tiles, 2 on 8 x 48, 0 (default) picks by the row count.
void cn_sgemm_force_tile(int tile);
// Tests: 0 packs op(B) always; 1 (default) lets products of at most 96 rows read it in place.
void cn_sgemm_set_direct_b(int on);
// Tests: whether op(A) is read in place (1, the default) or packed (0); the same bits either way.
void cn_sgemm_set_direct_a(int on);
// Whether last partial panels run a kernel of their own rows/vectors (tests: off compares bits).
void cn_sgemm_set_edge_tiles(int on);

// Prepacked operands. A product of m rows runs on tiles of cn_sgemm_tile_rows(m) x
// cn_sgemm_tile_cols(m); its K is cut in blocks of cn_sgemm_kc(). cn_sgemm_pack_a writes op(A)
// [m x k] in the kernel's layout (cn_sgemm_packed_a_floats(m, k) floats: for each K block starting
// at p, rows padded to whole tiles, at p * padded rows, tile by tile), cn_sgemm_pack_b op(B) [k x n]
// for a product of m rows likewise (cn_sgemm_packed_b_floats(m, n, k); for the K block at p, column
// panel q at p * padded columns + q * kc * tile columns, kc x tile columns, zeros past n). A weight
// packed once serves every product with it; a producer may write op(B) in this layout directly.
long cn_sgemm_tile_rows(long m);
long cn_sgemm_tile_cols(long m);
long cn_sgemm_kc(void);
long cn_sgemm_packed_a_floats(long m, long k);
long cn_sgemm_packed_b_floats(long m, long n, long k);
int cn_sgemm_pack_a(int transA, long m, long k, const float *a, long lda, float *dst);
int cn_sgemm_pack_b(int transB, long m, long n, long k, const float *b, long ldb, float *dst);
// The block [i0, i1) x [j0, j1) of the product C = alpha * op(A) * op(B) + beta * C (m x n; C, a and
// b address the whole matrices), op(A) from packedA when not NULL (i0 then a multiple of the tile's
// rows), op(B) from packedB when not NULL (j0 a multiple of the tile's columns). The same bits as
// cn_sgemm for every element, whichever operands come packed and however the product is cut.
int cn_sgemm_block(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                   const float *packedA, const float *b, long ldb, const float *packedB, float beta, float *c, long ldc,
                   long i0, long i1, long j0, long j1);
// cn_sgemm_block with C = alpha * op(A) * op(B) + (res + bias) instead of beta * C: bias [n] added to
// every row, res (whole m x n, rows ldr apart) element by element, either NULL; added in the first K
// block's pass, as fl(fl(res + bias) + product): the bits of writing res + bias into C and then
// cn_sgemm_block with beta = 1, without that pass over C.
int cn_sgemm_block_add(int transA, int transB, long m, long n, long k, float alpha, const float *a, long lda,
                       const float *packedA, const float *b, long ldb, const float *packedB, const float *bias,
                       const float *res, long ldr, float *c, long ldc, long i0, long i1, long j0, long j1);
// The block [i0, i1) x [j0, j1) of C = alpha * A * B^T + beta * C (m x n, both operands row-major
// along K, read in place) as dot products: lane l of a 16-wide accumulator sums k = l mod 16 in
// order, the lanes are reduced by a fixed tree after each 1024 of K and added to C, so an element's
// bits depend on K alone, not on the block. Other bits than cn_sgemm's.
int cn_sgemm_nt_dot(long m, long n, long k, float alpha, const float *a, long lda, const float *b, long ldb, float beta,
                    float *c, long ldc, long i0, long i1, long j0, long j1);

// ---- im2col conv copies (conv_cols.c), AVX-512 only (CN_E_UNSUPPORTED below VectorISA level 2) ----
// Rows r0 ..< r1 of the column matrix (row r: channel r / (kh kw), tap ((r / kw) % kh, r % kw)) of
// `samples` samples from padded planes (channel c of sample s at base + s * sample_stride + c *
// channel_stride, rows wp floats apart), HO*WO floats per sample side by side; row r at col + (r - r0) * ld.
int cn_im2col(const float *base, long wp, long channel_stride, long sample_stride, long kh, long kw, long stride,
              long dilation, long ho, long wo, long samples, long r0, long r1, float *col, long ld);
// One (sample, channel) plane of col2im: acc (plane floats, rows wp apart) := 0, then each tap's
// column row (tap t at col + t * ld, HO*WO floats) added in (i, j, oy, ox) order.
int cn_col2im_plane(const float *col, long ld, float *acc, long wp, long plane, long kh, long kw, long stride,
                    long dilation, long ho, long wo);
// dst [(h + 2p) x (w + 2p)] = src [h x w] with p zeros around it.
int cn_pad_plane(const float *src, long h, long w, long p, float *dst);
// A rectangle of rows x cols floats at `first` (rows w apart) of planes of hw >= 16 floats, for
// channels [c0, c1) of n samples (plane (s, ci) at src + (s c + ci) hw), side by side per channel:
// channel ci's row at dst + ci ld, sample s's rows x cols at s rows cols. adjoint = 1: the reverse,
// dst planes += src rows, one addition per element. CN_E_UNSUPPORTED when the rectangle spans more
// than 128 floats (or without AVX-512): the caller's row loop then.
int cn_tap_copy(int adjoint, const float *src, long hw, long c, long c0, long c1, long n, long first, long rows, long cols,
                long w, float *dst, long ld);

// ---- Winograd F(4x4, 3x3) transforms (winograd4.c), AVX-512, for dcot's own GEMM ----
// V = B^T d B for channels [c0, c1) of x [ns][c][h][w] (padding pad, th x tw tiles of 4 x 4 outputs
// per sample, t = ns * th * tw tiles), written as the 36 packed op(B) [c x t] of products of o rows:
// plane k (k = 6 * row + column) at v + k * cn_sgemm_packed_b_floats(o, t, c).
int cn_winograd4_input(const float *x, long ns, long c, long h, long w, long pad, long th, long tw, long o, float *v,
                       long c0, long c1);
// U [36][oc] = G g G^T (k = 6 * row + column) for filters [i0, i1) of w [oc][3][3].
int cn_winograd4_filter(const float *w, long oc, float *u, long i0, long i1);
// y [ns][o][ho][wo] = relu?(A^T M A + bias) from the products M_k [o x t] at m + k * o * t, for the
// (output channel, 16-tile group) pairs q0 ..< q1, q = channel * ceil(t / 16) + group. bias may be NULL.
int cn_winograd4_output(const float *m, long ns, long o, long ho, long wo, long th, long tw, const float *bias, int relu,
                        float *y, long q0, long q1);

#endif
