// conv2d: x [N, C, H, W], w [O, C/groups, KH, KW], optional bias [O] -> [N, O, HO, WO].
import Tensor

public func conv2d(_ x: Variable, _ w: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Variable {
    let g = ConvGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
    let y = Conv.forward(x.value, w.value, bias: bias?.value, g)
    let (sx, sw, sb, wShape) = (x.slot, w.slot, bias?.slot, w.shape)
    let xv: Tensor? = sw != nil ? x.value : nil          // needed only for the weight gradient
    let wv: Tensor? = sx != nil ? w.value : nil          // needed only for the input gradient
    return Tape.record(y, [x, w] + (bias.map { [$0] } ?? [])) { dy in
        // Weight and bias gradients sum over samples: one partial per replica.
        if let sb { accumulatePerReplica(sb, [dy]) { Conv.backwardBias($0[0]) } }
        if let sw, let xv {
            accumulatePerReplica(sw, [dy, xv]) { t in
                Conv.backwardWeight(t[0], t[1], t[1].count == xv.count ? g
                    : ConvGeometry(input: t[1].shape, weight: wShape, stride: stride, padding: padding, dilation: dilation, groups: groups))
            }
        }
        if let sx, let wv { sx.accumulate(Conv.backwardInput(dy, wv, g)) }
    }
}

/// Depthwise 3x3 conv (stride 1, padding 1) with bias on channels-last tokens x [N, H*W, C],
/// w [C, 1, 3, 3]: MiT's Mix-FFN conv without NCHW transposes (Tensor/DepthwiseTokens.swift).
public func depthwiseConv3x3Tokens(_ x: Variable, _ w: Variable, bias: Variable?, height: Int, width: Int) -> Variable {
    let y = DepthwiseTokens.forward(x.value, w.value, bias: bias?.value, height: height, width: width)
    let pullback = depthwiseTokensPullback(x, w, bias: bias, height: height, width: width)
    return Tape.record(y, [x, w] + (bias.map { [$0] } ?? [])) { dy in pullback(dy) }
}

/// gelu(depthwiseConv3x3Tokens(x, w, bias)) in one pass that also keeps the conv's output for
/// GELU's backward: the same bits as the two ops, one read of the conv's output fewer.
public func depthwiseConv3x3GeluTokens(_ x: Variable, _ w: Variable, bias: Variable?, height: Int, width: Int) -> Variable {
    let needed = Tape.isRecording && (x.slot != nil || w.slot != nil || bias?.slot != nil)
    let (y, pre) = DepthwiseTokens.forward(x.value, w.value, bias: bias?.value, height: height, width: width, gelu: true,
                                           keepPreActivation: needed)
    guard needed, let pre else { return Variable(y) }
    let pullback = depthwiseTokensPullback(x, w, bias: bias, height: height, width: width)
    return Tape.record(y, [x, w] + (bias.map { [$0] } ?? [])) { g in pullback(Elementwise.geluBackward(g, input: pre)) }
}

/// The conv's pullback: weight and bias gradients (one partial per replica, both from one pass) and
/// the input gradient.
func depthwiseTokensPullback(_ x: Variable, _ w: Variable, bias: Variable?, height: Int, width: Int) -> (Tensor) -> Void {
    let (sx, sw, sb) = (x.slot, w.slot, bias?.slot)
    let xv: Tensor? = sw != nil || sb != nil ? x.value : nil
    let wv: Tensor? = sx != nil ? w.value : nil
    return { dy in
        if let xv {
            let local = Replicas.local
            let perReplica = local > 1 && (sw?.perReplica == true || sb?.perReplica == true)
            for r in 0..<(perReplica ? local : 1) {
                let (dw, db) = perReplica
                    ? BatchGroups.one { DepthwiseTokens.backwardWeight(Replicas.chunk(dy, r, of: local), Replicas.chunk(xv, r, of: local),
                                                                        height: height, width: width) }
                    : DepthwiseTokens.backwardWeight(dy, xv, height: height, width: width)
                if let sw { perReplica && sw.perReplica ? sw.accumulate(dw, replica: r) : sw.accumulate(dw) }
                if let sb { perReplica && sb.perReplica ? sb.accumulate(db, replica: r) : sb.accumulate(db) }
            }
        }
        if let sx, let wv { sx.accumulate(DepthwiseTokens.backwardInput(dy, wv, height: height, width: width)) }
    }
}
