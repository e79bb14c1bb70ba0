// Multi-head attention core, fused: q [B, N, C], kv [B, M, 2C] (keys in columns 0..<C, values in
// C..<2C, head h in columns h*d..<(h+1)*d of each) -> softmax(scale * q k^T) v, heads merged [B, N, C].
// Heads are read and written in place through leading dimensions (no permute copies); forward runs
// blocks of query rows (GEMM, softmax, GEMM while the block is in cache) on the thread pool.
import Tensor

public enum AttentionCore {
    /// Query rows per forward task: a block's scores (rows x M floats) stay in L2 between its two GEMMs.
    nonisolated(unsafe) public static var blockRows = 128
    /// Query rows per backward task (dP, dS, dQ): no softmax between cached GEMMs there, so larger
    /// blocks for the GEMMs' sake.
    nonisolated(unsafe) public static var backwardBlockRows = 512
}

/// softmax(scale * Q_h K_h^T) V_h per sample and head. Closed-form backward with the
/// probabilities kept from the forward (only when a gradient is needed).
public func attention(query q: Variable, keyValue kv: Variable, heads h: Int, scale: Float) -> Variable {
    let (b, n, c) = (q.shape[0], q.shape[1], q.shape[2])
    let m = kv.shape[1]
    precondition(q.shape.count == 3 && kv.shape == [b, m, 2 * c] && c % h == 0 && scale > 0,
                 "attention: q \(q.shape), kv \(kv.shape), heads \(h)")
    let d = c / h, ldq = c, ldkv = 2 * c
    let keep = Tape.isRecording && (q.slot != nil || kv.slot != nil)
    let out = Tensor(shape: [b, n, c])
    // Probabilities [B*h, N, M] when backward needs them; else per-task scratch.
    let probs: Tensor? = keep ? Tensor(shape: [b * h, n, m]) : nil
    let rowsPer = max(1, AttentionCore.blockRows), blocks = (n + rowsPer - 1) / rowsPer
    let qp = q.value.data, kvp = kv.value.data, op = out.data, pp = probs?.data
    Gemm.independent(b * h * blocks) { task in
        let bh = task / blocks, r0 = (task % blocks) * rowsPer, rows = min(rowsPer, n - r0)
        let s = bh / h, head = bh % h
        let scratch: Tensor? = pp == nil ? Tensor(shape: [rows * m]) : nil
        let p = pp.map { $0 + (bh * n + r0) * m } ?? scratch!.data
        let qs = qp + (s * n + r0) * ldq + head * d, ks = kvp + s * m * ldkv + head * d
        Gemm.sgemmUnsplit(transB: true, m: rows, n: m, k: d, a: qs, lda: ldq, b: ks, ldb: ldkv, c: p, ldc: m)
        SoftmaxKernel.rows(p, p, rows: rows, cols: m, ld: m, scale: scale)
        Gemm.sgemmUnsplit(m: rows, n: d, k: m, a: p, lda: m, b: ks + c, ldb: ldkv, c: op + (s * n + r0) * ldq + head * d, ldc: ldq)
        withExtendedLifetime(scratch) {}
    }
    guard keep, let probs else { return Variable(out) }
    let (sq, skv, qv, kvv) = (q.slot, kv.slot, q.value, kv.value)
    return Tape.record(out, [q, kv]) { g in
        // Per (sample, head): dP = dO V^T, dV = P^T dO, dS = P (dP - <dP, P>), dQ = scale dS K,
        // dK = scale dS^T Q. Each product is one whole GEMM, so sums over query rows do not depend
        // on the thread count.
        let rowsPer = max(1, AttentionCore.backwardBlockRows), blocks = (n + rowsPer - 1) / rowsPer
        let dq = Tensor(shape: [b, n, c]), dkv = Tensor(shape: [b, m, 2 * c]), ds = Tensor(shape: [b * h, n, m])
        let gp = g.data, pp = probs.data, dsp = ds.data, dqp = dq.data, dkvp = dkv.data, qp = qv.data, kvp = kvv.data
        Gemm.independent(b * h * blocks) { task in
            let bh = task / blocks, r0 = (task % blocks) * rowsPer, rows = min(rowsPer, n - r0)
            let s = bh / h, head = bh % h
            let go = gp + (s * n + r0) * ldq + head * d, ks = kvp + s * m * ldkv + head * d
            let dsb = dsp + (bh * n + r0) * m
            Gemm.sgemmUnsplit(transB: true, m: rows, n: m, k: d, a: go, lda: ldq, b: ks + c, ldb: ldkv, c: dsb, ldc: m)
            SoftmaxKernel.rowsBackward(dsb, pp + (bh * n + r0) * m, dsb, rows: rows, cols: m, ld: m)
            Gemm.sgemmUnsplit(m: rows, n: d, k: m, alpha: scale, a: dsb, lda: m, b: ks, ldb: ldkv,
                              c: dqp + (s * n + r0) * ldq + head * d, ldc: ldq)
        }
        Gemm.independent(b * h) { bh in
            let s = bh / h, head = bh % h
            let go = gp + s * n * ldq + head * d, qs = qp + s * n * ldq + head * d
            let dks = dkvp + s * m * ldkv + head * d
            Gemm.sgemm(transA: true, m: m, n: d, k: n, a: pp + bh * n * m, lda: m, b: go, ldb: ldq, c: dks + c, ldc: ldkv)
            Gemm.sgemm(transA: true, m: m, n: d, k: n, alpha: scale, a: dsp + bh * n * m, lda: m, b: qs, ldb: ldq, c: dks, ldc: ldkv)
        }
        sq?.accumulate(dq)
        skv?.accumulate(dkv)
    }
}

