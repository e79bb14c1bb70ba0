// libpng driven from C so its longjmp error path stays out of Swift frames.
// One setjmp per exported function; warnings are counted, not printed.
#include "CNative.h"
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char *err;
    size_t errlen;
    int warnings;
} png_reader;

static void on_error(png_structp png, png_const_charp msg) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r && r->err && r->errlen) snprintf(r->err, r->errlen, "%s", msg);
    png_longjmp(png, 1);
}
static void on_warning(png_structp png, png_const_charp msg) {
    (void)msg;
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r) r->warnings++;
}
static void on_read(png_structp png, png_bytep out, png_size_t n) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (r->pos + n > r->len) png_error(png, "unexpected end of PNG data (file truncated)");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

int cn_png_read(const uint8_t *data, size_t len, uint8_t *dst, size_t dst_capacity,
                cn_png_info *info, char *err, size_t errlen) {
    if (!data || !info) return CN_E_ARG;
    if (err && errlen) err[0] = 0;
    if (len < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        if (err) snprintf(err, errlen, "not a PNG file (bad signature)");
        return CN_E_DECODE;
    }
    png_reader r = {data, len, 0, err, errlen, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    if (!png) return CN_E_NOMEM;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct(&png, NULL, NULL); return CN_E_NOMEM; }
    png_bytep *volatile rows = NULL;
    volatile int code = CN_E_DECODE;
    if (setjmp(png_jmpbuf(png))) {
        if (rows) free((void *)rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return code;
    }
    png_set_read_fn(png, &r, on_read);
    png_set_user_limits(png, 65535, 65535);
    png_read_info(png, pinfo);
    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    memset(info, 0, sizeof(*info));
    info->width = w; info->height = h; info->bit_depth = bit_depth;
    info->has_trns = png_get_valid(png, pinfo, PNG_INFO_tRNS) ? 1 : 0;
    switch (color_type) {
    case PNG_COLOR_TYPE_PALETTE: {
        info->kind = CN_PNG_PALETTE; info->channels = 1;
        png_colorp pal = NULL; int n = 0;
        if (png_get_PLTE(png, pinfo, &pal, &n) && pal) {
            info->num_palette = n;
            for (int i = 0; i < n && i < 256; i++) {
                info->palette[3 * i] = pal[i].red; info->palette[3 * i + 1] = pal[i].green;
                info->palette[3 * i + 2] = pal[i].blue;
            }
        }
        if (bit_depth < 8) png_set_packing(png); // unpack, values unchanged
        break;
    }
    case PNG_COLOR_TYPE_GRAY:
        info->kind = CN_PNG_GRAY; info->channels = 1;
        if (bit_depth < 8) png_set_packing(png); // not expand_gray (that rescales)
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        info->kind = CN_PNG_GRAY_ALPHA; info->channels = 1;
        png_set_strip_alpha(png);
        break;
    case PNG_COLOR_TYPE_RGB:
        info->kind = CN_PNG_RGB; info->channels = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        info->kind = CN_PNG_RGBA; info->channels = 4; break;
    default:
        if (err) snprintf(err, errlen, "unsupported PNG colour type %d", color_type);
        code = CN_E_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    if (bit_depth == 16) {
        if (err) snprintf(err, errlen, "16-bit PNG is not supported (labels and images must be 8-bit)");
        code = CN_E_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    if (!dst) {
        info->num_warnings = r.warnings;
        png_destroy_read_struct(&png, &pinfo, NULL);
        return CN_OK;
    }
    size_t rowbytes_expected = (size_t)w * (size_t)info->channels;
    if (dst_capacity < rowbytes_expected * h) {
        if (err) snprintf(err, errlen, "output buffer too small");
        code = CN_E_CAPACITY;
        png_longjmp(png, 1);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    if (png_get_rowbytes(png, pinfo) != rowbytes_expected) {
        if (err) snprintf(err, errlen, "unexpected PNG row size");
        code = CN_E_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (h ? h : 1));
    if (!rows) { code = CN_E_NOMEM; png_longjmp(png, 1); }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = dst + (size_t)y * rowbytes_expected;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free((void *)rows);
    info->num_warnings = r.warnings;
    png_destroy_read_struct(&png, &pinfo, NULL);
    return CN_OK;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int failed;
} png_writer;

static void on_write(png_structp png, png_bytep data, png_size_t n) {
    png_writer *wr = (png_writer *)png_get_io_ptr(png);
    if (wr->len + n > wr->cap) {
        size_t cap = wr->cap ? wr->cap * 2 : 4096;
        while (cap < wr->len + n) cap *= 2;
        uint8_t *nb = (uint8_t *)realloc(wr->buf, cap);
        if (!nb) { wr->failed = 1; png_error(png, "out of memory"); }
        wr->buf = nb; wr->cap = cap;
    }
    memcpy(wr->buf + wr->len, data, n);
    wr->len += n;
}
static void on_flush(png_structp png) { (void)png; }

static int png_write_common(const uint8_t *pixels, uint32_t w, uint32_t h, int color_type, int channels,
                            const uint8_t *palette_rgb, int num_palette, int level,
                            uint8_t **out, size_t *out_len, char *err, size_t errlen) {
    if (!pixels || !out || !out_len || w == 0 || h == 0) return CN_E_ARG;
    if (err && errlen) err[0] = 0;
    png_reader r = {NULL, 0, 0, err, errlen, 0};
    png_writer wr = {NULL, 0, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    if (!png) return CN_E_NOMEM;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_write_struct(&png, NULL); return CN_E_NOMEM; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &pinfo);
        free(wr.buf);
        return CN_E_ENCODE;
    }
    png_set_write_fn(png, &wr, on_write, on_flush);
    png_set_compression_level(png, level);
    png_set_IHDR(png, pinfo, w, h, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        int n = num_palette > 256 ? 256 : num_palette;
        for (int i = 0; i < n; i++) {
            pal[i].red = palette_rgb[3 * i]; pal[i].green = palette_rgb[3 * i + 1];
            pal[i].blue = palette_rgb[3 * i + 2];
        }
        png_set_PLTE(png, pinfo, pal, n);
    }
    png_write_info(png, pinfo);
    size_t stride = (size_t)w * (size_t)channels;
    for (uint32_t y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(png, pinfo);
    png_destroy_write_struct(&png, &pinfo);
    *out = wr.buf;
    *out_len = wr.len;
    return CN_OK;
}

int cn_png_write_palette(const uint8_t *indices, uint32_t w, uint32_t h, const uint8_t *palette_rgb,
                         int num_palette, int level, uint8_t **out, size_t *out_len, char *err, size_t errlen) {
    if (!palette_rgb || num_palette < 1 || num_palette > 256) return CN_E_ARG;
    return png_write_common(indices, w, h, PNG_COLOR_TYPE_PALETTE, 1, palette_rgb, num_palette, level, out,
                            out_len, err, errlen);
}

int cn_png_write(const uint8_t *pixels, uint32_t w, uint32_t h, int channels, int level, uint8_t **out,
                 size_t *out_len, char *err, size_t errlen) {
    int ct = channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : -1;
    if (ct < 0) return CN_E_ARG;
    return png_write_common(pixels, w, h, ct, channels, NULL, 0, level, out, out_len, err, errlen);
}

void cn_free(void *p) { free(p); }
