#!/usr/bin/env python3
"""Makes a VOC-sized set of real-photo JPEGs for `Scripts/bench prep`: N random 500x375 crops (with
flips and scalings) of scikit-image's sample photographs, saved at quality 90, 4:2:0, plus a list.

Usage: python Scripts/bench_prep_data.py OUT_DIR [N]
"""
import os, sys
import numpy as np
from PIL import Image
import skimage.data as data

def main(out, n):
    os.makedirs(os.path.join(out, "JPEGImages"), exist_ok=True)
    photos = [getattr(data, k)() for k in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")]
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        p = Image.fromarray(photos[i % len(photos)][..., :3])
        s = rng.uniform(1.0, 1.6)
        p = p.resize((max(500, int(p.width * s)), max(375, int(p.height * s))), Image.BILINEAR)
        x, y = rng.integers(0, p.width - 500 + 1), rng.integers(0, p.height - 375 + 1)
        c = p.crop((x, y, x + 500, y + 375))
        if rng.random() < 0.5:
            c = c.transpose(Image.FLIP_LEFT_RIGHT)
        name = f"photo_{i:05d}"
        c.save(os.path.join(out, "JPEGImages", name + ".jpg"), quality=90, subsampling=2)
        lines.append(f"JPEGImages/{name}.jpg")
    open(os.path.join(out, "list.txt"), "w").write("\n".join(lines) + "\n")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400)
