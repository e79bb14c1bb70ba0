// The fast DCT input transform (METHOD.md section 3), bit-identical to ImageIO's Swift reference
// implementation (DCTTransform.coefficientsReference): cv2 x2 upsampling, libjpeg fixed-point colour,
// 4:2:0 box downsampling and edge padding, islow DCT, quality-100 quantisation.
// Planar loops written for auto-vectorisation; compiled for AVX2 and baseline x86-64 and picked at
// load time (target_clones), so binaries still run on CPUs without AVX2.
#include "CNative.h"
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

static const int LUMA_K[44] = {0,  1,  2,  3,  4,  5,  6,  8,  9,  10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 24, 25,
                               26, 27, 28, 29, 32, 33, 34, 35, 36, 37, 40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53};
static const int CHROMA_K[10] = {0, 1, 2, 8, 9, 10, 16, 17, 24, 25};

// cv2 uint8 vertical pass on horizontally interpolated values p = 3*near + far.
#define VMIX(n, f) (((((3 * (n)) >> 2) + ((f) >> 2) + 2) >> 2))

// One source row of a plane -> p values of the even and odd output columns (width w -> 2w outputs).
// Edges are peeled so the body is two shifted contiguous loads (vectorisable).
static inline __attribute__((always_inline)) void hsplit(const int32_t *s, int w, int32_t *pe, int32_t *po) {
    if (w == 1) {
        pe[0] = po[0] = 4 * s[0];
        return;
    }
    pe[0] = 4 * s[0];
    po[0] = 3 * s[0] + s[1];
    for (int j = 1; j < w - 1; j++) {
        pe[j] = 3 * s[j] + s[j - 1];
        po[j] = 3 * s[j] + s[j + 1];
    }
    pe[w - 1] = 3 * s[w - 1] + s[w - 2];
    po[w - 1] = 4 * s[w - 1];
}

// Rolling cache of hsplit rows: slot (row % 3) holds row `row` of each plane (even and odd halves).
typedef struct {
    int32_t *pe[3][3], *po[3][3]; // [plane][slot]
    int tag[3];
} row_ring;

static void ring_init(row_ring *ring, int32_t *scratch, int w) {
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++) {
            ring->pe[c][k] = scratch + (size_t)(6 * c + 2 * k) * w;
            ring->po[c][k] = scratch + (size_t)(6 * c + 2 * k + 1) * w;
        }
    ring->tag[0] = ring->tag[1] = ring->tag[2] = -1;
}

// Source row `row` of an interleaved RGB image, deinterleaved through `tmp` (3 x w) and hsplit.
static inline __attribute__((always_inline)) int ring_row_rgb(row_ring *ring, const uint8_t *rgb, int row, int w,
                                                               int32_t *tmp) {
    int k = row % 3;
    if (ring->tag[k] != row) {
        const uint8_t *p = rgb + (size_t)row * w * 3;
        for (int j = 0; j < w; j++) {
            tmp[j] = p[3 * j];
            tmp[w + j] = p[3 * j + 1];
            tmp[2 * w + j] = p[3 * j + 2];
        }
        for (int c = 0; c < 3; c++) hsplit(tmp + (size_t)c * w, w, ring->pe[c][k], ring->po[c][k]);
        ring->tag[k] = row;
    }
    return k;
}

static inline __attribute__((always_inline)) int ring_row(row_ring *ring, int32_t *const planes[3], int row, int w) {
    int k = row % 3;
    if (ring->tag[k] != row) {
        for (int c = 0; c < 3; c++) hsplit(planes[c] + (size_t)row * w, w, ring->pe[c][k], ring->po[c][k]);
        ring->tag[k] = row;
    }
    return k;
}

#define Y_OF(r, g, b) ((19595 * (r) + 38470 * (g) + 7471 * (b) + 32768) >> 16)
#define CB_OF(r, g, b) ((-11059 * (r) - 21709 * (g) + 32768 * (b) + (128 << 16) + 32767) >> 16)
#define CR_OF(r, g, b) ((32768 * (r) - 27439 * (g) - 5329 * (b) + (128 << 16) + 32767) >> 16)

// Chroma (Cb, Cr) row i of the 4:2:0 planes from three hsplit U2 rows (up, centre, down): chroma
// (i, j) is the 2x2 box over U4 (2i..2i+1, 2j..2j+1), i.e. the four (even/odd row, even/odd column)
// x2 outputs of U2 position (i, j). Columns past U4's right edge replicate its last column before
// downsampling, as libjpeg does.
static inline __attribute__((always_inline)) void chroma_row(const int32_t *rn, const int32_t *gn, const int32_t *bn,
                                                             const int32_t *ru, const int32_t *gu, const int32_t *bu,
                                                             const int32_t *rd, const int32_t *gd, const int32_t *bd,
                                                             int n, int32_t *sb, int32_t *sr) {
    for (int j = 0; j < n; j++) {
        int32_t r0 = VMIX(rn[j], ru[j]), g0 = VMIX(gn[j], gu[j]), b0 = VMIX(bn[j], bu[j]);
        int32_t r1 = VMIX(rn[j], rd[j]), g1 = VMIX(gn[j], gd[j]), b1 = VMIX(bn[j], bd[j]);
        sb[j] += CB_OF(r0, g0, b0) + CB_OF(r1, g1, b1);
        sr[j] += CR_OF(r0, g0, b0) + CR_OF(r1, g1, b1);
    }
}

