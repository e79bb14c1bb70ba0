#!/usr/bin/env python3
"""Writes scikit-image's sample photographs as JPEGs (several encoders' settings) for the tests that
run dcot-prep and the DCT cross-check on real photos. Generated at test time, never committed.

Usage: python3 Scripts/real_photos.py OUT_DIR     (writes OUT_DIR/JPEGImages/*.jpg and OUT_DIR/unlabeled.txt)
"""
import os, sys
import numpy as np
from PIL import Image
import skimage.data as data

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry"]
# (suffix, PIL save options): Pillow's libjpeg with 4:2:0, 4:4:4, 4:2:2, progressive, greyscale.
VARIANTS = [("q90_420", dict(quality=90, subsampling=2)), ("q95_444", dict(quality=95, subsampling=0)),
            ("q75_422", dict(quality=75, subsampling=1)), ("q85_prog", dict(quality=85, progressive=True))]


def main(out):
    os.makedirs(os.path.join(out, "JPEGImages"), exist_ok=True)
    lines = []
    for name in PHOTOS:
        try:
            img = getattr(data, name)()
        except Exception as e:  # a sample that needs a download (pooch) is skipped
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        img = np.ascontiguousarray(img)
        variants = [("gray", dict(quality=90))] if img.ndim == 2 else VARIANTS
        for i, (tag, opts) in enumerate(variants):
            # Odd crops so block and MCU edges are exercised.
            h, w = img.shape[:2]
            crop = img[: h - (7 * i) % 16 - 1, : w - (5 * i) % 16 - 3]
            stem = f"{name}_{tag}"
            Image.fromarray(crop).save(os.path.join(out, "JPEGImages", stem + ".jpg"), **opts)
            lines.append(f"JPEGImages/{stem}.jpg")
    with open(os.path.join(out, "unlabeled.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(len(lines))


if __name__ == "__main__":
    main(sys.argv[1])
