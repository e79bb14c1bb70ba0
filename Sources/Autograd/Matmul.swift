// Linear (x [..., in], w [out, in], b [out]) and batched matmul for attention
// (a [B, M, K] or [B, K, M] if transA; b [B, K, N] or [B, N, K] if transB -> [B, M, N]).
import Tensor
import CNative

/// y = x W^T + bias (+ residual when given). One GEMM per batch group of [B, L, in] tokens
/// (Tensor/BatchGroups.swift: a replica's rows compute the same bits in any batch). Bias and
/// residual go in with the product (`Gemm.sgemmAdding`: in dcot's GEMM's own pass over y, else
/// written into y first and the product added with beta 1), not as separate passes.
/// `packedB(m)`: w^T packed for products of m rows (a module's inference weights), or nil.
func linearForward(_ x: Tensor, _ w: Tensor, bias: Tensor?, residual: Tensor? = nil,
                   packedB: ((Int) -> Gemm.PackedB?)? = nil) -> Tensor {
    let (out, inF) = (w.shape[0], w.shape[1])
    precondition(x.shape.last == inF, "linear: x \(x.shape) for weight \(w.shape)")
    let rows = x.count / inF
    let groups = BatchGroups.ranges(x.shape.count > 2 ? x.shape[0] : 1), per = rows / (x.shape.count > 2 ? x.shape[0] : 1)
    let y = Tensor(shape: Array(x.shape.dropLast()) + [out])
    precondition(residual == nil || residual!.count == y.count, "linear: residual \(residual!.shape) for output \(y.shape)")
    let yp = y.data, bp = bias?.data, rp = residual?.data
    for r in groups {
        let m = per * r.count, row0 = r.lowerBound * per
        if bp == nil && rp == nil {
            Gemm.sgemm(packedB: packedB?(m), transB: true, m: m, n: out, k: inF, a: x.data + row0 * inF, lda: inF,
                       b: w.data, ldb: inF, c: yp + row0 * out, ldc: out)
        } else {
            // residual + bias added in the GEMM's own pass over y (no separate pass).
            Gemm.sgemmAdding(packedB: packedB?(m), transB: true, m: m, n: out, k: inF, a: x.data + row0 * inF, lda: inF,
                             b: w.data, ldb: inF, bias: bp.map { UnsafePointer($0) }, rows: rp.map { UnsafePointer($0 + row0 * out) },
                             ldr: out, c: yp + row0 * out, ldc: out)
        }
    }
    return y
}

/// residual + linear(x, w, bias): while the tape records, the two ops (so training computes what it
/// did before); without one (inference) the GEMM adds residual + bias with its product.
/// `packedB`: see `linear(_:_:bias:packedB:)`.
public func linear(_ x: Variable, _ w: Variable, bias: Variable?, adding residual: Variable,
                   packedB: ((Int) -> Gemm.PackedB?)? = nil) -> Variable {
    if Tape.isRecording && (x.slot != nil || w.slot != nil || bias?.slot != nil || residual.slot != nil) {
        return add(residual, linear(x, w, bias: bias, packedB: packedB))
    }
    return Variable(linearForward(x.value, w.value, bias: bias?.value, residual: residual.value, packedB: packedB))
}

public enum LinearGradients {
    /// Linear layers of at most this many multiply-adds compute their gradients in one pool job
    /// with two threads (see `linear`); larger ones split each product over the threads on its own.
    nonisolated(unsafe) public static var oneJobMaxMACs: Double = 32e6
}

