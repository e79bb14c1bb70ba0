// Elementwise kernels: binary ops where b broadcasts to a's shape (same rank, each dim of b equal
// or 1: batch, channel, per-sample scalars), its adjoint reduceSum, and unary activations.
import Foundation
import CNative

/// How b [same rank, dims equal or 1] maps onto an output shape: rows x inner, with size-1 dims
/// dropped and runs of equally-broadcast dims merged.
public struct BroadcastPlan {
    public let rows: Int, inner: Int, innerStride: Int
    public let outerSizes: [Int], outerStrides: [Int]

    public init(output: [Int], operand b: [Int]) {
        precondition(output.count == b.count && zip(output, b).allSatisfy { $1 == $0 || $1 == 1 },
                     "cannot broadcast \(b) to \(output)")
        var dims: [(size: Int, bcast: Bool)] = []
        for (o, bd) in zip(output, b) where o != 1 {
            let bc = bd == 1
            if let last = dims.last, last.bcast == bc { dims[dims.count - 1].size *= o } else { dims.append((o, bc)) }
        }
        if dims.isEmpty { dims = [(1, false)] }
        var strides = [Int](repeating: 0, count: dims.count)
        var s = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) where !dims[i].bcast { strides[i] = s; s *= dims[i].size }
        inner = dims.last!.size
        innerStride = strides.last!
        outerSizes = dims.dropLast().map { $0.size }
        outerStrides = Array(strides.dropLast())
        rows = outerSizes.reduce(1, *)
    }

    @inlinable public func operandOffset(row: Int) -> Int {
        var r = row, off = 0
        var i = outerSizes.count - 1
        while i >= 0 { let sz = outerSizes[i]; off &+= (r % sz) &* outerStrides[i]; r /= sz; i -= 1 }
        return off
    }
}

public enum BinaryOp: Sendable { case add, sub, mul }

