#!/usr/bin/env python3
"""Pillow goldens for the weak augmentation's resizes (Tests/ImageIOTests/PILResizeTests):
Image.resize(BILINEAR) of RGB images (shrinking = antialiased, enlarging, one axis only) and
Image.resize(NEAREST) of palette masks, on odd sizes.

Rerun (needs Pillow; e.g. .venv-test/bin/python or .venv-bench/bin/python):
    python Scripts/goldens/augment.py      (writes Tests/Fixtures/augment/resize.safetensors)
"""
import json, os, struct
import numpy as np
from PIL import Image
import PIL

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "augment", "resize.safetensors")
CASES = [((37, 23), (18, 11)), ((37, 23), (80, 51)), ((37, 23), (37, 50)), ((37, 23), (11, 23)),
         ((50, 40), (25, 20)), ((31, 47), (62, 93)), ((64, 48), (13, 97)), ((5, 3), (160, 96))]


def main():
    rng = np.random.default_rng(11)
    tensors = {}
    for n, ((w, h), (ow, oh)) in enumerate(CASES):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[: h // 2] = (np.linspace(0, 255, w)[None, :, None] * np.ones((h // 2, 1, 3))).astype(np.uint8)
        mask = rng.integers(0, 21, (h, w)).astype(np.uint8)
        mask[::4] = 255
        m = Image.fromarray(mask, "L").convert("P")
        m.putpalette(sum(([i, i, i] for i in range(256)), []))
        tensors[f"image{n}"] = img
        tensors[f"bilinear{n}"] = np.array(Image.fromarray(img).resize((ow, oh), Image.BILINEAR))
        tensors[f"mask{n}"] = mask
        tensors[f"nearest{n}"] = np.array(m.resize((ow, oh), Image.NEAREST))
    meta = {"generated_by": "Scripts/goldens/augment.py", "pillow": PIL.__version__, "cases": str(len(CASES))}
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode(); hj += b" " * ((8 - len(hj) % 8) % 8)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    open(OUT, "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


if __name__ == "__main__":
    main()