/// x W^T + bias. `packedB(m)`: W^T already packed for products of m rows (`PackedLinearWeights`,
/// a module's inference weights), or nil to pack in the GEMM; the same bits either way.
public func linear(_ x: Variable, _ w: Variable, bias: Variable? = nil, packedB: ((Int) -> Gemm.PackedB?)? = nil) -> Variable {
    let (out, inF) = (w.shape[0], w.shape[1])
    let rows = x.value.count / inF
    let groups = BatchGroups.ranges(x.shape.count > 2 ? x.shape[0] : 1), per = rows / (x.shape.count > 2 ? x.shape[0] : 1)
    let y = linearForward(x.value, w.value, bias: bias?.value, packedB: packedB)
    let (sx, sw, sb, xShape) = (x.slot, w.slot, bias?.slot, x.shape)
    let xv: Tensor? = sw != nil ? x.value : nil, wv: Tensor? = sx != nil ? w.value : nil
    return Tape.record(y, [x, w] + (bias.map { [$0] } ?? [])) { g in
        // Small layers with dcot's GEMM on two threads and one replica here: the weight, input and
        // bias gradients as one pool job, each thread computing its half of each (cut as `sgemm`
        // cuts a product into blocks; with dcot's GEMM an element does not depend on the cut, nor
        // a bias sum's column on the other columns, so the bits are the path's below).
        // mit (the demo's SegFormer): three pool jobs per linear layer's backward become one, and
        // its 32 x 32 weight gradients, too narrow for `sgemm` to split, no longer run on one
        // thread while the other waits (mit's 2-thread train step 12.44 -> 12.10 ms, the median of
        // 90 steps each in alternating processes on a fast host). Whole products side by side,
        // the weight gradient on one thread and the input gradient on the other, left the second
        // thread idle 0.64 ms per step: the transposed product is the slower. Larger layers split
        // each product over the threads on its own (SegFormer-b2's, 50-90 M multiply-adds at crop
        // 321, gained nothing from one job).
        if let sw, let xv, let sx, let wv, Replicas.local == 1, Parallel.threads == 2, Gemm.splitAcrossThreads,
           Gemm.native, rows > 0, Double(rows) * Double(out) * Double(inF) <= LinearGradients.oneJobMaxMACs,
           cn_pool_in_task() == 0 {
            let dw = Tensor(shape: [out, inF]), dx = Tensor(shape: xShape)
            let db: Tensor? = sb != nil ? Tensor(shape: [out]) : nil
            Gemm.independent(2) { t in
                Gemm.sgemmPart(t, of: 2, transA: true, m: out, n: inF, k: rows, a: g.data, lda: out, b: xv.data, ldb: inF,
                               c: dw.data, ldc: inF)
                for r in groups {
                    let off = r.lowerBound * per
                    Gemm.sgemmPart(t, of: 2, m: per * r.count, n: inF, k: out, a: g.data + off * out, lda: out, b: wv.data,
                                   ldb: inF, c: dx.data + off * inF, ldc: inF)
                }
                if let db {
                    let cols = (t * out / 2)..<((t + 1) * out / 2)
                    let sums = Reduce.columnSums(g.data, rows: rows, cols: out, columns: cols)
                    for (i, v) in sums.enumerated() { db.data[cols.lowerBound + i] = v }
                }
            }
            if let sb, let db { sb.accumulate(db) }
            sw.accumulate(dw)
            sx.accumulate(dx)
            return
        }
        // Weight and bias gradients sum over rows (batch-major tokens): one partial per replica.
        if let sb {
            accumulatePerReplica(sb, [g.reshaped([rows, out])]) { t in
                Tensor(shape: [out], values: Reduce.columnSums(t[0].data, rows: t[0].shape[0], cols: out))
            }
        }
        if let sw, let xv {
            accumulatePerReplica(sw, [g.reshaped([rows, out]), xv.reshaped([rows, inF])]) { t in
                let dw = Tensor(shape: [out, inF])
                Gemm.sgemm(transA: true, m: out, n: inF, k: t[0].shape[0], a: t[0].data, lda: out, b: t[1].data, ldb: inF,
                           c: dw.data, ldc: inF)
                return dw
            }
        }
        if let sx, let wv {
            let dx = Tensor(shape: xShape)
            for r in groups {
                Gemm.sgemm(m: per * r.count, n: inF, k: out, a: g.data + r.lowerBound * per * out, lda: out, b: wv.data, ldb: inF,
                           c: dx.data + r.lowerBound * per * inF, ldc: inF)
            }
            sx.accumulate(dx)
        }
    }
}

/// Batched op(a) x op(b) over the leading dimension.
public func matmul(_ a: Variable, _ b: Variable, transA: Bool = false, transB: Bool = false) -> Variable {
    precondition(a.shape.count == 3 && b.shape.count == 3 && a.shape[0] == b.shape[0], "matmul: \(a.shape) x \(b.shape)")
    let batch = a.shape[0]
    let (m, k) = transA ? (a.shape[2], a.shape[1]) : (a.shape[1], a.shape[2])
    let (k2, n) = transB ? (b.shape[2], b.shape[1]) : (b.shape[1], b.shape[2])
    precondition(k == k2, "matmul: inner dimensions \(k) and \(k2) differ")
    let y = Tensor(shape: [batch, m, n])
    Gemm.batched(transA: transA, transB: transB, batch: batch, m: m, n: n, k: k, a: a.value.data, strideA: m * k,
                 b: b.value.data, strideB: k * n, c: y.data, strideC: m * n)
    let (sa, sb) = (a.slot, b.slot)
    let av: Tensor? = sb != nil ? a.value : nil, bv: Tensor? = sa != nil ? b.value : nil
    let (aShape, bShape) = (a.shape, b.shape)
    return Tape.record(y, [a, b]) { g in
        if let sa, let bv {
            let da = Tensor(shape: aShape)
            if !transA {
                Gemm.batched(transA: false, transB: !transB, batch: batch, m: m, n: k, k: n, a: g.data, strideA: m * n,
                             b: bv.data, strideB: k * n, c: da.data, strideC: m * k)
            } else {
                Gemm.batched(transA: transB, transB: true, batch: batch, m: k, n: m, k: n, a: bv.data, strideA: k * n,
                             b: g.data, strideB: m * n, c: da.data, strideC: m * k)
            }
            sa.accumulate(da)
        }
        if let sb, let av {
            let db = Tensor(shape: bShape)
            if !transB {
                Gemm.batched(transA: !transA, transB: false, batch: batch, m: k, n: n, k: m, a: av.data, strideA: m * k,
                             b: g.data, strideB: m * n, c: db.data, strideC: k * n)
            } else {
                Gemm.batched(transA: true, transB: transA, batch: batch, m: n, n: k, k: m, a: g.data, strideA: m * n,
                             b: av.data, strideB: m * k, c: db.data, strideC: k * n)
            }
            sb.accumulate(db)
        }
    }
}
