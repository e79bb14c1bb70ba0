// conv2d: x [N, C, H, W], w [O, C/groups, KH, KW], optional bias [O] -> [N, O, HO, WO].
import Tensor

public func conv2d(_ x: Variable, _ w: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Variable {
    let g = ConvGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
    let y = Conv.forward(x.value, w.value, bias: bias?.value, g)
    let (sx, sw, sb) = (x.slot, w.slot, bias?.slot)
    let xv: Tensor? = sw != nil ? x.value : nil          // needed only for the weight gradient
    let wv: Tensor? = sx != nil ? w.value : nil          // needed only for the input gradient
    return Tape.record(y, [x, w] + (bias.map { [$0] } ?? [])) { dy in
        if let sb { sb.accumulate(Conv.backwardBias(dy)) }
        if let sw, let xv { sw.accumulate(Conv.backwardWeight(dy, xv, g)) }
        if let sx, let wv { sx.accumulate(Conv.backwardInput(dy, wv, g)) }
    }
}