/// Inference of attention with its query and output projections folded into the keys and values
/// (no gradient): with head h's columns Wq_h, bq_h of the query projection and Wo_h of the output
/// projection, out = sum_h softmax(scale · (x Wq_h^T + bq_h) K_h^T) V_h Wo_h^T + bo + residual,
/// computed as sum_h softmax(scale · (x (K_h Wq_h)^T + K_h bq_h)) (V_h Wo_h^T) + (residual + bo).
/// The per-sample products K_h Wq_h and V_h Wo_h^T are M x C (M the reduced keys), so a query
/// block's scores of every head come from one product with x and its output from one product of
/// the heads' probabilities side by side [rows, h M] with [h M, C]: 2 h L M C multiply-adds per
/// sample against 2 L C^2 + 2 L M C with the projections, fewer when M (h - 1) < C (`attentionFolds`): MiT-b2
/// at crop 321, stage 1 (L = 6,561, M = 100, C = 64, one head) 84 M instead of 138 M, stage 2
/// (1,681, 100, 128, two heads) 86 M instead of 98 M. Same function, other rounding.
/// x [B, N, C], kv [B, M, 2C] (keys | values), wq, wo [C, C], bq, bo [C], residual [B, N, C] or nil.
public func attentionFolded(_ x: Tensor, keyValue kv: Tensor, heads h: Int, wq: Tensor, bq: Tensor?, wo: Tensor, bo: Tensor?,
                            residual: Tensor?, scale: Float) -> Tensor {
    let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2])
    let m = kv.shape[1], d = c / h, hm = h * m
    precondition(x.shape.count == 3 && kv.shape == [b, m, 2 * c] && c % h == 0 && wq.shape == [c, c] && wo.shape == [c, c]
                 && (residual == nil || residual!.shape == x.shape), "attentionFolded: x \(x.shape), kv \(kv.shape), heads \(h)")
    // Per sample and head: kq_h = K_h Wq_h [M, C] (rows of kq [h M, C]; scores = x kq_h^T), kb_h = K_h bq_h
    // [M] (the scores' column bias), vo_h = V_h Wo_h^T [M, C] (rows of vo [h M, C]).
    let kq = Tensor(shape: [b, hm, c]), kb = Tensor(zeros: [b, hm]), vo = Tensor(shape: [b, hm, c])
    let kvp = kv.data, ldkv = 2 * c, wqp = wq.data, wop = wo.data, bqp = bq?.data, kqd = kq.data, vod = vo.data, kbd = kb.data
    Gemm.independent(b * h) { task in
        let s = task / h, head = task % h
        let ks = kvp + s * m * ldkv + head * d, row = s * hm + head * m
        Gemm.sgemm(m: m, n: c, k: d, a: ks, lda: ldkv, b: wqp + head * d * c, ldb: c, c: kqd + row * c, ldc: c)
        Gemm.sgemm(transB: true, m: m, n: c, k: d, a: ks + c, lda: ldkv, b: wop + head * d, ldb: c, c: vod + row * c, ldc: c)
        if let bqp { Gemm.sgemm(m: m, n: 1, k: d, a: ks, lda: ldkv, b: bqp + head * d, ldb: 1, c: kbd + row, ldc: 1) }
    }
    let out = Tensor(shape: [b, n, c])
    let rowsPer = max(1, AttentionCore.blockRows), blocks = (n + rowsPer - 1) / rowsPer
    let xp = x.data, op = out.data, rp = residual?.data, bop = bo?.data, kqp = kq.data, kbp = kb.data, vop = vo.data
    Gemm.independent(b * blocks) { task in
        let s = task / blocks, r0 = (task % blocks) * rowsPer, rows = min(rowsPer, n - r0)
        let scratch = Tensor(shape: [rows * hm]), p = scratch.data
        Gemm.sgemmUnsplitAdding(transB: true, m: rows, n: hm, k: c, a: xp + (s * n + r0) * c, lda: c, b: kqp + s * hm * c, ldb: c,
                                bias: bq == nil ? nil : UnsafePointer(kbp + s * hm), rows: nil, ldr: 0, c: p, ldc: hm)
        for head in 0..<h { SoftmaxKernel.rows(p + head * m, p + head * m, rows: rows, cols: m, ld: hm, scale: scale) }
        Gemm.sgemmUnsplitAdding(m: rows, n: c, k: hm, a: p, lda: hm, b: vop + s * hm * c, ldb: c, bias: bop.map { UnsafePointer($0) },
                                rows: rp.map { UnsafePointer($0 + (s * n + r0) * c) }, ldr: c, c: op + (s * n + r0) * c, ldc: c)
        withExtendedLifetime(scratch) {}
    }
    withExtendedLifetime((kq, kb, vo)) {}
    return out
}

/// Whether `attentionFolded` multiplies less than attention with its projections: h M < C + M.
public func attentionFolds(heads h: Int, dim c: Int, keys m: Int) -> Bool { h * m < c + m }
