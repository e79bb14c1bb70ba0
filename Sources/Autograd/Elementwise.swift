// Elementwise ops with broadcasting (b broadcasts to a: batch [N,1,1,1], channel [1,C,1,1], ...),
// activations, reductions to a scalar, and the random masks (dropout, Dropout2d, DropPath).
import Foundation
import Tensor

func broadcastsTo(_ b: [Int], _ a: [Int]) -> Bool {
    b.count == a.count && zip(a, b).allSatisfy { $1 == $0 || $1 == 1 }
}

/// a + b; either operand may broadcast to the other.
public func add(_ a: Variable, _ b: Variable) -> Variable {
    if !broadcastsTo(b.shape, a.shape) { return add(b, a) }
    let y = Elementwise.binary(a.value, b.value, .add)
    let (sa, sb, bShape, same) = (a.slot, b.slot, b.shape, a.shape == b.shape)
    return Tape.record(y, [a, b]) { g in
        sb?.accumulate(same ? g : Elementwise.reduceSum(g, to: bShape), owned: !same || sa == nil)
        sa?.accumulate(g, owned: true)
    }
}

/// a - b; b broadcasts to a.
public func sub(_ a: Variable, _ b: Variable) -> Variable {
    let y = Elementwise.binary(a.value, b.value, .sub)
    let (sa, sb, bShape) = (a.slot, b.slot, b.shape)
    return Tape.record(y, [a, b]) { g in
        if sb != nil { sb!.accumulate(Elementwise.scale(Elementwise.reduceSum(g, to: bShape), -1)) }
        sa?.accumulate(g, owned: true)
    }
}

/// a * b; either operand may broadcast to the other.
public func mul(_ a: Variable, _ b: Variable) -> Variable {
    if !broadcastsTo(b.shape, a.shape) { return mul(b, a) }
    let y = Elementwise.binary(a.value, b.value, .mul)
    let (sa, sb, bShape) = (a.slot, b.slot, b.shape)
    let av: Tensor? = sb != nil ? a.value : nil, bv: Tensor? = sa != nil ? b.value : nil
    return Tape.record(y, [a, b]) { g in
        if let sb, let av { sb.accumulate(Elementwise.reduceSum(Elementwise.binary(g, av, .mul), to: bShape)) }
        if let sa, let bv { sa.accumulate(Elementwise.binary(g, bv, .mul)) }
    }
}

public func scale(_ x: Variable, _ s: Float) -> Variable {
    let sx = x.slot
    return Tape.record(Elementwise.scale(x.value, s), [x]) { g in sx?.accumulate(Elementwise.scale(g, s)) }
}

public func relu(_ x: Variable) -> Variable {
    let y = Elementwise.relu(x.value), sx = x.slot
    return Tape.record(y, [x]) { g in sx?.accumulate(Elementwise.reluBackward(g, output: y)) }
}

/// relu(a + b) for same-shaped a and b, one pass each way: the same values and gradients, bit for
/// bit, as `relu(add(a, b))` (a residual block's output); other shapes take that path.
public func addRelu(_ a: Variable, _ b: Variable) -> Variable {
    guard a.shape == b.shape else { return relu(add(a, b)) }
    let y = Elementwise.addRelu(a.value, b.value), (sa, sb) = (a.slot, b.slot)
    return Tape.record(y, [a, b]) { g in
        let dx = Elementwise.reluBackward(g, output: y)
        sb?.accumulate(dx, owned: sa == nil)
        sa?.accumulate(dx, owned: true)
    }
}

/// GELU, erf form (PyTorch's default approximate='none').
public func gelu(_ x: Variable) -> Variable {
    let xv = x.value, sx = x.slot
    return Tape.record(Elementwise.gelu(xv), [x]) { g in sx?.accumulate(Elementwise.geluBackward(g, input: xv)) }
}

/// Sum of all elements: shape [].
public func sum(_ x: Variable) -> Variable {
    let s = Double(Reduce.sum(x.value.data, x.value.count))
    let shape = x.shape, sx = x.slot
    return Tape.record(Tensor(shape: [], values: [Float(s)]), [x]) { g in
        sx?.accumulate(Tensor(shape: shape, repeating: g.data[0]))
    }
}

/// Mean of all elements: shape [].
public func mean(_ x: Variable) -> Variable { scale(sum(x), 1 / Float(max(x.value.count, 1))) }

/// Sum over the axes where `shape` has 1 (keepdim): x [.., D, ..] -> [.., 1, ..].
public func sum(_ x: Variable, to shape: [Int]) -> Variable {
    let xShape = x.shape, sx = x.slot
    let y = Elementwise.reduceSum(x.value, to: shape)
    return Tape.record(y, [x]) { g in
        sx?.accumulate(Elementwise.binary(Tensor(zeros: xShape), g, .add))
    }
}

/// Mean over the axes where `shape` has 1 (keepdim).
public func mean(_ x: Variable, to shape: [Int]) -> Variable {
    scale(sum(x, to: shape), Float(shape.reduce(1, *)) / Float(max(x.value.count, 1)))
}

// MARK: random masks (counter-based: element i of the mask is a pure function of (seed, i))

/// Keep-mask of `shape` scaled by 1/(1-p): keep with probability 1-p. Element i draws counter
/// `counterOffset + i`.
public func dropoutMask(_ shape: [Int], p: Float, seed: UInt64, counterOffset: Int = 0) -> Tensor {
    let m = Tensor(shape: shape), keep = 1 - p, s = keep > 0 ? 1 / keep : 0
    for i in 0..<m.count { m.data[i] = Random.uniform(seed: seed, counter: UInt64(counterOffset + i)) < keep ? s : 0 }
    return m
}

/// A mask over a replica-major batch tensor: counters continue from the rows of the replicas before
/// this process's, so every replica draws the mask it draws when one process runs them all.
func batchMask(_ shape: [Int], p: Float, seed: UInt64) -> Tensor {
    let l = Replicas.layout, count = shape.reduce(1, *)
    return dropoutMask(shape, p: p, seed: seed, counterOffset: l.first * (count / l.local))
}

/// Elementwise dropout (training only; identity when p == 0).
public func dropout(_ x: Variable, p: Float, seed: UInt64) -> Variable {
    if p == 0 { return x }
    return mul(x, Variable(batchMask(x.shape, p: p, seed: seed)))
}

/// Dropout2d: zeroes whole channels of x [N, C, H, W].
public func dropout2d(_ x: Variable, p: Float, seed: UInt64) -> Variable {
    if p == 0 { return x }
    return mul(x, Variable(batchMask([x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.shape.count - 2), p: p, seed: seed)))
}

/// DropPath (stochastic depth): drops whole samples of x [N, ...], survivors scaled by 1/(1-p).
public func dropPath(_ x: Variable, p: Float, seed: UInt64) -> Variable {
    if p == 0 { return x }
    return mul(x, Variable(batchMask([x.shape[0]] + [Int](repeating: 1, count: x.shape.count - 1), p: p, seed: seed)))
}