static inline __attribute__((always_inline)) void chroma_out(row_ring *u2r, int i, int h2, int w2, uint8_t *ob,
                                                             uint8_t *orr, int cols, int32_t *sb, int32_t *sr) {
    int ku = (i > 0 ? i - 1 : 0) % 3, kc = i % 3, kd = (i + 1 < h2 ? i + 1 : h2 - 1) % 3;
    memset(sb, 0, sizeof(int32_t) * w2);
    memset(sr, 0, sizeof(int32_t) * w2);
    chroma_row(u2r->pe[0][kc], u2r->pe[1][kc], u2r->pe[2][kc], u2r->pe[0][ku], u2r->pe[1][ku], u2r->pe[2][ku],
               u2r->pe[0][kd], u2r->pe[1][kd], u2r->pe[2][kd], w2, sb, sr);
    chroma_row(u2r->po[0][kc], u2r->po[1][kc], u2r->po[2][kc], u2r->po[0][ku], u2r->po[1][ku], u2r->po[2][ku],
               u2r->po[0][kd], u2r->po[1][kd], u2r->po[2][kd], w2, sb, sr);
    for (int j = 0; j < w2; j++) {
        int32_t bias = 1 + (j & 1);
        ob[j] = (uint8_t)((sb[j] + bias) >> 2);
        orr[j] = (uint8_t)((sr[j] + bias) >> 2);
    }
    if (cols > w2) {
        int j = w2 - 1;
        int32_t r0 = VMIX(u2r->po[0][kc][j], u2r->po[0][ku][j]), g0 = VMIX(u2r->po[1][kc][j], u2r->po[1][ku][j]);
        int32_t b0 = VMIX(u2r->po[2][kc][j], u2r->po[2][ku][j]);
        int32_t r1 = VMIX(u2r->po[0][kc][j], u2r->po[0][kd][j]), g1 = VMIX(u2r->po[1][kc][j], u2r->po[1][kd][j]);
        int32_t b1 = VMIX(u2r->po[2][kc][j], u2r->po[2][kd][j]);
        int32_t lb = 2 * (CB_OF(r0, g0, b0) + CB_OF(r1, g1, b1));
        int32_t lr = 2 * (CR_OF(r0, g0, b0) + CR_OF(r1, g1, b1));
        for (int jj = w2; jj < cols; jj++) {
            int32_t bias = 1 + (jj & 1);
            ob[jj] = (uint8_t)((lb + bias) >> 2);
            orr[jj] = (uint8_t)((lr + bias) >> 2);
        }
    }
}

// Streams U2 row by row (never materialised): each U2 row gives a Y row and, one row later, a
// chroma row. Planes are rows x cols bytes, edge-padded as libjpeg pads them.
MULTIVERSION
static void planes_from_rgb(const uint8_t *rgb, int h, int w, uint8_t *yp, uint8_t *cb, uint8_t *cr, int rows,
                            int cols, int32_t *scratch) {
    int w2 = 2 * w, h2 = 2 * h;
    row_ring sring, uring;
    ring_init(&sring, scratch, w);
    ring_init(&uring, scratch + 18 * (size_t)w, w2);
    int32_t *tmp = scratch + 18 * (size_t)w + 18 * (size_t)w2; // [3][w2]
    int32_t *sb = tmp + 3 * (size_t)w2, *sr = sb + w2, *dein = sr + w2; // dein: [3][w]
    int32_t *tr = tmp, *tg = tmp + w2, *tb = tmp + 2 * w2;
    for (int r = 0; r < h2; r++) {
        int i = r >> 1;
        int kc = ring_row_rgb(&sring, rgb, i, w, dein);
        int kf = ring_row_rgb(&sring, rgb, (r & 1) == 0 ? (i > 0 ? i - 1 : 0) : (i + 1 < h ? i + 1 : h - 1), w, dein);
        for (int c = 0; c < 3; c++) {
            const int32_t *ec = sring.pe[c][kc], *ef = sring.pe[c][kf], *oc = sring.po[c][kc], *of = sring.po[c][kf];
            int32_t *t = tmp + (size_t)c * w2;
            for (int j = 0; j < w; j++) {
                t[2 * j] = VMIX(ec[j], ef[j]);
                t[2 * j + 1] = VMIX(oc[j], of[j]);
            }
        }
        uint8_t *yo = yp + (size_t)r * cols;
        for (int j = 0; j < w2; j++) yo[j] = (uint8_t)Y_OF(tr[j], tg[j], tb[j]);
        for (int j = w2; j < cols; j++) yo[j] = yo[w2 - 1];
        int k = r % 3;
        for (int c = 0; c < 3; c++) hsplit(tmp + (size_t)c * w2, w2, uring.pe[c][k], uring.po[c][k]);
        uring.tag[k] = r;
        if (r >= 1) chroma_out(&uring, r - 1, h2, w2, cb + (size_t)(r - 1) * cols, cr + (size_t)(r - 1) * cols, cols, sb, sr);
    }
    chroma_out(&uring, h2 - 1, h2, w2, cb + (size_t)(h2 - 1) * cols, cr + (size_t)(h2 - 1) * cols, cols, sb, sr);
    for (int i = h2; i < rows; i++) {
        memcpy(yp + (size_t)i * cols, yp + (size_t)(h2 - 1) * cols, cols);
        memcpy(cb + (size_t)i * cols, cb + (size_t)(h2 - 1) * cols, cols);
        memcpy(cr + (size_t)i * cols, cr + (size_t)(h2 - 1) * cols, cols);
    }
}

