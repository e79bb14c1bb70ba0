// Batch norm 2d (x [N, C, H, W] or [N, C]) and layer norm over the last dimension, closed-form backward.
import Foundation
import Tensor

/// Training: normalises with batch statistics (biased variance) and updates the running
/// statistics in place (momentum, unbiased variance), as torch.nn.functional.batch_norm.
/// Eval: normalises with the running statistics.
public func batchNorm2d(_ x: Variable, weight: Variable, bias: Variable, runningMean: Tensor, runningVar: Tensor,
                        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Variable {
    let c = x.shape[1], m = x.value.count / c
    var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
    if training {
        precondition(m > 1, "batch norm in training needs more than one value per channel, got \(x.shape)")
        let (mu, v) = BatchNormKernel.statistics(x.value)
        let unbias = Double(m) / Double(m - 1)
        for i in 0..<c {
            mean[i] = Float(mu[i]); invstd[i] = Float(1 / (v[i] + Double(eps)).squareRoot())
            runningMean[i] = momentum * Float(mu[i]) + (1 - momentum) * runningMean[i]
            runningVar[i] = momentum * Float(v[i] * unbias) + (1 - momentum) * runningVar[i]
        }
    } else {
        for i in 0..<c { mean[i] = runningMean[i]; invstd[i] = 1 / (runningVar[i] + eps).squareRoot() }
    }
    let y = BatchNormKernel.normalize(x.value, mean: mean, invstd: invstd, gamma: weight.value, beta: bias.value)
    let (sx, sw, sb, xv, gamma) = (x.slot, weight.slot, bias.slot, x.value, weight.value)
    return Tape.record(y, [x, weight, bias]) { dy in
        if training {
            let (dx, dg, db) = BatchNormKernel.backwardTrain(dy, xv, mean: mean, invstd: invstd, gamma: gamma, needInput: sx != nil)
            sw?.accumulate(dg); sb?.accumulate(db)
            if let dx { sx?.accumulate(dx) }
        } else {
            let (_, dg, db) = BatchNormKernel.backwardTrain(dy, xv, mean: mean, invstd: invstd, gamma: gamma, needInput: false)
            sw?.accumulate(dg); sb?.accumulate(db)
            if let sx {
                sx.accumulate(BatchNormKernel.normalize(dy, mean: [Float](repeating: 0, count: c), invstd: invstd,
                                                        gamma: gamma, beta: Tensor(zeros: [c])))
            }
        }
    }
}

/// Layer norm over the last dimension: x [..., D], weight and bias [D].
public func layerNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Float) -> Variable {
    let (y, mean, invstd) = LayerNormKernel.forward(x.value, gamma: weight.value, beta: bias.value, eps: eps)
    let (sx, sw, sb, xv, gamma) = (x.slot, weight.slot, bias.slot, x.value, weight.value)
    return Tape.record(y, [x, weight, bias]) { dy in
        let (dx, dg, db) = LayerNormKernel.backward(dy, xv, mean: mean, invstd: invstd, gamma: gamma, needInput: sx != nil)
        sw?.accumulate(dg); sb?.accumulate(db)
        if let dx { sx?.accumulate(dx) }
    }
}
