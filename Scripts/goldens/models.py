#!/usr/bin/env python3
"""PyTorch twins of dcot's models, written from METHOD.md section 4 with the reference's
state_dict names, and the generator of Tests/Fixtures/models (run from the repository root):

    /work/venv-torch/bin/python Scripts/goldens/models.py [--reference-keys DIR]

Writes
  keys.txt            full-size state_dict key lists (name, shape, dtype), one section per config;
                      checked against DIR/*.txt (the reference key lists) when DIR exists.
  <case>.safetensors  a small model with random weights (F16-representable, stored F16), one
                      batch: eval-mode logits, then one train-mode forward: logits, CE loss
                      (ignore 255), every parameter gradient and the BN running statistics.
Also imported by Scripts/bench_model.py (same architectures from the same YAML configs).
"""
import argparse, copy, json, math, os, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- ResNet (4.1, 3.3)

def w_(c, width):
    return max(1, int(c * width + 0.5))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


RESNETS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3]),
           101: (Bottleneck, [3, 4, 23, 3]), 152: (Bottleneck, [3, 8, 36, 3])}


class ResNet(nn.Module):
    """Deep-stem ResNet; stem=False is the DCT variant (layer1 takes in_channels at stride 4)."""

    def __init__(self, depth, width=1.0, stem=True, in_channels=3, replace_stride_with_dilation=(False, False, True),
                 multi_grid=False):
        super().__init__()
        block, layers = RESNETS[depth]
        self.has_stem = stem
        if stem:
            c0, c1 = w_(64, width), w_(128, width)
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_channels, c0, 3, 2, 1, bias=False), nn.BatchNorm2d(c0), nn.ReLU(inplace=True),
                nn.Conv2d(c0, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0), nn.ReLU(inplace=True),
                nn.Conv2d(c0, c1, 3, 1, 1, bias=False))
            self.bn1 = nn.BatchNorm2d(c1)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.inplanes = c1
        else:
            self.inplanes = in_channels
        self.dilation = 1
        rs = replace_stride_with_dilation
        self.layer1 = self._make_layer(block, w_(64, width), layers[0])
        self.layer2 = self._make_layer(block, w_(128, width), layers[1], 2, rs[0])
        self.layer3 = self._make_layer(block, w_(256, width), layers[2], 2, rs[1])
        self.layer4 = self._make_layer(block, w_(512, width), layers[3], 2, rs[2], multi_grid)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False, multi_grid=False):
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        grids = ([2, 2, 4] + [4] * max(0, blocks - 3)) if multi_grid else [1] * blocks
        layers = [block(self.inplanes, planes, stride, previous_dilation * grids[0], downsample)]
        self.inplanes = planes * block.expansion
        for i in range(1, blocks):
            layers.append(block(self.inplanes, planes, 1, self.dilation * grids[i]))
        return nn.Sequential(*layers)

    def channels(self):
        return [l[-1].bn3.num_features if hasattr(l[-1], "bn3") else l[-1].bn2.num_features
                for l in (self.layer1, self.layer2, self.layer3, self.layer4)]

    def forward(self, x):
        if self.has_stem:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c1, c2, c3, c4]

# ----------------------------------------------------------------------------- DeepLabv3+ (4.2)

def conv_bn_relu(cin, cout, k=1, padding=0, dilation=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ASPPPooling(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return F.interpolate(self.gap(x), x.shape[2:], mode="bilinear", align_corners=True)


class ASPP(nn.Module):
    def __init__(self, cin, cout, rates):
        super().__init__()
        self.b0 = conv_bn_relu(cin, cout)
        self.b1 = conv_bn_relu(cin, cout, 3, rates[0], rates[0])
        self.b2 = conv_bn_relu(cin, cout, 3, rates[1], rates[1])
        self.b3 = conv_bn_relu(cin, cout, 3, rates[2], rates[2])
        self.b4 = ASPPPooling(cin, cout)
        self.project = conv_bn_relu(5 * cout, cout)

    def forward(self, x):
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))