public enum Elementwise {
    /// out = a (op) broadcast(b); out has a's shape.
    public static func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
        let out = Tensor(shape: a.shape)
        let plan = BroadcastPlan(output: a.shape, operand: b.shape)
        let ap = a.data, bp = b.data, op_ = out.data, inner = plan.inner
        // y[i] = x[i] op z[i] (z nil: the scalar v), n values.
        @inline(__always) func apply(_ x: UnsafePointer<Float>, _ z: UnsafePointer<Float>?, _ v: Float,
                                     _ y: UnsafeMutablePointer<Float>, _ n: Int) {
            if let z {
                switch op {
                case .add: for i in 0..<n { y[i] = x[i] + z[i] }
                case .sub: for i in 0..<n { y[i] = x[i] - z[i] }
                case .mul: for i in 0..<n { y[i] = x[i] * z[i] }
                }
            } else {
                switch op {
                case .add: for i in 0..<n { y[i] = x[i] + v }
                case .sub: for i in 0..<n { y[i] = x[i] - v }
                case .mul: for i in 0..<n { y[i] = x[i] * v }
                }
            }
        }
        if plan.rows == 1 {
            // One row (same shapes, or a scalar operand): cut the row itself (a whole-tensor residual
            // sum of SegFormer's blocks otherwise ran on one thread).
            Parallel.for(inner, grain: 1 << 14) { r in
                apply(ap + r.lowerBound, plan.innerStride == 0 ? nil : UnsafePointer(bp + r.lowerBound), bp[0],
                      op_ + r.lowerBound, r.count)
            }
            return out
        }
        Parallel.for(plan.rows, grain: max(1, 4096 / max(inner, 1))) { r in
            for row in r {
                let boff = plan.operandOffset(row: row)
                apply(ap + row &* inner, plan.innerStride == 0 ? nil : UnsafePointer(bp + boff), bp[boff], op_ + row &* inner, inner)
            }
        }
        return out
    }

    /// The adjoint of broadcasting: sums g [output shape] down to `shape` (Double accumulation, serial order).
    public static func reduceSum(_ g: Tensor, to shape: [Int]) -> Tensor {
        if g.shape == shape { return g.copy() }
        let plan = BroadcastPlan(output: g.shape, operand: shape)
        let n = shape.reduce(1, *)
        var acc = [Double](repeating: 0, count: n)
        let gp = g.data, inner = plan.inner
        for row in 0..<plan.rows {
            let x = gp + row * inner, off = plan.operandOffset(row: row)
            if plan.innerStride == 0 { acc[off] += Double(Reduce.sum(x, inner)) }
            else { for i in 0..<inner { acc[off + i] += Double(x[i]) } }
        }
        return Tensor(shape: shape, values: acc.map { Float($0) })
    }

    public static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data
        Parallel.for(x.count, grain: 1 << 14) { r in for i in r { yp[i] = f(xp[i]) } }
        return y
    }

    public static func scale(_ x: Tensor, _ s: Float) -> Tensor {
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data
        Parallel.for(x.count, grain: 1 << 14) { r in for i in r { yp[i] = xp[i] * s } }
        return y
    }

    public static func relu(_ x: Tensor) -> Tensor {
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data
        Parallel.for(x.count, grain: 1 << 14) { r in for i in r { yp[i] = max(xp[i], 0) } }
        return y
    }

    /// relu(a + b) in one pass, for same-shaped a and b (a residual block's sum): the same bits as
    /// `relu(binary(a, b, .add))`.
    public static func addRelu(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "addRelu: \(a.shape) vs \(b.shape)")
        let y = Tensor(shape: a.shape)
        let ap = a.data, bp = b.data, yp = y.data
        Parallel.for(a.count, grain: 1 << 14) { r in for i in r { yp[i] = max(ap[i] + bp[i], 0) } }
        return y
    }

    /// dx = g where y > 0.
    public static func reluBackward(_ g: Tensor, output y: Tensor) -> Tensor {
        let dx = Tensor(shape: g.shape)
        let gp = g.data, yp = y.data, dp = dx.data
        Parallel.for(g.count, grain: 1 << 14) { r in
            var i = r.lowerBound
            while i &+ 16 <= r.upperBound {                  // SIMD select: the same bits as the scalar tail
                let y = UnsafeRawPointer(yp + i).loadUnaligned(as: SIMD16<Float>.self)
                let v = UnsafeRawPointer(gp + i).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(dp + i).storeBytes(of: v.replacing(with: 0, where: .!(y .> 0)), as: SIMD16<Float>.self)
                i &+= 16
            }
            while i < r.upperBound { dp[i] = yp[i] > 0 ? gp[i] : 0; i &+= 1 }
        }
        return dx
    }

    /// GELU, erf form: 0.5 x (1 + erf(x / sqrt 2)): CNative's AVX-512 / AVX2 kernel (VectorISA), else
    /// SIMD8 here (FastMath.erf, SSE2 on the default target: 2.1 ns per element on SegFormer-b2's maps).
    public static func gelu(_ x: Tensor) -> Tensor {
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data
        let vector = VectorISA.level > 0
        Parallel.for(x.count, grain: 1 << 12) { r in
            if vector { cn_gelu(xp + r.lowerBound, yp + r.lowerBound, r.count); return }
            FastMath.map(xp + r.lowerBound, yp + r.lowerBound, r.count) { FastMath.gelu($0) }
        }
        return y
    }

    /// d/dx GELU = Phi(x) + x phi(x).
    public static func geluBackward(_ g: Tensor, input x: Tensor) -> Tensor {
        let dx = Tensor(shape: x.shape)
        let xp = x.data, gp = g.data, dp = dx.data
        let vector = VectorISA.level > 0
        Parallel.for(x.count, grain: 1 << 12) { r in
            if vector { cn_gelu_backward(gp + r.lowerBound, xp + r.lowerBound, dp + r.lowerBound, r.count); return }
            var i = r.lowerBound
            while i < r.upperBound {
                let k = min(8, r.upperBound &- i)
                let v = FastMath.load(xp + i, k), gv = FastMath.load(gp + i, k)
                let cdf = 0.5 * (1 + FastMath.erf(v * 0.70710678118654752))
                let pdf = FastMath.exp(-0.5 * v * v) * 0.39894228040143268
                FastMath.store(gv * (cdf + v * pdf), dp + i, k)
                i &+= 8
            }
        }
        return dx
    }
}
