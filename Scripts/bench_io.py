#!/usr/bin/env python3
"""Reference-side I/O timings (single thread): the DCT input pipeline of the reference code and a JPEG decode.

Run through `Scripts/bench io` (makes .venv-bench), or directly: .venv-bench/bin/python Scripts/bench_io.py [--runs N]
Prints one JSON line per measurement: {"name": "reference_<what>", "image": ..., "ms_per_image": median, "ms_min": ...}.
Needs numpy, opencv-python-headless, PyTurboJPEG<2 (libjpeg-turbo 2.x), jpeg2dct, scikit-image (for the photo).
"""
import argparse
import json
import os
import time

import cv2
import numpy as np
import jpeg2dct.numpy as j2d
from turbojpeg import TurboJPEG, TJSAMP_420

Y_K = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28, 29,
       32, 33, 34, 35, 36, 37, 40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53]
C_K = [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]
LIB = "/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"
H, W = 375, 500                                   # VOC val size (W x H = 500 x 375)


def photo():
    """skimage coffee (400x600), centre crop to 375x500: a real photo at the VOC size."""
    from skimage import data
    p = data.coffee()
    y0, x0 = (p.shape[0] - H) // 2, (p.shape[1] - W) // 2
    return np.ascontiguousarray(p[y0:y0 + H, x0:x0 + W, :3])


def make_pipeline(tj):
    """dataset/dct_transform.py DCTTransform without the normalisation: RGB uint8 -> int16 [64, H/4, W/4]."""
    def run(rgb):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        u2 = cv2.resize(bgr, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        u4 = cv2.resize(u2, (4 * w, 4 * h), interpolation=cv2.INTER_LINEAR)
        y = j2d.loads(tj.encode(u2, quality=100, jpeg_subsample=TJSAMP_420))[0]
        _, cb, cr = j2d.loads(tj.encode(u4, quality=100, jpeg_subsample=TJSAMP_420))
        return np.concatenate([y[..., Y_K], cb[..., C_K], cr[..., C_K]], axis=-1).transpose(2, 0, 1).copy()
    return run


def timeit(fn, runs, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts)), float(np.min(ts))


def emit(name, image, runs, med, mn, **extra):
    print(json.dumps({"name": name, "image": image, "ms_per_image": round(med, 4), "ms_min": round(mn, 4),
                      "runs": runs, "threads": 1, **extra}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 30)))
    ap.add_argument("--stages", action="store_true", help="also time each stage of the DCT pipeline")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    tj = TurboJPEG(LIB if os.path.exists(LIB) else None)
    pipeline = make_pipeline(tj)
    images = {"photo_500x375": photo(),
              "random_500x375": np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)}
    for tag, img in images.items():
        out = pipeline(img)
        assert out.shape == (64, -(-H // 4), -(-W // 4)) and out.dtype == np.int16
        emit("reference_dct_pipeline", tag, args.runs, *timeit(lambda: pipeline(img), args.runs))
        if args.stages:
            bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            u2 = cv2.resize(bgr, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR)
            u4 = cv2.resize(u2, (4 * W, 4 * H), interpolation=cv2.INTER_LINEAR)
            b2 = tj.encode(u2, quality=100, jpeg_subsample=TJSAMP_420)
            b4 = tj.encode(u4, quality=100, jpeg_subsample=TJSAMP_420)
            stages = {
                "upscale_x2": lambda: cv2.resize(bgr, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR),
                "upscale_x4_from_x2": lambda: cv2.resize(u2, (4 * W, 4 * H), interpolation=cv2.INTER_LINEAR),
                "encode_q100_u2": lambda: tj.encode(u2, quality=100, jpeg_subsample=TJSAMP_420),
                "encode_q100_u4": lambda: tj.encode(u4, quality=100, jpeg_subsample=TJSAMP_420),
                "jpeg2dct_loads_u2": lambda: j2d.loads(b2),
                "jpeg2dct_loads_u4": lambda: j2d.loads(b4),
            }
            for stage, fn in stages.items():
                emit("reference_stage_" + stage, tag, args.runs, *timeit(fn, args.runs))
    # For scale: a plain JPEG read of the same photo (q90 4:2:0), to RGB pixels and to DCT coefficients.
    jpg = tj.encode(cv2.cvtColor(images["photo_500x375"], cv2.COLOR_RGB2BGR), quality=90, jpeg_subsample=TJSAMP_420)
    emit("reference_jpeg_decode", "photo_500x375_q90", args.runs,
         *timeit(lambda: tj.decode(jpg), args.runs), bytes=len(jpg), via="PyTurboJPEG decode (tjDecompress2, BGR)")
    emit("reference_jpeg2dct_load", "photo_500x375_q90", args.runs,
         *timeit(lambda: j2d.loads(jpg), args.runs), bytes=len(jpg), via="jpeg2dct.numpy.loads (normalized)")


if __name__ == "__main__":
    main()
