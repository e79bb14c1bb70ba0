#!/usr/bin/env python3
"""Pillow goldens for the augmentations (Tests/ImageIOTests/PILResizeTests, PILColorTests):
weak: Image.resize(BILINEAR) of RGB images (shrinking = antialiased, enlarging, one axis only) and
Image.resize(NEAREST) of palette masks, on odd sizes; strong: Brightness/Contrast/Color enhancers,
torchvision's PIL adjust_hue, convert("L") and GaussianBlur.

Rerun (needs Pillow; e.g. .venv-test/bin/python or .venv-bench/bin/python):
    python Scripts/goldens/augment.py      (writes Tests/Fixtures/augment/{resize,strong}.safetensors)
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



# ---- strong (photometric) augmentation ops ------------------------------------------------------
def strong_goldens():
    """Pillow/torchvision-semantics outputs of each photometric op on random and photo-like crops."""
    from PIL import ImageEnhance, ImageFilter
    rng = np.random.default_rng(12)
    tensors = {}
    h, w = 29, 41
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    img[: h // 2] = np.stack([xx * 6, yy * 8, (xx + yy) * 3], -1)[: h // 2].clip(0, 255).astype(np.uint8)
    pil = Image.fromarray(img)
    tensors["input"] = img
    factors = [0.5, 0.73, 1.0, 1.21, 1.5]
    for i, f in enumerate(factors):
        tensors[f"brightness{i}"] = np.array(ImageEnhance.Brightness(pil).enhance(f))
        tensors[f"contrast{i}"] = np.array(ImageEnhance.Contrast(pil).enhance(f))
        tensors[f"saturation{i}"] = np.array(ImageEnhance.Color(pil).enhance(f))
    hues = [-0.25, -0.1, 0.0, 0.07, 0.25]
    for i, hf in enumerate(hues):  # torchvision.transforms.functional_pil.adjust_hue
        hch, s, v = pil.convert("HSV").split()
        np_h = np.array(hch, dtype=np.uint8)
        with np.errstate(over="ignore"):
            np_h += np.array(hf * 255).astype(np.uint8)
        tensors[f"hue{i}"] = np.array(Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB"))
    tensors["gray"] = np.array(pil.convert("L"))
    sigmas = [0.1, 0.37, 0.9, 1.42, 2.0]
    for i, sg in enumerate(sigmas):
        tensors[f"blur{i}"] = np.array(pil.filter(ImageFilter.GaussianBlur(radius=sg)))
    meta = {"generated_by": "Scripts/goldens/augment.py", "pillow": PIL.__version__,
            "factors": ",".join(map(repr, factors)), "hues": ",".join(map(repr, hues)), "sigmas": ",".join(map(repr, sigmas))}
    write(os.path.join(os.path.dirname(OUT), "strong.safetensors"), tensors, meta)


def write(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode(); hj += b" " * ((8 - len(hj) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


if __name__ == "__main__":
    main()
    strong_goldens()
