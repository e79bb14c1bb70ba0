// Layout ops: reshape (a view), permute/transpose (copies), concat and split along an axis.
import Tensor

public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    let xShape = x.shape, sx = x.slot
    return Tape.record(x.value.reshaped(shape), [x]) { g in sx?.accumulate(g.reshaped(xShape), owned: true) }
}

public func permute(_ x: Variable, _ perm: [Int]) -> Variable {
    // Moving only size-1 axes keeps the memory order: a reshape (view) instead of a copy
    // (e.g. splitting a single attention head).
    let moved = perm.filter { x.shape[$0] != 1 }
    if moved == moved.sorted() { return reshape(x, perm.map { x.shape[$0] }) }
    let inv = ShapeKernel.inversePermutation(perm), sx = x.slot
    return Tape.record(ShapeKernel.permute(x.value, perm), [x]) { g in sx?.accumulate(ShapeKernel.permute(g, inv)) }
}

public func transpose(_ x: Variable, _ a: Int, _ b: Int) -> Variable {
    var perm = Array(0..<x.shape.count)
    perm.swapAt(a, b)
    return permute(x, perm)
}

/// Concatenation along `axis` (channels: 1).
public func concat(_ xs: [Variable], axis: Int = 1) -> Variable {
    let y = ShapeKernel.concat(xs.map { $0.value }, axis: axis)
    let slots = xs.map { $0.slot }, lengths = xs.map { $0.shape[axis] }
    return Tape.record(y, xs) { g in
        var start = 0
        for (s, len) in zip(slots, lengths) {
            if let s { s.accumulate(ShapeKernel.slice(g, axis: axis, start: start, length: len)) }
            start += len
        }
    }
}

/// x[..., start..<start+length, ...] along `axis`.
public func slice(_ x: Variable, axis: Int = 1, start: Int, length: Int) -> Variable {
    let xShape = x.shape, sx = x.slot
    return Tape.record(ShapeKernel.slice(x.value, axis: axis, start: start, length: length), [x]) { g in
        sx?.accumulateSlice(g, shape: xShape, axis: axis, start: start)
    }
}

/// Splits along `axis` into pieces of the given sizes.
public func split(_ x: Variable, sizes: [Int], axis: Int = 1) -> [Variable] {
    precondition(sizes.reduce(0, +) == x.shape[axis], "split sizes \(sizes) for dim \(x.shape[axis])")
    var start = 0
    return sizes.map { len in defer { start += len }; return slice(x, axis: axis, start: start, length: len) }
}

/// Non-overlapping size x size patches of channels-last tokens x [B, H*W, C] -> [B, (H/s)*(W/s),
/// C*s*s], (c, i, j) order: with a linear layer over the OIHW weight viewed as [O, C*s*s], a
/// kernel = stride = s conv that reads and writes tokens (MiT's spatial reduction).
public func patchTokens(_ x: Variable, height: Int, width: Int, size: Int) -> Variable {
    let sx = x.slot, c = x.shape[2]
    return Tape.record(ShapeKernel.patches(x.value, height: height, width: width, size: size), [x]) { g in
        sx?.accumulate(ShapeKernel.patchesBackward(g, height: height, width: width, size: size, channels: c))
    }
}
