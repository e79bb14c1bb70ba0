#!/usr/bin/env python3
"""Goldens for the DCT input transform (METHOD.md section 3): RGB uint8 [H, W, 3] -> int16 [64, ceil(H/4), ceil(W/4)].

Rerun (plain numpy + scipy are enough; writes Tests/Fixtures/dct/*.safetensors, byte-identical on rerun):
    python3 Scripts/goldens/dct.py
With the reference stack installed (cv2, PyTurboJPEG<2, jpeg2dct; e.g. the venv that `Scripts/bench` makes), the
emulation is also asserted bit-identical to the real pipeline, on the fixtures and on extra random images:
    .venv-bench/bin/python Scripts/goldens/dct.py --verify 40

Two independent implementations live here:
  * `dct_exact`: integer transcription of what the reference computes -- cv2 INTER_LINEAR x2 upscale (11-bit
    weights, the truncating vertical pass cv2 uses for uint8), libjpeg-turbo's fixed-point RGB->YCbCr (jccolor.c),
    h2v2 downsampling with bias 1,2,1,2 (jcsample.c) and edge padding as jcprepct.c does it, the islow integer
    forward DCT (jfdctint.c) and quality-100 quantisation (divide by 8, round half away from zero).
    It is bit-identical to cv2 + TurboJPEG(q100, 4:2:0) + jpeg2dct; the fixtures store it as `dct`.
  * `dct_float`: the textbook version of METHOD section 3 (float colour transform rounded, scipy orthonormal DCT-II
    on level-shifted 8x8 blocks, round half away from zero). Only a cross-check, not stored. With libjpeg's
    fixed-point colour it is within 1 of `dct_exact` (asserted; islow rounding, ~6% of coefficients); with the
    float colour of METHOD it differs more (a flat block whose colour rounds the other way moves DC by 8).
Padding detail (differs from a naive reading of METHOD): chroma is padded to whole blocks by replicating the last
*full-resolution* column before downsampling, but the last *downsampled* row after it (jcprepct.c
expand_bottom_edge on the downsampled output).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import scipy.fft

Y_K = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28, 29,
       32, 33, 34, 35, 36, 37, 40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53]   # natural order k = 8v + u
C_K = [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]                                        # same k for Cb and Cr


# ---------------------------------------------------------------- cv2.resize(x, (2W, 2H), INTER_LINEAR), uint8
def upscale2(img):
    """Bit-exact cv2 INTER_LINEAR x2 of uint8 [H, W, C] (checked against OpenCV 4.5.5, 4.8.1, 4.10.0, 5.0.0).

    Horizontal: weights 0.75/0.25 = 1536/512 of 2048; edges clamp (the edge column is 2048*s = 512*(3s + s)).
    We carry p = 3*near + far (0..1020); cv2's int buffer holds 512*p.
    Vertical (cv2 VResizeLinear<uchar>, SIMD and scalar tail alike): ((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2 >> 2
    with S = 512*p, b0 = 1536 (near row), b1 = 512 (far row, index clamped) == ((3*p_near)>>2) + (p_far>>2) + 2 >> 2.
    """
    s = img.astype(np.int32)
    prev = np.concatenate([s[:, :1], s[:, :-1]], axis=1)
    nxt = np.concatenate([s[:, 1:], s[:, -1:]], axis=1)
    p = np.empty((s.shape[0], 2 * s.shape[1]) + s.shape[2:], np.int32)
    p[:, 0::2] = 3 * s + prev                      # output column 2k   : source k-1 / k  (weights .25/.75)
    p[:, 1::2] = 3 * s + nxt                       # output column 2k+1 : source k / k+1  (weights .75/.25)
    up = np.concatenate([p[:1], p[:-1]], axis=0)
    dn = np.concatenate([p[1:], p[-1:]], axis=0)
    out = np.empty((2 * p.shape[0],) + p.shape[1:], np.int32)
    out[0::2] = (((3 * p) >> 2) + (up >> 2) + 2) >> 2
    out[1::2] = (((3 * p) >> 2) + (dn >> 2) + 2) >> 2
    return out.astype(np.uint8)                    # max is (765 + 255 + 2) >> 2 = 255: no saturation needed


# ---------------------------------------------------------------- shared plumbing
def pad_edge(plane, rows, cols):
    return np.pad(plane, ((0, rows - plane.shape[0]), (0, cols - plane.shape[1])), mode="edge")


def downsample_h2v2(plane, block_rows, block_cols):
    """libjpeg h2v2_downsample + jcprepct padding: full-res plane [2h, 2w] (even height) -> [8*block_rows, 8*block_cols]."""
    cols = 8 * block_cols
    q = pad_edge(plane.astype(np.int32), plane.shape[0], 2 * cols)      # expand_right_edge on full-res rows
    s = q[0::2, 0::2] + q[0::2, 1::2] + q[1::2, 0::2] + q[1::2, 1::2]
    bias = np.where(np.arange(cols) % 2 == 0, 1, 2)                     # 1, 2, 1, 2, ... per output column
    return pad_edge((s + bias) >> 2, 8 * block_rows, cols)             # expand_bottom_edge on downsampled rows


def blocks(plane):
    """[8*bh, 8*bw] -> level-shifted [bh, bw, 8(y), 8(x)] int64."""
    bh, bw = plane.shape[0] // 8, plane.shape[1] // 8
    return plane.astype(np.int64).reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3) - 128


def planes_to_tensor(y, cb, cr):
    """[bh, bw, 64] x 3 (natural order) -> int16 [64, bh, bw]: Y (44), Cb (10), Cr (10)."""
    return np.concatenate([y[..., Y_K], cb[..., C_K], cr[..., C_K]], axis=-1).transpose(2, 0, 1).astype(np.int16)


def transform(rgb, colour, dct):
    h, w, _ = rgb.shape
    bh, bw = -(-h // 4), -(-w // 4)
    u2 = upscale2(rgb)
    u4 = upscale2(u2)
    y = colour(u2)[0]                               # Y from U2 (2H x 2W), Cb/Cr from U4 (4H x 4W)
    _, cb, cr = colour(u4)
    return planes_to_tensor(dct(pad_edge(y, 8 * bh, 8 * bw)),
                            dct(downsample_h2v2(cb, bh, bw)),
                            dct(downsample_h2v2(cr, bh, bw)))


# ---------------------------------------------------------------- exact: libjpeg-turbo integer arithmetic
def ycc_fixed(rgb):
    """jccolor.c rgb_ycc_convert: SCALEBITS 16, FIX(x) = round(x * 65536); chroma rounds with 0.5 - epsilon."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 32767) >> 16
    return y, cb, cr


CONST_BITS, PASS1_BITS = 13, 2
FIX_0_298631336, FIX_0_390180644, FIX_0_541196100, FIX_0_765366865 = 2446, 3196, 4433, 6270
FIX_0_899976223, FIX_1_175875602, FIX_1_501321110, FIX_1_847759065 = 7373, 9633, 12299, 15137
FIX_1_961570560, FIX_2_053119869, FIX_2_562915447, FIX_3_072711026 = 16069, 16819, 20995, 25172


def _descale(x, n):
    return (x + (1 << (n - 1))) >> n


def _islow_1d(d, first_pass):
    """jfdctint.c jpeg_fdct_islow, one pass along the last axis."""
    d0, d1, d2, d3, d4, d5, d6, d7 = (d[..., i] for i in range(8))
    tmp0, tmp7, tmp1, tmp6 = d0 + d7, d0 - d7, d1 + d6, d1 - d6
    tmp2, tmp5, tmp3, tmp4 = d2 + d5, d2 - d5, d3 + d4, d3 - d4
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    if first_pass:
        o0, o4, sh = (tmp10 + tmp11) << PASS1_BITS, (tmp10 - tmp11) << PASS1_BITS, CONST_BITS - PASS1_BITS
    else:
        o0, o4, sh = _descale(tmp10 + tmp11, PASS1_BITS), _descale(tmp10 - tmp11, PASS1_BITS), CONST_BITS + PASS1_BITS
    z1 = (tmp12 + tmp13) * FIX_0_541196100
    o2 = _descale(z1 + tmp13 * FIX_0_765366865, sh)
    o6 = _descale(z1 - tmp12 * FIX_1_847759065, sh)
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * FIX_1_175875602
    tmp4, tmp5 = tmp4 * FIX_0_298631336, tmp5 * FIX_2_053119869
    tmp6, tmp7 = tmp6 * FIX_3_072711026, tmp7 * FIX_1_501321110
    z1, z2 = z1 * -FIX_0_899976223, z2 * -FIX_2_562915447
    z3, z4 = z3 * -FIX_1_961570560 + z5, z4 * -FIX_0_390180644 + z5
    o7, o5 = _descale(tmp4 + z1 + z3, sh), _descale(tmp5 + z2 + z4, sh)
    o3, o1 = _descale(tmp6 + z2 + z3, sh), _descale(tmp7 + z1 + z4, sh)
    return np.stack([o0, o1, o2, o3, o4, o5, o6, o7], axis=-1)


def dct_islow(plane):
    """[8bh, 8bw] -> [bh, bw, 64]: islow output is 8x the orthonormal DCT; q100 divides by 8, half away from zero."""
    b = blocks(plane)
    rows = _islow_1d(b, True)
    f = _islow_1d(rows.swapaxes(-1, -2), False).swapaxes(-1, -2)       # [.., v, u]
    q = np.sign(f) * ((np.abs(f) + 4) >> 3)
    return q.reshape(b.shape[0], b.shape[1], 64)


def dct_exact(rgb):
    return transform(rgb, ycc_fixed, dct_islow)


# ---------------------------------------------------------------- float: METHOD section 3 as written
def round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def ycc_float(rgb):
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(np.clip(np.floor(c + 0.5), 0, 255) for c in (y, cb, cr))


def dct_ortho(plane):
    b = blocks(plane).astype(np.float64)
    f = scipy.fft.dctn(b, type=2, norm="ortho", axes=(-2, -1))          # = 1/4 C(u) C(v) sum ... (JPEG FDCT)
    return round_half_away(f).astype(np.int64).reshape(b.shape[0], b.shape[1], 64)


def dct_float(rgb, colour=ycc_float):
    return transform(rgb, colour, dct_ortho)


# ---------------------------------------------------------------- optional reference (cv2 + TurboJPEG + jpeg2dct)
def load_reference():
    try:
        import cv2
    except ImportError:
        return None, None
    try:
        from turbojpeg import TurboJPEG
        import jpeg2dct.numpy as j2d
        lib = "/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"
        tj = TurboJPEG(lib) if os.path.exists(lib) else TurboJPEG()
    except Exception as e:                                # PyTurboJPEG 2.x refuses libjpeg-turbo 2.x, etc.
        print(f"note: reference JPEG path unavailable ({type(e).__name__}: {e}); checking cv2 only", file=sys.stderr)
        return cv2, None

    def reference(rgb):
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        u2 = cv2.resize(bgr, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        u4 = cv2.resize(u2, (4 * w, 4 * h), interpolation=cv2.INTER_LINEAR)
        y = j2d.loads(tj.encode(u2, quality=100, jpeg_subsample=2))[0]
        _, cb, cr = j2d.loads(tj.encode(u4, quality=100, jpeg_subsample=2))
        return planes_to_tensor(y, cb, cr)
    return cv2, reference


# ---------------------------------------------------------------- safetensors writer
def write_safetensors(path, tensors, metadata):
    dtypes = {np.dtype(np.uint8): "U8", np.dtype(np.int16): "I16"}
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)                                            # align data to 8 bytes, as safetensors does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def gradient(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / max(w - 1, 1)
    g = 255 * yy / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin((xx + 2 * yy) / 5)
    return np.stack([r, g, b], -1).round().astype(np.uint8)


CASES = [  # (name, H, W): H mod 4 covers 1, 3, 1, 0, 1, 2
    ("rand_1x1", 1, 1), ("rand_7x13", 7, 13), ("rand_33x20", 33, 20), ("rand_32x32", 32, 32),
    ("rand_81x97", 81, 97), ("gradient_30x42", 30, 42),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Tests/Fixtures/dct"))
    ap.add_argument("--verify", type=int, default=0, help="extra random images to check against the reference stack")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    cv2, reference = load_reference()
    rng = np.random.default_rng(20231002)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, h, w in CASES:
        img = gradient(h, w) if name.startswith("gradient") else rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        up2, exact = upscale2(img), dct_exact(img)
        assert exact.shape == (64, -(-h // 4), -(-w // 4)) and exact.dtype == np.int16
        diff = np.abs(exact.astype(np.int32) - dct_float(img, ycc_fixed))
        assert diff.max() <= 1, (name, diff.max())                       # islow vs exact DCT: off by one at most
        cdiff = np.abs(exact.astype(np.int32) - dct_float(img))          # METHOD's float colour as well
        checked = []
        if cv2 is not None:
            assert np.array_equal(up2, cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)), name
            checked.append("cv2 up2")
        if reference is not None:
            assert np.array_equal(exact, reference(img)), name
            checked.append("reference dct")
        meta = {"generated_by": "Scripts/goldens/dct.py", "case": name, "height": str(h), "width": str(w),
                "image": "RGB uint8 [H, W, 3]",
                "up2": "cv2.resize(image, (2W, 2H), INTER_LINEAR), uint8 [2H, 2W, 3] (channel order irrelevant)",
                "dct": "int16 [64, ceil(H/4), ceil(W/4)], un-normalised; Y k=" + ",".join(map(str, Y_K))
                       + " from U2, then Cb and Cr k=" + ",".join(map(str, C_K)) + " from U4; bit-identical to "
                       "cv2 + TurboJPEG q100 4:2:0 (islow) + jpeg2dct.numpy.loads",
                "float_dct_mismatches": f"{int((diff > 0).sum())} of {diff.size} coefficients differ (by 1) from an "
                                        f"orthonormal float DCT; {int((cdiff > 0).sum())} (max {int(cdiff.max())}) "
                                        "if the colour transform is float too"}
        path = os.path.join(args.out, name + ".safetensors")
        if not args.no_write:
            write_safetensors(path, {"image": img, "up2": up2, "dct": exact}, meta)
            total += os.path.getsize(path)
        print(f"{name}: dct {exact.shape}; float DCT differs in {int((diff > 0).sum())}/{diff.size}, "
              f"float DCT + float colour in {int((cdiff > 0).sum())} (max {int(cdiff.max())}); "
              f"checked: {', '.join(checked) or 'nothing (no cv2)'}")
    if not args.no_write:
        print(f"wrote {len(CASES)} files, {total} bytes, to {os.path.normpath(args.out)}")
    if args.verify:
        if reference is None:
            sys.exit("--verify needs cv2, PyTurboJPEG<2 and jpeg2dct")
        for i in range(args.verify):
            h, w = (int(x) for x in rng.integers(1, 200, 2))
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            assert np.array_equal(dct_exact(img), reference(img)), (i, h, w)
        print(f"verify: {args.verify} extra random images bit-identical to the reference pipeline")


if __name__ == "__main__":
    main()
