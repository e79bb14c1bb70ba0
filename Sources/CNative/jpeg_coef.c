// A JPEG file's own DCT coefficients through libjpeg's jpeg_read_coefficients (what jpeg2dct does).
// libjpeg reports fatal errors by longjmp: the jump target lives here, never in a Swift frame.
#include "CNative.h"
#include <stdio.h> // jpeglib.h needs FILE
#include <setjmp.h>
#include <jpeglib.h>
#include <string.h>

typedef struct {
    struct jpeg_error_mgr pub; // must be first: libjpeg casts cinfo->err to this struct
    jmp_buf jump;
    char *err;
    size_t errlen;
} cn_jpeg_error;

static void jpeg_on_error(j_common_ptr cinfo) {
    cn_jpeg_error *e = (cn_jpeg_error *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, msg);
    if (e->err && e->errlen) snprintf(e->err, e->errlen, "%s", msg);
    longjmp(e->jump, 1);
}
static void jpeg_on_message(j_common_ptr cinfo) { (void)cinfo; } // warnings are counted, not printed

static void fill_info(struct jpeg_decompress_struct *cinfo, cn_jpeg_coef_info *info) {
    memset(info, 0, sizeof(*info));
    info->image_width = (int)cinfo->image_width;
    info->image_height = (int)cinfo->image_height;
    info->num_components = cinfo->num_components;
    info->color_space = (int)cinfo->jpeg_color_space;
    info->progressive = cinfo->progressive_mode ? 1 : 0;
    for (int c = 0; c < cinfo->num_components && c < 3; c++) {
        jpeg_component_info *comp = &cinfo->comp_info[c];
        info->h_samp[c] = comp->h_samp_factor;
        info->v_samp[c] = comp->v_samp_factor;
        info->blocks_w[c] = (int)comp->width_in_blocks;
        info->blocks_h[c] = (int)comp->height_in_blocks;
        JQUANT_TBL *q = comp->quant_table ? comp->quant_table : cinfo->quant_tbl_ptrs[comp->quant_tbl_no];
        for (int k = 0; k < 64; k++) info->quant[c][k] = q ? q->quantval[k] : 1; // natural order
    }
    info->num_warnings = (int)cinfo->err->num_warnings;
}

int cn_jpeg_coef_header(const uint8_t *data, size_t len, cn_jpeg_coef_info *info, char *err, size_t errlen) {
    int16_t *planes[3] = {NULL, NULL, NULL};
    size_t caps[3] = {0, 0, 0};
    return cn_jpeg_read_coefs(data, len, -1, planes, caps, info, err, errlen);
}

// flags < 0: header only.
int cn_jpeg_read_coefs(const uint8_t *data, size_t len, int flags, int16_t *planes[3], const size_t caps[3],
                       cn_jpeg_coef_info *info, char *err, size_t errlen) {
    if (!data || !info) return CN_E_ARG;
    if (err && errlen) err[0] = 0;
    if (len < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        if (err) snprintf(err, errlen, "not a JPEG file (no SOI marker)");
        return CN_E_DECODE;
    }
    struct jpeg_decompress_struct cinfo;
    cn_jpeg_error jerr;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_on_error;
    jerr.pub.output_message = jpeg_on_message;
    jerr.err = err;
    jerr.errlen = errlen;
    volatile int code = CN_E_DECODE;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return code;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (flags < 0) {
        fill_info(&cinfo, info);
        jpeg_destroy_decompress(&cinfo);
        return CN_OK;
    }
    jvirt_barray_ptr *arrays = jpeg_read_coefficients(&cinfo);
    fill_info(&cinfo, info);
    int ncomp = cinfo.num_components < 3 ? cinfo.num_components : 3;
    for (int c = 0; c < ncomp; c++) {
        int16_t *dst = planes[c];
        if (!dst) continue;
        jpeg_component_info *comp = &cinfo.comp_info[c];
        size_t bw = comp->width_in_blocks, bh = comp->height_in_blocks;
        if (caps[c] < bw * bh * 64) {
            if (err) snprintf(err, errlen, "coefficient buffer %d too small", c);
            code = CN_E_CAPACITY;
            longjmp(jerr.jump, 1);
        }
        const uint16_t *q = info->quant[c];
        for (JDIMENSION row = 0; row < bh; row++) {
            JBLOCKARRAY rows = (*cinfo.mem->access_virt_barray)((j_common_ptr)&cinfo, arrays[c], row, 1, FALSE);
            JBLOCKROW blocks = rows[0];
            int16_t *out = dst + (size_t)row * bw * 64;
            for (JDIMENSION b = 0; b < bw; b++) {
                const JCOEF *coef = blocks[b];
                if (flags & CN_DCT_DEQUANTIZE) {
                    for (int k = 0; k < 64; k++) out[b * 64 + k] = (int16_t)(coef[k] * (int)q[k]);
                } else {
                    memcpy(out + b * 64, coef, 64 * sizeof(int16_t));
                }
            }
        }
    }
    info->num_warnings = (int)cinfo.err->num_warnings;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return CN_OK;
}
