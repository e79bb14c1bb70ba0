#!/usr/bin/env python3
"""mIoU goldens for Tests/MetricsTests: random predictions and targets for several images (ignore
pixels, a class absent from the ground truth, a class absent everywhere), scored by an independent
numpy transcription of the reference's intersectionAndUnion accumulated over the set.

Rerun: python3 Scripts/goldens/metrics.py   (writes Tests/Fixtures/metrics/miou.safetensors)
"""
import json, os, struct
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "metrics", "miou.safetensors")
K = 7


def intersection_and_union(output, target, k, ignore=255):
    output = output.copy()
    output[target == ignore] = ignore
    inter = output[output == target]
    ai = np.histogram(inter, bins=k, range=(0, k - 1))[0]
    ao = np.histogram(output, bins=k, range=(0, k - 1))[0]
    at = np.histogram(target, bins=k, range=(0, k - 1))[0]
    return ai, ao + at - ai, at


def main():
    rng = np.random.default_rng(5)
    tensors, I, U, T = {}, np.zeros(K, np.int64), np.zeros(K, np.int64), np.zeros(K, np.int64)
    for n in range(4):
        h, w = rng.integers(5, 40, 2)
        target = rng.choice([0, 1, 2, 3, 4, 255], size=(h, w), p=[.3, .2, .2, .1, .1, .1]).astype(np.uint8)  # 5 absent from gt
        pred = target.copy()
        flip = rng.random((h, w)) < 0.35
        pred[flip] = rng.choice([0, 1, 2, 3, 4, 5], size=flip.sum())  # 6 is absent everywhere
        pred[target == 255] = rng.integers(0, K, size=(target == 255).sum())
        tensors[f"pred{n}"], tensors[f"target{n}"] = pred, target
        i, u, t = intersection_and_union(pred.reshape(-1), target.reshape(-1), K)
        I += i; U += u; T += t
    iou = I / (U + 1e-10)
    tensors["intersection"], tensors["union"] = I, U
    meta = {"generated_by": "Scripts/goldens/metrics.py", "miou": repr(float(100 * iou.mean())),
            "pixel_accuracy": repr(float(I.sum() / T.sum())), "classes": str(K), "images": "4"}
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "U8" if a.dtype == np.uint8 else "I64", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode(); hj += b" " * ((8 - len(hj) % 8) % 8)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    open(OUT, "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


if __name__ == "__main__":
    main()