class DeepLabV3PlusHead(nn.Module):
    def __init__(self, low, high, nclass, dilations, channels=256, reduce=48):
        super().__init__()
        self.head = ASPP(high, channels, dilations)
        self.reduce = conv_bn_relu(low, reduce)
        self.fuse = nn.Sequential(nn.Conv2d(reduce + channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(channels, nclass, 1, bias=True)

    def forward(self, feats):
        c1, c4 = feats[0], feats[-1]
        x = F.interpolate(self.head(c4), c1.shape[2:], mode="bilinear", align_corners=True)
        return self.classifier(self.fuse(torch.cat([self.reduce(c1), x], 1)))

# ----------------------------------------------------------------------------- MiT + SegFormer head (4.3)

class PatchEmbed(nn.Module):
    def __init__(self, cin, cout, patch, stride):
        super().__init__()
        self.projection = nn.Conv2d(cin, cout, patch, stride, patch // 2)
        self.norm = nn.LayerNorm(cout, eps=1e-6)

    def forward(self, x):
        x = self.projection(x)
        h, w = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (h, w)


def drop_path(x, p, training):
    if p == 0 or not training:
        return x
    keep = 1 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class EfficientMultiheadAttention(nn.Module):
    def __init__(self, dim, heads, sr):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.sr_ratio = sr
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, sr, sr)
            self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, hw):
        kv = x
        if self.sr_ratio > 1:
            b, n, c = x.shape
            m = self.sr(x.transpose(1, 2).reshape(b, c, *hw))
            kv = self.norm(m.flatten(2).transpose(1, 2))
        return self.attn(x, kv, kv, need_weights=False)[0]


class MixFFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
                                    nn.GELU(), nn.Dropout(0.0), nn.Conv2d(hidden, dim, 1), nn.Dropout(0.0))

    def forward(self, x, hw):
        b, n, c = x.shape
        y = self.layers(x.transpose(1, 2).reshape(b, c, *hw))
        return y.flatten(2).transpose(1, 2)


class MiTBlock(nn.Module):
    def __init__(self, dim, heads, sr, mlp_ratio, dpr):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = EfficientMultiheadAttention(dim, heads, sr)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = MixFFN(dim, dim * mlp_ratio)
        self.dpr = dpr

    def forward(self, x, hw):
        x = x + drop_path(self.attn(self.norm1(x), hw), self.dpr, self.training)
        return x + drop_path(self.ffn(self.norm2(x), hw), self.dpr, self.training)


MIT = {"b0": (32, [2, 2, 2, 2]), "b1": (64, [2, 2, 2, 2]), "b2": (64, [3, 4, 6, 3]), "b3": (64, [3, 4, 18, 3]),
       "b4": (64, [3, 8, 27, 3]), "b5": (64, [3, 6, 40, 3])}


class MixVisionTransformer(nn.Module):
    def __init__(self, embed_dims=64, depths=(3, 4, 6, 3), num_heads=(1, 2, 5, 8), sr_ratios=(8, 4, 2, 1),
                 mlp_ratio=4, drop_path_rate=0.1):
        super().__init__()
        dpr = [drop_path_rate * i / max(sum(depths) - 1, 1) for i in range(sum(depths))]  # torch.linspace
        self.layers = nn.ModuleList()
        cin, k = 3, 0
        for i, (d, h, sr) in enumerate(zip(depths, num_heads, sr_ratios)):
            dim = embed_dims * h
            blocks = nn.ModuleList([MiTBlock(dim, h, sr, mlp_ratio, dpr[k + j]) for j in range(d)])
            k += d
            self.layers.append(nn.ModuleList([PatchEmbed(cin, dim, [7, 3, 3, 3][i], [4, 2, 2, 2][i]), blocks,
                                              nn.LayerNorm(dim, eps=1e-6)]))
            cin = dim
        self.dims = [embed_dims * h for h in num_heads]

    def forward(self, x):
        outs = []
        for embed, blocks, norm in self.layers:
            x, hw = embed(x)
            for b in blocks:
                x = b(x, hw)
            x = norm(x)
            x = x.transpose(1, 2).reshape(x.shape[0], -1, *hw)
            outs.append(x)
        return outs


class ConvModule(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activate(self.bn(self.conv(x)))


class SegformerHead(nn.Module):
    def __init__(self, in_channels, channels, nclass, dropout_ratio=0.1):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, nclass, 1)
        self.dropout = nn.Dropout2d(dropout_ratio)
        self.convs = nn.ModuleList([ConvModule(c, channels) for c in in_channels])
        self.fusion_conv = ConvModule(channels * len(in_channels), channels)

    def forward(self, feats):
        size = feats[0].shape[2:]
        outs = [F.interpolate(conv(x), size, mode="bilinear", align_corners=True) for conv, x in zip(self.convs, feats)]
        return self.conv_seg(self.dropout(self.fusion_conv(torch.cat(outs, 1))))

# ----------------------------------------------------------------------------- Segmentor

