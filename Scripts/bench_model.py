#!/usr/bin/env python3
"""PyTorch CPU side of `Scripts/bench model`: the same architecture as dcot (Scripts/goldens/models.py)
built from the same YAML config, the same step (forward, CE loss, backward, SGD momentum 0.9,
wd 1e-4, backbone/head groups) and the same input shapes. Prints one JSON object with the keys
of `dcot-bench model --json`, names prefixed by nothing (the caller labels the side).

    python Scripts/bench_model.py --config C.yaml --batch 2 --crop 321 --threads 2 [--runs 3]
"""
import argparse, json, os, resource, sys, time
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "goldens"))
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--crop", type=int, default=321)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (oneDNN builds its kernels on the first passes)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = yaml.safe_load(open(a.config))
    model = models.Segmentor(cfg)
    dct = "_dct" in cfg["backbone"]
    s = (a.crop + 3) // 4
    x = torch.randn(a.batch, 64, s, s) if dct else torch.randn(a.batch, 3, a.crop, a.crop)
    size = (a.crop, a.crop)
    labels = torch.randint(0, cfg["nclass"], (a.batch, a.crop, a.crop))
    bb = [p for n, p in model.named_parameters() if n.startswith("backbone.")]
    hd = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    opt = torch.optim.SGD([{"params": bb, "lr": 0.002}, {"params": hd, "lr": 0.02}], lr=0.002, momentum=0.9,
                          weight_decay=1e-4)

    phases = [[], [], []]  # forward + loss, backward, SGD

    def step():
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x, size), labels, ignore_index=255)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        for p, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2)):
            p.append(v * 1e3)

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    model.train()
    for _ in range(a.warmup):
        step()
    phases = [[], [], []]
    train = [timed(step) for _ in range(a.runs)]
    med = lambda v: sorted(v)[len(v) // 2]
    model.eval()

    def infer():
        with torch.no_grad():
            model(x, size)
    for _ in range(a.warmup):
        infer()
    inference = [timed(infer) for _ in range(a.runs)]
    print(json.dumps({"model": os.path.splitext(os.path.basename(a.config))[0], "backbone": cfg["backbone"],
                      "batch": a.batch, "crop": a.crop, "threads": a.threads,
                      "ms_train_step": sorted(train)[len(train) // 2], "ms_inference": sorted(inference)[len(inference) // 2],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "ms_forward": med(phases[0]), "ms_backward": med(phases[1]), "ms_sgd": med(phases[2]),
                      "ms_train_step_all": train, "ms_train_step_min": min(train), "ms_inference_min": min(inference), "torch": torch.__version__}, sort_keys=True))


if __name__ == "__main__":
    main()
