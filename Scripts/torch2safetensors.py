#!/usr/bin/env python3
"""Convert a PyTorch .pth into a safetensors file dcot loads (names unchanged, float tensors F32,
integer counters I64). Needs torch and numpy (any venv; dcot itself never runs Python).

  # a Segmentor trained by the reference code (DDP "module." prefixes are stripped; --key picks
  # model1/model2/model3 from a co-training checkpoint):
  python Scripts/torch2safetensors.py best.pth best-m2.safetensors --key model2
  # an ImageNet backbone with the deep-stem names (resnet50.pth, resnet101_dct_64.pth): the
  # classifier (fc.*) is dropped, names stay bare for Checkpoint.loadPretrainedBackbone:
  python Scripts/torch2safetensors.py pretrained/resnet50.pth cache/pretrained/resnet50.safetensors --backbone
  # mmseg MiT ImageNet weights (mit_b2_20220624-66e8bf70.pth):
  python Scripts/torch2safetensors.py mit_b2_20220624-66e8bf70.pth cache/pretrained/mit-b2.safetensors --backbone

BN layers saved without num_batches_tracked (older PyTorch) get a zero counter, so dcot's strict
loader sees the reference's full key list. Everything dropped or added is printed.
"""
import argparse, json, os, struct, sys
import numpy as np
import torch

CLASSIFIER_PREFIXES = ("fc.", "head.", "classifier.")   # ImageNet classification layers


def pick_state_dict(obj, key):
    if key:
        if key not in obj:
            sys.exit(f"error: no '{key}' in the checkpoint (top-level keys: {', '.join(map(str, obj))})")
        obj = obj[key]
    elif isinstance(obj, dict) and not all(torch.is_tensor(v) for v in obj.values()):
        for k in ("state_dict", "model", "model_state"):
            if k in obj and isinstance(obj[k], dict):
                return obj[k]
        models = [k for k in obj if str(k).startswith("model") and isinstance(obj[k], dict)]
        if len(models) > 1:
            sys.exit(f"error: the checkpoint holds several models ({', '.join(models)}); choose one with --key")
        if models:
            return obj[models[0]]
        sys.exit(f"error: no state dict found (top-level keys: {', '.join(map(str, obj))}); choose one with --key")
    return obj


def convert(sd, backbone):
    out, notes = {}, []
    for name, t in sd.items():
        if not torch.is_tensor(t):
            notes.append(f"skipped non-tensor {name}")
            continue
        if name.startswith("module."):
            name = name[len("module."):]
        if backbone:
            if name.startswith("backbone."):
                name = name[len("backbone."):]
            elif name.startswith(CLASSIFIER_PREFIXES):
                notes.append(f"dropped classifier tensor {name}")
                continue
        t = t.detach().cpu()
        if t.is_floating_point():
            a = t.to(torch.float32).numpy()
        elif t.dtype in (torch.int64, torch.int32):
            a = t.to(torch.int64).numpy()
        else:
            sys.exit(f"error: tensor {name} has dtype {t.dtype}, which dcot does not load")
        out[name] = a
    for name in list(out):
        if name.endswith(".running_mean"):
            counter = name[: -len("running_mean")] + "num_batches_tracked"
            if counter not in out:
                out[counter] = np.zeros((), dtype=np.int64)
                notes.append(f"added {counter} = 0")
    # Keep the source order, each added counter right after its BN's running_var.
    ordered = {}
    for name in out:
        if name.endswith("num_batches_tracked") and name not in sd and "module." + name not in sd:
            continue
        ordered[name] = out[name]
        if name.endswith(".running_var"):
            counter = name[: -len("running_var")] + "num_batches_tracked"
            if counter in out:
                ordered[counter] = out[counter]
    return ordered, notes


def write(path, tensors, metadata):
    header, off = {}, 0
    for name, a in tensors.items():
        n = a.nbytes
        header[name] = {"dtype": "F32" if a.dtype == np.float32 else "I64", "shape": list(a.shape),
                        "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a).tobytes() if a.ndim else a.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--key", help="top-level entry holding the state dict (e.g. model1, state_dict)")
    ap.add_argument("--backbone", action="store_true",
                    help="a pretrained backbone: strip 'backbone.', drop classifier tensors (fc.*, head.*)")
    a = ap.parse_args()
    obj = torch.load(a.input, map_location="cpu", weights_only=True)
    tensors, notes = convert(pick_state_dict(obj, a.key), a.backbone)
    for n in notes:
        print(n, file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    write(a.output, tensors, {"format": "dcot-model", "converted_from": os.path.basename(a.input),
                              "kind": "backbone" if a.backbone else "model"})
    print(f"{a.output}: {len(tensors)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