class Segmentor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        name = cfg["backbone"]
        if name.startswith("mit-"):
            dims, depths = MIT[name[4:]]
            self.backbone = MixVisionTransformer(cfg.get("embed_dims", dims), cfg.get("depths", depths),
                                                 cfg.get("num_heads", [1, 2, 5, 8]), cfg.get("sr_ratios", [8, 4, 2, 1]),
                                                 cfg.get("mlp_ratio", 4), cfg.get("drop_path_rate", 0.1))
            self.head = SegformerHead(self.backbone.dims, cfg.get("channels", cfg.get("head_channels", 256)),
                                      cfg["nclass"], cfg.get("dropout_ratio", 0.1))
        else:
            depth = int(name[len("resnet"):].split("_")[0])
            dct = "_dct" in name
            self.backbone = ResNet(depth, cfg.get("width", 1.0), stem=not dct, in_channels=64 if dct else 3,
                                   replace_stride_with_dilation=cfg.get("replace_stride_with_dilation", [False, False, True]),
                                   multi_grid=cfg.get("multi_grid", False))
            ch = self.backbone.channels()
            self.head = DeepLabV3PlusHead(ch[0], ch[3], cfg["nclass"], cfg.get("dilations", [6, 12, 18]),
                                          cfg.get("head_channels", 256), cfg.get("reduce_channels", 48))

    def forward(self, x, size=None):
        size = size or x.shape[2:]
        return F.interpolate(self.head(self.backbone(x)), size, mode="bilinear", align_corners=True)

# ----------------------------------------------------------------------------- fixtures

