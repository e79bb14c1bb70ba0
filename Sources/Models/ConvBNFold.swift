// conv -> BatchNorm2d (-> ReLU), the pattern of every ResNet block, ASPP branch and head ConvModule.
// Training, or any forward while the tape records: the two ops as they are. Inference (eval mode, no
// tape): one conv whose weights and bias have the BN folded in (cached per Parameter.generation) with
// bias and ReLU applied in the conv's output pass; no normalisation pass, nothing kept for backward.
// Inference also has a path training does not: Winograd F(4x4, 3x3) (Winograd4.swift), its
// transformed weights cached beside the folded ones (as the atrous convs' packed taps are).
// Folding rounds differently from conv-then-normalise: outputs agree to float rounding, not bits.
import Tensor
import Autograd
import NN

/// Folded convs that ran Winograd F(4x4) (inference's rule), counted for tests: a training step's
/// teacher forwards must not add to it when inference's rule differs from the step's.
nonisolated(unsafe) public var foldedWinograd4Passes = 0

/// y = relu?(bn(conv(x))); x [N, C, H, W]. With `residual` (a residual block's identity, y's shape):
/// relu?(bn(conv(x)) + residual), the ops and bits of `addRelu(convBN(..., relu: false), residual)`;
/// inference adds it in the 1x1 / im2col conv's output pass instead of a pass of its own.
func convBN(_ conv: Conv2d, _ bn: BatchNorm2d, _ x: Variable, relu: Bool, residual: Variable? = nil) -> Variable {
    guard !bn.training, !Tape.isRecording else {
        let y = bn(countedConv(conv, x))
        if let residual { return relu ? addRelu(y, residual) : add(y, residual) }
        return relu ? Autograd.relu(y) : y
    }
    let w = conv.weight.shape
    if let residual {
        let g = ConvGeometry(input: x.shape, weight: w, stride: conv.stride, padding: conv.padding,
                             dilation: conv.dilation, groups: conv.groups)
        let fused = residual.shape == g.outShape && g.groups == 1 && !g.isDepthwise3x3 && !Conv.useWinograd(g)
            && !Conv.useWinograd4(g) && !AtrousConv.usePhaseWinograd4(g) && !AtrousConv.applies(conv, x.shape)
        if !fused {
            let y = convBN(conv, bn, x, relu: false)
            return relu ? addRelu(y, residual) : add(y, residual)
        }
    }
    let f = foldedWeights(conv, bn)
    let g = ConvGeometry(input: x.shape, weight: w, stride: conv.stride, padding: conv.padding,
                         dilation: conv.dilation, groups: conv.groups)
    let y: Tensor
    let phases = AtrousConv.usePhaseWinograd4(g)
    let atrous = !phases && AtrousConv.applies(conv, x.shape)
    if phases || Conv.useWinograd4(g) { foldedWinograd4Passes += 1 }
    if phases {
        let (u, packedU) = winograd4Filters(f)
        y = AtrousConv.phaseWinograd4Forward(x.value, u, g, bias: f.bias, relu: relu, packedU: packedU)
    } else if atrous {
        // Packed for dcot's GEMM when it runs (then neither the folded weights nor their taps are kept).
        let packedTaps = Gemm.native ? f.packs("taps") { Gemm.packA(stack: AtrousConv.packTaps(f.makeWeight())) } : []
        if packedTaps.count == w[2] * w[3] && packedTaps[0].current {
            y = AtrousConv.forward(x.value, f.raw, dilation: conv.dilation, padding: conv.padding, packedTaps: packedTaps)
        } else {
            let packed = f.derived("taps") { AtrousConv.packTaps(f.weight) }
            y = AtrousConv.forward(x.value, f.weight, dilation: conv.dilation, padding: conv.padding, packed: packed)
        }
        Conv.addBiasRelu(y, f.bias, relu: relu)
    } else if Conv.useWinograd4(g) {
        let (u, packedU) = winograd4Filters(f)
        y = Conv.winograd4Forward(x.value, u, g, bias: f.bias, relu: relu, packedU: packedU)
    } else {
        // The folded weights packed for dcot's GEMM straight from the conv's own and the scale (the
        // same products, so the same bits), without keeping a folded copy beside them.
        let packed = g.groups == 1 && !g.isDepthwise3x3 && !Conv.useWinograd(g)
            ? f.packs("weight") {
                guard let p = Gemm.packA(m: w[0], k: g.colRows, a: f.raw.data, lda: g.colRows) else { return [] }
                p.scaleRows(f.scale.data)
                return [p]
            }.first
            : nil
        // With a current packed matrix Conv.forward reads w for its shape only (the products come
        // from the packed, folded rows), so the unfolded weights stand in for the folded ones.
        y = Conv.forward(x.value, packed?.current == true ? f.raw : f.weight, bias: f.bias, g, relu: relu, packed: packed,
                         residual: residual?.value, trainingWinograd4: false)
    }
    if FlopCounter.enabled {
        let kept = atrous ? AtrousConv.keptFraction(k: w[2], h: x.shape[2], w: x.shape[3], dilation: conv.dilation, padding: conv.padding) : 1
        FlopCounter.add(2 * Double(y.count) * Double(w[1] * w[2] * w[3]) * kept)
    }
    return Variable(y)
}

/// The F(4x4) filters of a folded conv: packed for dcot's GEMM when its packed path runs (the
/// filters themselves are then not kept: a quarter of R50's inference weights, 4x the 3x3 convs'),
/// else U = winograd4Filter(w) for the Swift path.
func winograd4Filters(_ f: FoldedConv) -> (u: Tensor?, packed: [Gemm.PackedA]) {
    let (o, c) = (f.raw.shape[0], f.raw.shape[1])
    if Gemm.native && Conv.winograd4Packed {
        let packed = f.packs("winograd4") {
            let w = f.makeWeight()                // alive while its pointer is read (not a temporary's `.data`)
            return withExtendedLifetime(w) { Conv.winograd4PackFilter(Conv.winograd4Filter(w.data, o: o, c: c)) }
        }
        if packed.count == 36 && packed[0].current { return (nil, packed) }
    }
    return (f.derived("winograd4") { Conv.winograd4Filter(f.weight.data, o: o, c: c) }, [])
}

/// The conv's weights and bias with `bn`'s eval-mode affine map folded in, rebuilt when parameter
/// values may have changed. The scale is computed exactly as batchNorm2d's eval path computes it;
/// the folded weights themselves are made when a path first needs them (FoldedConv.weight).
func foldedWeights(_ conv: Conv2d, _ bn: BatchNorm2d) -> FoldedConv {
    if let f = conv.folded, f.generation == Parameter.generation { return f }
    let w = conv.weight.value, o = w.shape[0]
    let gamma = bn.weight.value, beta = bn.bias.value, mean = bn.runningMean.value, variance = bn.runningVar.value
    let fb = Tensor(shape: [o]), fs = Tensor(shape: [o]), convBias = conv.bias?.value
    let (gp, bp, mp, vp, cb, fbp, fsp, eps) = (gamma.data, beta.data, mean.data, variance.data, convBias?.data, fb.data, fs.data, bn.eps)
    for oc in 0..<o {
        let scale = 1 / (vp[oc] + eps).squareRoot() * gp[oc]
        fsp[oc] = scale
        fbp[oc] = ((cb?[oc] ?? 0) - mp[oc]) * scale + bp[oc]
    }
    let f = FoldedConv(raw: w, scale: fs, bias: fb, generation: Parameter.generation)
    conv.folded = f
    return f
}
