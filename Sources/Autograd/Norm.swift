// Batch norm 2d (x [N, C, H, W] or [N, C]) and layer norm over the last dimension, closed-form backward.
import Foundation
import Tensor

/// Training: normalises with batch statistics (biased variance) and updates the running
/// statistics in place (momentum, unbiased variance), as torch.nn.functional.batch_norm. The batch
/// is every data-parallel replica's (SyncBN): per-replica partial sums in Double, combined in
/// replica order (Replicas.swift), so statistics and gradients do not depend on the process count.
/// Eval: normalises with the running statistics.
public func batchNorm2d(_ x: Variable, weight: Variable, bias: Variable, runningMean: Tensor, runningVar: Tensor,
                        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Variable {
    let c = x.shape[1], local = Replicas.local, total = Replicas.layout.total
    let m = x.value.count / c / local * total            // values per channel over every replica
    var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
    if training {
        precondition(m > 1, "batch norm in training needs more than one value per channel, got \(x.shape)")
        let mu = Replicas.sumInOrder(BatchNormKernel.partialSums(x.value, replicas: local), width: c).map { $0 / Double(m) }
        let v = Replicas.sumInOrder(BatchNormKernel.partialSums(x.value, replicas: local, mean: mu), width: c).map { $0 / Double(m) }
        let unbias = Double(m) / Double(m - 1), rm = runningMean.data, rv = runningVar.data
        for i in 0..<c {
            mean[i] = Float(mu[i]); invstd[i] = Float(1 / (v[i] + Double(eps)).squareRoot())
            rm[i] = momentum * Float(mu[i]) + (1 - momentum) * rm[i]
            rv[i] = momentum * Float(v[i] * unbias) + (1 - momentum) * rv[i]
        }
    } else {
        for i in 0..<c { mean[i] = runningMean[i]; invstd[i] = 1 / (runningVar[i] + eps).squareRoot() }
    }
    let y = BatchNormKernel.normalize(x.value, mean: mean, invstd: invstd, gamma: weight.value, beta: bias.value)
    let (sx, sw, sb, xv, gamma) = (x.slot, weight.slot, bias.slot, x.value, weight.value)
    return Tape.record(y, [x, weight, bias]) { dy in
        // Per replica: Σdy (beta's gradient) and Σdy·xhat (gamma's), then the totals for dx.
        let partials = BatchNormKernel.backwardPartials(dy, xv, mean: mean, replicas: local)
        for r in 0..<local {
            let dg = Tensor(shape: [c]), db = Tensor(shape: [c]), dgp = dg.data, dbp = db.data
            for ch in 0..<c {
                dbp[ch] = Float(partials[r * 2 * c + ch])
                dgp[ch] = Float(partials[r * 2 * c + c + ch] * Double(invstd[ch]))
            }
            if let sw { sw.perReplica ? sw.accumulate(dg, replica: r) : sw.accumulate(dg) }
            if let sb { sb.perReplica ? sb.accumulate(db, replica: r) : sb.accumulate(db) }
        }
        guard let sx else { return }
        if training {
            let sums = Replicas.sumInOrder(partials, width: 2 * c)
            let sumDy = (0..<c).map { Float(sums[$0]) }
            let sumDyXhat = (0..<c).map { Float(sums[c + $0] * Double(invstd[$0])) }
            sx.accumulate(BatchNormKernel.backwardInput(dy, xv, mean: mean, invstd: invstd, gamma: gamma,
                                                        sumDy: sumDy, sumDyXhat: sumDyXhat, count: Float(m)))
        } else {
            sx.accumulate(BatchNormKernel.normalize(dy, mean: [Float](repeating: 0, count: c), invstd: invstd,
                                                    gamma: gamma, beta: Tensor(zeros: [c])))
        }
    }
}

/// Layer norm over the last dimension: x [..., D], weight and bias [D].
public func layerNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Float) -> Variable {
    let (y, mean, invstd) = LayerNormKernel.forward(x.value, gamma: weight.value, beta: bias.value, eps: eps)
    let (sx, sw, sb, xv, gamma) = (x.slot, weight.slot, bias.slot, x.value, weight.value)
    return Tape.record(y, [x, weight, bias]) { dy in
        let local = Replicas.local
        guard local > 1, sw?.perReplica == true || sb?.perReplica == true else {
            let (dx, dg, db) = LayerNormKernel.backward(dy, xv, mean: mean, invstd: invstd, gamma: gamma, needInput: sx != nil)
            sw?.accumulate(dg); sb?.accumulate(db)
            if let dx { sx?.accumulate(dx) }
            return
        }
        // Gamma and beta gradients sum over rows: one partial per replica's rows (batch-major).
        let rows = mean.count, per = rows / local, d = xv.shape.last!
        let dx: Tensor? = sx != nil ? Tensor(shape: xv.shape) : nil
        for r in 0..<local {
            let part = { (t: Tensor, w: Int) in ShapeKernel.slice(t.reshaped([rows, w]), axis: 0, start: r * per, length: per) }
            let (dxr, dg, db) = LayerNormKernel.backward(part(dy, d), part(xv, d), mean: part(mean, 1).reshaped([per]),
                                                         invstd: part(invstd, 1).reshaped([per]), gamma: gamma, needInput: sx != nil)
            sw?.accumulate(dg, replica: r); sb?.accumulate(db, replica: r)
            if let dx, let dxr { (dx.data + r * per * d).update(from: dxr.data, count: per * d) }
        }
        if let dx { sx?.accumulate(dx) }
    }
}
