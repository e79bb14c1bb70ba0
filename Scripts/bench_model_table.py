#!/usr/bin/env python3
"""The table of `Scripts/bench model`: one row per (model, batch, crop) from JSON lines tagged
"side": "dcot" | "torch" (dcot-bench model --json / bench_model.py), at the largest thread count
seen, with the 1 -> N thread speed-up of the train step when 1-thread runs are there too.

Lines tagged "round": k (`--rounds N`) pair the two sides' processes of one round: times are then
the median over rounds of each side's median, and the ratio is the median of the rounds' own
ratios (both sides of a round ran minutes apart, in the same stretch of a drifting host). Without
rounds, or when the same run was saved twice, the last line of a side wins, as before.

dcot-bench model probes the host before and after its steps (host_before_* / host_after_*: the
core-to-core round trip of `dcot-bench host`); the table lists each round's probes of the dcot process
at the largest thread count and marks the host's slow state, in which 2-thread numbers drop.

    python Scripts/bench_model_table.py runs.jsonl [more.jsonl ...]
"""
import json, statistics, sys

rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        runs = rows.setdefault((r["model"], r["batch"], r["crop"]), {}).setdefault((r["side"], r["threads"]), {})
        runs[r.get("round", 0)] = r                                     # per round, the last line wins


def median_of(runs, key):
    values = [r[key] for r in runs.values() if key in r]
    return statistics.median(values) if values else None


def paired(o, t, key):
    """Each common round's dcot / PyTorch ratio of `key`, in round order."""
    return [o[k][key] / t[k][key] for k in sorted(set(o) & set(t)) if key in o[k] and t[k].get(key)]


threads = max(t for v in rows.values() for _, t in v) if rows else 2
hdr = ("model", "batch", "crop", "train ms", "torch", "ratio", "infer ms", "torch", "ratio", "inf/fwd",
       f"1->{threads} dcot", "torch", "RSS MB", "torch")
fmt = "{:<18} {:>5} {:>4} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6} {:>7} {:>9} {:>6} {:>7} {:>6}"
print(fmt.format(*hdr))
mins, rounds_seen, hosts = [], [], []


def host_note(r):
    """'90/90 ns 1/1 %' (+ ' slow') from a dcot line's before/after probes, or None without them."""
    b, a = r.get("host_before_round_trip_ns_p50"), r.get("host_after_round_trip_ns_p50")
    if b is None and a is None:
        return None
    part = lambda x: "-" if x is None else f"{x}"
    text = (f"{part(b)}/{part(a)} ns {part(r.get('host_before_stalled_pct'))}/{part(r.get('host_after_stalled_pct'))} %")
    slow = "slow" in (r.get("host_before_state"), r.get("host_after_state"))
    return text + (" slow" if slow else "")


for (model, batch, crop), v in rows.items():
    o, t = v.get(("dcot", threads), {}), v.get(("torch", threads), {})
    o1, t1 = v.get(("dcot", 1), {}), v.get(("torch", 1), {})
    num = lambda runs, k: f"{median_of(runs, k):.0f}" if median_of(runs, k) is not None else "-"
    def rat(k):
        p = paired(o, t, k)
        return f"{statistics.median(p):.2f}" if p else "-"
    def speed(one, many):
        # Rounds that ran both thread counts: the median of their own speed-ups (the two processes of
        # a round sampled the same stretch of a drifting host); otherwise the ratio of the medians.
        p = [one[k]["ms_train_step"] / many[k]["ms_train_step"] for k in sorted(set(one) & set(many))
             if one[k].get("ms_train_step") and many[k].get("ms_train_step")]
        if len(p) > 1:
            return f"{statistics.median(p):.2f}x"
        a, b = median_of(one, "ms_train_step"), median_of(many, "ms_train_step")
        return f"{a / b:.2f}x" if a and b else "-"
    inf, fwd = median_of(o, "ms_inference"), median_of(o, "ms_forward")
    print(fmt.format(model, batch, crop, num(o, "ms_train_step"), num(t, "ms_train_step"), rat("ms_train_step"),
                     num(o, "ms_inference"), num(t, "ms_inference"), rat("ms_inference"),
                     f"{inf / fwd:.2f}" if inf and fwd else "-",
                     speed(o1, o), speed(t1, t), num(o, "peak_rss_mb"), num(t, "peak_rss_mb")))
    if len(set(o) & set(t)) > 1:
        scal = [o1[k]["ms_train_step"] / o[k]["ms_train_step"] for k in sorted(set(o) & set(o1))
                if o1[k].get("ms_train_step") and o[k].get("ms_train_step")]
        rounds_seen.append(f"{model}/{batch}: train " + " ".join(f"{x:.2f}" for x in paired(o, t, "ms_train_step"))
                           + "; inference " + " ".join(f"{x:.2f}" for x in paired(o, t, "ms_inference"))
                           + ("; 1->N " + " ".join(f"{x:.2f}" for x in scal) if len(scal) > 1 else ""))
    notes = [host_note(o[k]) for k in sorted(o)]
    if any(notes):
        hosts.append(f"{model}/{batch}: " + ", ".join(n or "-" for n in notes))
    o_min = [r["ms_train_step_min"] for r in o.values() if "ms_train_step_min" in r]
    t_min = [r["ms_train_step_min"] for r in t.values() if "ms_train_step_min" in r]
    if o_min and t_min:
        oi = [r["ms_inference_min"] for r in o.values() if "ms_inference_min" in r]
        ti = [r["ms_inference_min"] for r in t.values() if r.get("ms_inference_min")]
        mins.append(f"{model}/{batch}: train {min(o_min) / min(t_min):.2f}"
                    + (f" inference {min(oi) / min(ti):.2f}" if oi and ti else ""))
print(f"({threads} threads; median of runs; ratio = dcot / PyTorch, below 1 is faster; inf/fwd = our inference / our training"
      " forward (forward + loss); 1->N = train-step speed-up from 1 thread, the median of the rounds' own when they ran both)")
if rounds_seen:
    print("(each round's ratio, dcot and PyTorch processes alternating; the ratio column is their median: "
          + "; ".join(rounds_seen) + ")")
if hosts:
    print(f"(host, each round's dcot process at {threads} threads: core-to-core round trip p50 before/after its steps and"
          " the share of the probe's time in stalls over 10 us; slow = over 150 ns or 5 %, the state in which"
          " 2-thread times drop (README \"Benchmarks\"): " + "; ".join(hosts) + ")")
if mins:
    print("(ratios of the fastest runs, less sensitive to a busy host: " + ", ".join(mins) + ")")