def save_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    codes = {np.float32: "F32", np.float16: "F16", np.int64: "I64", np.uint8: "U8"}
    for name, a in tensors.items():
        a = np.array(a, order="C", copy=True)  # keeps 0-d shapes (num_batches_tracked)
        b = a.tobytes()
        header[name] = {"dtype": codes[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def to_yaml(cfg):
    def v(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (list, tuple)):
            return "[" + ", ".join(v(e) for e in x) + "]"
        return str(x)
    return "".join(f"{k}: {v(x)}\n" for k, x in cfg.items())


KEY_CONFIGS = {
    "resnet50_os16": {"backbone": "resnet50", "nclass": 21},
    "resnet50_os8": {"backbone": "resnet50", "nclass": 21, "replace_stride_with_dilation": [False, True, True],
                     "multi_grid": True, "dilations": [12, 24, 36]},
    "resnet101_os16": {"backbone": "resnet101", "nclass": 21},
    "resnet50_dct_64_os16": {"backbone": "resnet50_dct_64", "nclass": 21},
    "resnet101_dct_64_os16": {"backbone": "resnet101_dct_64", "nclass": 21},
    "mit-b0": {"backbone": "mit-b0", "nclass": 21},
    "mit-b1": {"backbone": "mit-b1", "nclass": 21},
    "mit-b2": {"backbone": "mit-b2", "nclass": 21},
    "mit-b3": {"backbone": "mit-b3", "nclass": 21},
}

SMALL = {"width": 0.03125, "head_channels": 8, "reduce_channels": 4}
PARITY = {
    "deeplab_r50_os16": ({"backbone": "resnet50", "nclass": 5, **SMALL, "dilations": [1, 2, 3]}, (4, 3, 33, 33), None),
    "deeplab_r50_os8_mg": ({"backbone": "resnet50", "nclass": 5, **SMALL, "replace_stride_with_dilation": [False, True, True],
                            "multi_grid": True, "dilations": [2, 3, 4]}, (4, 3, 41, 41), None),
    "deeplab_r50_dct": ({"backbone": "resnet50_dct_64", "nclass": 5, **SMALL, "dilations": [1, 2, 3]}, (4, 64, 9, 9), (33, 33)),
    "segformer_mit_b0": ({"backbone": "mit-b0", "nclass": 5, "embed_dims": 4, "channels": 8, "drop_path_rate": 0.0,
                          "dropout_ratio": 0.0}, (2, 3, 64, 64), (24, 24)),
}


def key_lines(model):
    out = []
    for k, t in model.state_dict().items():
        shape = "x".join(map(str, t.shape)) if t.dim() else "scalar"
        out.append(f"{k}\t{shape}\t{str(t.dtype).replace('torch.', '')}")
    return out


def write_keys(outdir, refdir):
    lines = ["# Full-size state_dict keys (name, shape, dtype, in order) per config; generated by",
             "# Scripts/goldens/models.py (checked against the reference key lists when generated)."]
    for name, cfg in KEY_CONFIGS.items():
        with torch.device("meta"):
            m = Segmentor(cfg)
        keys = key_lines(m)
        ref = os.path.join(refdir, name + ".txt") if refdir else None
        if ref and os.path.exists(ref):
            want = [l.rstrip("\n") for l in open(ref) if l.strip() and not l.startswith("#")]
            want = [l.replace("nclass", "") for l in want]
            if want != keys:
                diff = [(a, b) for a, b in zip(want, keys) if a != b][:5]
                sys.exit(f"{name}: key list differs from {ref} ({len(want)} vs {len(keys)}): {diff}")
            print(f"keys {name}: {len(keys)} match {ref}")
        else:
            print(f"keys {name}: {len(keys)} (no reference list to check)")
        lines.append(f"[{name}] " + to_yaml(cfg).strip().replace("\n", "; "))
        lines += keys
    with open(os.path.join(outdir, "keys.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def f16(t):
    return t.to(torch.float16).to(torch.float32)


def randomize(model, g):
    """Random weights, BN affine and running statistics, all F16-representable."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype != torch.float32:
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1 and ("bn" in name or "norm" in name or name.split(".")[-2].isdigit() and t.dim() == 1
                                   and name.endswith("weight") and "conv" not in name):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith("weight") else torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * math.sqrt(2.0 / fan_in))
            t.copy_(f16(t))


def run_once(model, x, labels, size, dtype):
    """Eval logits, then one train-mode step: logits, loss, gradients, BN buffers (in `dtype`)."""
    m = copy.deepcopy(model).to(dtype)
    xd = x.to(dtype)
    m.eval()
    with torch.no_grad():
        logits_eval = m(xd, size)
    m.train()
    logits = m(xd, size)
    loss = F.cross_entropy(logits, labels, ignore_index=255)
    loss.backward()
    grads = {k: p.grad for k, p in m.named_parameters()}
    buffers = {k: v.clone() for k, v in m.state_dict().items() if "running" in k or "num_batches" in k}
    return logits_eval, logits.detach(), loss.detach(), grads, buffers


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def write_parity(outdir):
    """Expected values come from the same PyTorch model run in float64 (the float32 PyTorch run's
    own distance to them is printed, as the bar our float32 results are held to)."""
    for case, (cfg, shape, size) in PARITY.items():
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1234)
        model = Segmentor(cfg)
        randomize(model, g)
        # Per-sample offsets and scales: images of random noise all have nearly the same global
        # average, which would make the ASPP pooling branch's BN (over N values) ill-conditioned.
        n = shape[0]
        x = f16(torch.randn(shape, generator=g) * (0.5 + torch.rand(n, 1, 1, 1, generator=g))
                + 2 * torch.rand(n, shape[1], 1, 1, generator=g) - 1)
        out_hw = size or shape[2:]
        labels = torch.randint(0, cfg["nclass"], (shape[0],) + tuple(out_hw), generator=g)
        labels[torch.rand(labels.shape, generator=g) < 0.1] = 255
        tensors = {"w." + k: (v.numpy().astype(np.float16) if v.dtype == torch.float32 else v.numpy())
                   for k, v in model.state_dict().items()}
        e64, l64, loss64, g64, b64 = run_once(model, x, labels, size, torch.float64)
        e32, l32, loss32, g32, b32 = run_once(model, x, labels, size, torch.float32)
        f32 = lambda t: t.to(torch.float32).numpy() if t.is_floating_point() else t.numpy()
        tensors.update({"input": x.numpy().astype(np.float16), "labels": labels.numpy().astype(np.uint8),
                        "logits_eval": f32(e64), "logits": f32(l64), "loss": f32(loss64).reshape(1)})
        tensors.update({"grad." + k: f32(v) for k, v in g64.items()})
        tensors.update({"after." + k: f32(v) for k, v in b64.items()})
        # PyTorch float32's own relative L2 distance to the float64 values, per tensor: the tests
        # accept max(tolerance, 2x this), so an ill-conditioned tensor (e.g. an exactly-zero
        # gradient that BN cancels) does not fail on rounding noise alone.
        f32err = {"logits_eval": rel(e32, e64), "logits": rel(l32, l64)}
        f32err.update({"grad." + k: rel(g32[k], g64[k]) for k in g64})
        meta = {"generator": "Scripts/goldens/models.py", "config": to_yaml(cfg),
                "output_size": json.dumps(list(out_hw)), "torch": torch.__version__, "expected": "float64",
                "pytorch_float32_error": json.dumps(f32err)}
        path = os.path.join(outdir, case + ".safetensors")
        save_safetensors(path, tensors, meta)
        n = sum(p.numel() for p in model.parameters())
        worst = max((rel(g32[k], g64[k]), k) for k in g64)
        print(f"{case}: {n} parameters, loss {loss64.item():.6f}, {os.path.getsize(path) / 1e3:.0f} kB; "
              f"PyTorch float32 vs float64: logits {rel(l32, l64):.2e}, worst gradient {worst[0]:.2e} ({worst[1]})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures/models")
    ap.add_argument("--reference-keys", default=os.path.join(os.path.dirname(__file__), "../../../shared/reference-keys"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    write_keys(a.out, a.reference_keys)
    write_parity(a.out)


if __name__ == "__main__":
    main()
