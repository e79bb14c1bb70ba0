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

/// y = relu?(bn(conv(x))); x [N, C, H, W].
func convBN(_ conv: Conv2d, _ bn: BatchNorm2d, _ x: Variable, relu: Bool) -> Variable {
    guard !bn.training, !Tape.isRecording else {
        let y = bn(countedConv(conv, x))
        return relu ? Autograd.relu(y) : y
    }
    let f = foldedWeights(conv, bn)
    let w = conv.weight.shape
    let g = ConvGeometry(input: x.shape, weight: w, stride: conv.stride, padding: conv.padding,
                         dilation: conv.dilation, groups: conv.groups)
    let y: Tensor
    let phases = AtrousConv.usePhaseWinograd4(g)
    let atrous = !phases && AtrousConv.applies(conv, x.shape)
    if phases {
        let u = f.derived("winograd4") { Conv.winograd4Filter(f.weight.data, o: w[0], c: w[1]) }
        let packedU = f.packs("winograd4") { Conv.winograd4PackFilter(u) }
        y = AtrousConv.phaseWinograd4Forward(x.value, u, g, bias: f.bias, relu: relu, packedU: packedU)
    } else if atrous {
        let packed = f.derived("taps") { AtrousConv.packTaps(f.weight) }
        y = AtrousConv.forward(x.value, f.weight, dilation: conv.dilation, padding: conv.padding, packed: packed)
        Conv.addBiasRelu(y, f.bias, relu: relu)
    } else if Conv.useWinograd4(g) {
        let u = f.derived("winograd4") { Conv.winograd4Filter(f.weight.data, o: w[0], c: w[1]) }
        let packedU = f.packs("winograd4") { Conv.winograd4PackFilter(u) }
        y = Conv.winograd4Forward(x.value, u, g, bias: f.bias, relu: relu, packedU: packedU)
    } else {
        let packed = g.groups == 1 && !g.isDepthwise3x3 && !Conv.useWinograd(g)
            ? f.packs("weight") { Gemm.packA(m: w[0], k: g.colRows, a: f.weight.data, lda: g.colRows).map { [$0] } ?? [] }.first
            : nil
        y = Conv.forward(x.value, f.weight, bias: f.bias, g, relu: relu, packed: packed)
    }
    if FlopCounter.enabled {
        let kept = atrous ? AtrousConv.keptFraction(k: w[2], h: x.shape[2], w: x.shape[3], dilation: conv.dilation, padding: conv.padding) : 1
        FlopCounter.add(2 * Double(y.count) * Double(w[1] * w[2] * w[3]) * kept)
    }
    return Variable(y)
}

/// The conv's weights and bias with `bn`'s eval-mode affine map folded in, rebuilt when parameter
/// values may have changed. The scale is computed exactly as batchNorm2d's eval path computes it.
func foldedWeights(_ conv: Conv2d, _ bn: BatchNorm2d) -> FoldedConv {
    if let f = conv.folded, f.generation == Parameter.generation { return f }
    let w = conv.weight.value, o = w.shape[0], per = w.count / o
    let gamma = bn.weight.value, beta = bn.bias.value, mean = bn.runningMean.value, variance = bn.runningVar.value
    let fw = Tensor(shape: w.shape), fb = Tensor(shape: [o])
    let src = w.data, dst = fw.data, convBias = conv.bias?.value
    let (gp, bp, mp, vp, cb, fbp, eps) = (gamma.data, beta.data, mean.data, variance.data, convBias?.data, fb.data, bn.eps)
    Parallel.for(o, grain: max(1, 4096 / max(per, 1))) { r in
        for oc in r {
            let scale = 1 / (vp[oc] + eps).squareRoot() * gp[oc]
            for i in 0..<per { dst[oc * per + i] = src[oc * per + i] * scale }
            fbp[oc] = ((cb?[oc] ?? 0) - mp[oc]) * scale + bp[oc]
        }
    }
    let f = FoldedConv(weight: fw, bias: fb, generation: Parameter.generation)
    conv.folded = f
    return f
}