// ---- islow forward DCT on 8 blocks at once: d[k][lane], k = 8*row + column ----
#define LANES 8
#define CONST_BITS 13
#define PASS1_BITS 2
#define DESCALE(x, n) (((x) + (1 << ((n)-1))) >> (n))
#define FOR_LANES for (int l = 0; l < LANES; l++)

static inline __attribute__((always_inline)) void dct_1d(int32_t (*d)[LANES], int s0, int step, int pass) {
    int32_t t0[LANES], t1[LANES], t2[LANES], t3[LANES], t4[LANES], t5[LANES], t6[LANES], t7[LANES];
    int32_t t10[LANES], t11[LANES], t12[LANES], t13[LANES], z1[LANES], z2[LANES], z3[LANES], z4[LANES], z5[LANES];
#define D(i) d[s0 + (i)*step]
    FOR_LANES {
        t0[l] = D(0)[l] + D(7)[l]; t7[l] = D(0)[l] - D(7)[l];
        t1[l] = D(1)[l] + D(6)[l]; t6[l] = D(1)[l] - D(6)[l];
        t2[l] = D(2)[l] + D(5)[l]; t5[l] = D(2)[l] - D(5)[l];
        t3[l] = D(3)[l] + D(4)[l]; t4[l] = D(3)[l] - D(4)[l];
        t10[l] = t0[l] + t3[l]; t13[l] = t0[l] - t3[l];
        t11[l] = t1[l] + t2[l]; t12[l] = t1[l] - t2[l];
    }
    const int shift = pass == 0 ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS;
    FOR_LANES {
        if (pass == 0) {
            D(0)[l] = (t10[l] + t11[l]) << PASS1_BITS;
            D(4)[l] = (t10[l] - t11[l]) << PASS1_BITS;
        } else {
            D(0)[l] = DESCALE(t10[l] + t11[l], PASS1_BITS);
            D(4)[l] = DESCALE(t10[l] - t11[l], PASS1_BITS);
        }
        int32_t ze = (t12[l] + t13[l]) * 4433;
        D(2)[l] = DESCALE(ze + t13[l] * 6270, shift);
        D(6)[l] = DESCALE(ze - t12[l] * 15137, shift);
    }
    FOR_LANES {
        z1[l] = t4[l] + t7[l]; z2[l] = t5[l] + t6[l]; z3[l] = t4[l] + t6[l]; z4[l] = t5[l] + t7[l];
        z5[l] = (z3[l] + z4[l]) * 9633;
        int32_t a4 = t4[l] * 2446, a5 = t5[l] * 16819, a6 = t6[l] * 25172, a7 = t7[l] * 12299;
        int32_t b1 = z1[l] * -7373, b2 = z2[l] * -20995;
        int32_t b3 = z3[l] * -16069 + z5[l], b4 = z4[l] * -3196 + z5[l];
        D(7)[l] = DESCALE(a4 + b1 + b3, shift);
        D(5)[l] = DESCALE(a5 + b2 + b4, shift);
        D(3)[l] = DESCALE(a6 + b2 + b3, shift);
        D(1)[l] = DESCALE(a7 + b1 + b4, shift);
    }
#undef D
}

