#!/usr/bin/env python3
"""PyTorch CPU side of `Scripts/bench eval`: DeepLabv3+ (the architecture of Scripts/goldens/models.py,
built from the same YAML config) in eval mode on VOC-sized images, batch 1, mode 'original'
(whole image, logits upsampled to the image, softmax, argmax), images/s at a given thread count.
It also saves its random weights (for dcot-eval to load through Scripts/torch2safetensors.py) and
its predictions, so the caller can check that both sides predict the same classes.

    python Scripts/bench_eval.py --config C.yaml --images DIR --threads 2 --weights W.pth --predictions P.npz
"""
import argparse, glob, json, os, sys, time
import numpy as np
import torch
import yaml
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "goldens"))
import models  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--weights", required=True)
    ap.add_argument("--predictions", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = yaml.safe_load(open(a.config))
    model = models.Segmentor(cfg)
    model.train()
    with torch.no_grad():  # settle BN running statistics away from their init (1 step of real data)
        model(torch.randn(2, 3, 97, 97), (97, 97))
    model.eval()
    torch.save(model.state_dict(), a.weights)
    files = sorted(glob.glob(os.path.join(a.images, "*.jpg")))
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    preds, times = {}, []
    with torch.no_grad():
        for f, img in zip(files, images):
            t0 = time.perf_counter()
            x = torch.from_numpy(((img.astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)[None].copy())
            logits = model(x, img.shape[:2])
            pred = logits.softmax(1).argmax(1)[0].numpy().astype(np.uint8)
            times.append(time.perf_counter() - t0)
            preds[os.path.splitext(os.path.basename(f))[0]] = pred
    np.savez_compressed(a.predictions, **preds)
    steady = times[1:] if len(times) > 1 else times
    print(json.dumps({"model": cfg["backbone"], "images": len(files), "threads": a.threads,
                      "images_per_s": len(steady) / sum(steady), "first_image_s": times[0], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
