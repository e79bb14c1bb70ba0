#!/usr/bin/env python3
"""Forward goldens for the Tensor/Autograd/NN ops, written to Tests/Fixtures/ops/*.safetensors.

Run from the repository root with a PyTorch CPU venv (git-ignored, never needed by CI: the fixtures
are committed):
    python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch numpy
    /work/venv-torch/bin/python Scripts/goldens/ops.py
Each file is a hand-written safetensors container (8-byte little-endian header length, JSON header,
raw little-endian bytes) whose __metadata__ names this script.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "ops")
torch.manual_seed(0)
torch.set_num_threads(1)


def save(name, tensors, **meta):
    header, blobs, offset = {}, [], 0
    for key, t in tensors.items():
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if a.dtype == np.uint8:
            dtype = "U8"
        else:
            a, dtype = a.astype("<f4"), "F32"
        raw = np.ascontiguousarray(a).tobytes()
        header[key] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"generator": "Scripts/goldens/ops.py", **{k: str(v) for k, v in meta.items()}}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def conv():
    t = {}
    # (name, x shape, out channels, kernel, stride, padding, dilation, groups, bias)
    cases = [("dilated", (2, 4, 9, 11), 6, 3, 1, 2, 2, 1, True),
             ("grouped", (2, 6, 10, 9), 4, 3, 2, 1, 1, 2, True),
             ("dilated_grouped", (1, 8, 12, 13), 8, 3, 1, 4, 4, 4, False),
             ("depthwise", (2, 5, 8, 9), 5, 3, 1, 1, 1, 5, True),
             ("depthwise_s2_d2", (1, 4, 11, 10), 4, 3, 2, 2, 2, 4, False),
             ("pointwise_s2", (2, 6, 7, 8), 3, 1, 2, 0, 1, 1, True)]
    for name, xs, o, k, s, p, d, g, b in cases:
        x, w = randn(*xs), randn(o, xs[1] // g, k, k)
        bias = randn(o) if b else None
        t[name + ".x"], t[name + ".weight"] = x, w
        if b:
            t[name + ".bias"] = bias
        t[name + ".y"] = F.conv2d(x, w, bias, stride=s, padding=p, dilation=d, groups=g)
        t[name + ".config"] = torch.tensor([s, p, d, g], dtype=torch.float32)
    save("conv", t)


def batch_norm():
    bn = torch.nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(5) + 0.5)
        bn.bias.copy_(randn(5))
        bn.running_mean.copy_(randn(5) * 0.1)
        bn.running_var.copy_(torch.rand(5) + 0.5)
    t = {"weight": bn.weight, "bias": bn.bias, "running_mean0": bn.running_mean.clone(),
         "running_var0": bn.running_var.clone()}
    x1, x2 = randn(3, 5, 6, 7) * 2 + 1, randn(3, 5, 6, 7)
    bn.train()
    t["x1"], t["y1"] = x1, bn(x1)
    t["x2"], t["y2"] = x2, bn(x2)
    t["running_mean2"], t["running_var2"] = bn.running_mean.clone(), bn.running_var.clone()
    t["num_batches_tracked"] = bn.num_batches_tracked.float().reshape(1)
    bn.eval()
    x3 = randn(2, 5, 4, 3)
    t["x3"], t["y3_eval"] = x3, bn(x3)
    save("batch_norm", t)


def resize():
    t = {"x": randn(2, 3, 7, 9)}
    for ac in (True, False):
        for (h, w) in ((13, 17), (4, 5), (7, 20), (1, 3)):
            t[f"bilinear.{int(ac)}.{h}x{w}"] = F.interpolate(t["x"], size=(h, w), mode="bilinear", align_corners=ac)
    for (h, w) in ((13, 17), (4, 5)):
        t[f"nearest.{h}x{w}"] = F.interpolate(t["x"], size=(h, w), mode="nearest")
    t["maxpool"] = F.max_pool2d(t["x"], 3, 2, 1)
    save("resize_pool", t)


def layer_norm_gelu_softmax():
    x = randn(2, 5, 16) * 3 + 0.5
    w, b = torch.rand(16) + 0.5, randn(16)
    g = torch.linspace(-6, 6, 301)
    s = randn(2, 7, 3, 4) * 3
    save("layer_norm_gelu", {"x": x, "weight": w, "bias": b, "y": F.layer_norm(x, (16,), w, b, eps=1e-6),
                             "gelu.x": g, "gelu.y": F.gelu(g),
                             "softmax.x": s, "softmax.y": F.softmax(s, 1), "log_softmax.y": F.log_softmax(s, 1)})


def attention():
    """mmseg EfficientMultiheadAttention (sr_ratio 2) without the residual: sr conv + LN(eps 1e-6),
    then nn.MultiheadAttention(batch_first=True) with queries from x."""
    B, H, W, C, heads, sr = 2, 4, 6, 32, 2, 2
    mha = torch.nn.MultiheadAttention(C, heads, batch_first=True)
    conv = torch.nn.Conv2d(C, C, sr, sr)
    norm = torch.nn.LayerNorm(C, eps=1e-6)
    with torch.no_grad():
        mha.in_proj_bias.copy_(randn(3 * C) * 0.1)
        mha.out_proj.bias.copy_(randn(C) * 0.1)
        norm.weight.copy_(torch.rand(C) + 0.5)
        norm.bias.copy_(randn(C) * 0.1)
    x = randn(B, H * W, C)
    kv = conv(x.transpose(1, 2).reshape(B, C, H, W)).flatten(2).transpose(1, 2)
    kv = norm(kv)
    y = mha(x, kv, kv, need_weights=False)[0]
    t = {"x": x, "y": y}
    for k, v in mha.state_dict().items():
        t["attn." + k] = v
    for k, v in conv.state_dict().items():
        t["sr." + k] = v
    for k, v in norm.state_dict().items():
        t["norm." + k] = v
    save("attention", t, height=H, width=W, heads=heads, sr_ratio=sr)


def ohem_reference(pred, target, thresh, min_kept, ignore=255):
    """TorchSemiSeg ProbOhemCrossEntropy2d.forward."""
    b, c, h, w = pred.size()
    target = target.view(-1).clone()
    valid_mask = target.ne(ignore)
    target = target * valid_mask.long()
    num_valid = valid_mask.sum()
    prob = F.softmax(pred, dim=1).transpose(0, 1).reshape(c, -1)
    if min_kept > num_valid:
        pass
    elif num_valid > 0:
        prob = prob.masked_fill_(~valid_mask, 1)
        mask_prob = prob[target, torch.arange(len(target), dtype=torch.long)]
        threshold = thresh
        if min_kept > 0:
            _, index = mask_prob.sort()
            threshold_index = index[min(len(index), min_kept) - 1]
            if mask_prob[threshold_index] > thresh:
                threshold = mask_prob[threshold_index]
            kept_mask = mask_prob.le(threshold)
            target = target * kept_mask.long()
            valid_mask = valid_mask * kept_mask
    target = target.masked_fill_(~valid_mask, ignore).view(b, h, w)
    return F.cross_entropy(pred, target, ignore_index=ignore)


def losses():
    logits = randn(2, 5, 6, 7) * 2
    target = torch.randint(0, 5, (2, 6, 7))
    target[torch.rand(2, 6, 7) < 0.2] = 255
    mask = (torch.rand(2, 6, 7) < 0.7).float()
    ce_none = F.cross_entropy(logits, target, ignore_index=255, reduction="none")
    count = 61.0
    t = {"logits": logits, "target": target.to(torch.uint8), "mask": mask,
         "ce_mean": F.cross_entropy(logits, target, ignore_index=255).reshape(1),
         "ce_masked_count": ((ce_none * mask).sum() / count).reshape(1),
         "count": torch.tensor([count])}
    ol = randn(2, 4, 10, 12) * 2
    ot = torch.randint(0, 4, (2, 10, 12))
    ot[torch.rand(2, 10, 12) < 0.1] = 255
    t["ohem.logits"], t["ohem.target"] = ol, ot.to(torch.uint8)
    for thresh, min_kept in ((0.7, 50), (0.3, 100), (0.7, 100000), (0.9, 20)):
        t[f"ohem.{thresh}.{min_kept}"] = ohem_reference(ol, ot, thresh, min_kept).reshape(1)
    save("losses", t)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    conv()
    batch_norm()
    resize()
    layer_norm_gelu_softmax()
    attention()
    losses()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} fixtures, {total} bytes, to {os.path.normpath(OUT)}")