// 64 bytes (8 blocks x 8 pixels of one row) -> x-major: out[x * 8 + l] = in[l * 8 + x].
static inline __attribute__((always_inline)) void transpose8x8(const uint8_t *in, uint8_t *out) {
#if defined(__SSE2__)
    __m128i a[8];
    for (int l = 0; l < 8; l++) a[l] = _mm_loadl_epi64((const __m128i *)(in + 8 * l));
    __m128i t0 = _mm_unpacklo_epi8(a[0], a[1]), t1 = _mm_unpacklo_epi8(a[2], a[3]);
    __m128i t2 = _mm_unpacklo_epi8(a[4], a[5]), t3 = _mm_unpacklo_epi8(a[6], a[7]);
    __m128i u0 = _mm_unpacklo_epi16(t0, t1), u1 = _mm_unpackhi_epi16(t0, t1);
    __m128i u2 = _mm_unpacklo_epi16(t2, t3), u3 = _mm_unpackhi_epi16(t2, t3);
    _mm_storeu_si128((__m128i *)(out + 0), _mm_unpacklo_epi32(u0, u2));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi32(u0, u2));
    _mm_storeu_si128((__m128i *)(out + 32), _mm_unpacklo_epi32(u1, u3));
    _mm_storeu_si128((__m128i *)(out + 48), _mm_unpackhi_epi32(u1, u3));
#else
    for (int l = 0; l < 8; l++)
        for (int x = 0; x < 8; x++) out[x * 8 + l] = in[l * 8 + x];
#endif
}

// DCT of every 8x8 block of a rows x cols plane; the selected coefficients go to out[c][by][bx].
MULTIVERSION
static void block_dct(const uint8_t *plane, int cols, int gh, int gw, const int *select, int nsel, int16_t *out) {
    int32_t d[64][LANES];
    size_t area = (size_t)gh * gw;
    for (int by = 0; by < gh; by++) {
        for (int bx0 = 0; bx0 < gw; bx0 += LANES) {
            int n = gw - bx0 < LANES ? gw - bx0 : LANES;
            if (n < LANES) memset(d, 0, sizeof(d));
            for (int y = 0; y < 8; y++) {
                const uint8_t *row = plane + (size_t)(by * 8 + y) * cols + (size_t)bx0 * 8;
                if (n == LANES) {
                    uint8_t t[64]; // t[x * 8 + l] = pixel x of block l in this row
                    transpose8x8(row, t);
                    for (int x = 0; x < 8; x++)
                        for (int l = 0; l < LANES; l++) d[y * 8 + x][l] = (int32_t)t[x * 8 + l] - 128;
                } else {
                    for (int l = 0; l < n; l++)
                        for (int x = 0; x < 8; x++) d[y * 8 + x][l] = (int32_t)row[l * 8 + x] - 128;
                }
            }
            for (int r = 0; r < 8; r++) dct_1d(d, r * 8, 1, 0);
            for (int c = 0; c < 8; c++) dct_1d(d, c, 8, 1);
            for (int s = 0; s < nsel; s++) {
                const int32_t *v = d[select[s]];
                int16_t *o = out + (size_t)s * area + (size_t)by * gw + bx0;
                for (int l = 0; l < n; l++) {
                    int32_t x = v[l];
                    o[l] = (int16_t)(x < 0 ? -((4 - x) >> 3) : (x + 4) >> 3);
                }
            }
        }
    }
}

// Per-thread workspace, grown on demand and kept (dcot-prep calls this once per image per worker).
static __thread uint8_t *workspace = NULL;
static __thread size_t workspace_size = 0;

int cn_dct_input(const uint8_t *rgb, int h, int w, int16_t *out) {
    if (!rgb || !out || h <= 0 || w <= 0) return CN_E_ARG;
    int gh = (h + 3) / 4, gw = (w + 3) / 4;
    int rows = 8 * gh, cols = 8 * gw;
    size_t np = (size_t)rows * cols;
    size_t scratch = 18 * (size_t)w + 18 * (size_t)(2 * w) + 5 * (size_t)(2 * w) + 3 * (size_t)w;
    size_t need = sizeof(int32_t) * scratch + 3 * np + 64;
    if (need > workspace_size) {
        free(workspace);
        workspace = (uint8_t *)malloc(need);
        workspace_size = workspace ? need : 0;
        if (!workspace) return CN_E_NOMEM;
    }
    int32_t *scr = (int32_t *)workspace;
    uint8_t *yp = workspace + sizeof(int32_t) * scratch, *cb = yp + np, *cr = cb + np;
    planes_from_rgb(rgb, h, w, yp, cb, cr, rows, cols, scr);
    size_t area = (size_t)gh * gw;
    block_dct(yp, cols, gh, gw, LUMA_K, 44, out);
    block_dct(cb, cols, gh, gw, CHROMA_K, 10, out + 44 * area);
    block_dct(cr, cols, gh, gw, CHROMA_K, 10, out + 54 * area);
    return CN_OK;
}
