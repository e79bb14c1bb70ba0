#!/usr/bin/env python3
"""The table of `Scripts/bench model`: one row per (model, batch, crop) from JSON lines tagged
"side": "dcot" | "torch" (dcot-bench model --json / bench_model.py), at the largest thread count
seen, with the 1 -> N thread speed-up of the train step when 1-thread runs are there too.

    python Scripts/bench_model_table.py runs.jsonl [more.jsonl ...]
"""
import json, sys

rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        rows.setdefault((r["model"], r["batch"], r["crop"]), {})[(r["side"], r["threads"])] = r  # last run wins

threads = max(t for v in rows.values() for _, t in v) if rows else 2
hdr = ("model", "batch", "crop", "train ms", "torch", "ratio", "infer ms", "torch", "ratio", "inf/fwd",
       f"1->{threads} dcot", "torch", "RSS MB", "torch")
fmt = "{:<18} {:>5} {:>4} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6} {:>7} {:>9} {:>6} {:>7} {:>6}"
print(fmt.format(*hdr))
mins = []
for (model, batch, crop), v in rows.items():
    o, t = v.get(("dcot", threads), {}), v.get(("torch", threads), {})
    o1, t1 = v.get(("dcot", 1), {}), v.get(("torch", 1), {})
    num = lambda d, k: f"{d[k]:.0f}" if k in d else "-"
    rat = lambda a, b, k: f"{a[k] / b[k]:.2f}" if k in a and k in b and b[k] else "-"
    speed = lambda one, many: f"{one['ms_train_step'] / many['ms_train_step']:.2f}x" if one and many else "-"
    print(fmt.format(model, batch, crop, num(o, "ms_train_step"), num(t, "ms_train_step"), rat(o, t, "ms_train_step"),
                     num(o, "ms_inference"), num(t, "ms_inference"), rat(o, t, "ms_inference"),
                     f"{o['ms_inference'] / o['ms_forward']:.2f}" if o.get("ms_forward") else "-",
                     speed(o1, o), speed(t1, t), num(o, "peak_rss_mb"), num(t, "peak_rss_mb")))
    if "ms_train_step_min" in o and "ms_train_step_min" in t:
        mins.append(f"{model}/{batch}: train {o['ms_train_step_min'] / t['ms_train_step_min']:.2f}"
                    + (f" inference {o['ms_inference_min'] / t['ms_inference_min']:.2f}" if t.get("ms_inference_min") else ""))
print(f"({threads} threads; median of runs; ratio = dcot / PyTorch, below 1 is faster; inf/fwd = our inference / our training"
      " forward (forward + loss); 1->N = train-step speed-up from 1 thread)")
if mins:
    print("(ratios of the fastest runs, less sensitive to a busy host: " + ", ".join(mins) + ")")
