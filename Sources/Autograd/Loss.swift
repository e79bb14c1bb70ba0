// Softmax / log-softmax along an axis, cross-entropy on logits [N, C, H, W] with LabelMap targets
// [N, H, W] (255 = ignore), OHEM cross-entropy (METHOD.md 5.4), and argmax/confidence (no gradient).
import Tensor

public func softmax(_ x: Variable, axis: Int) -> Variable {
    let y = SoftmaxKernel.forward(x.value, axis: axis, log: false), sx = x.slot
    return Tape.record(y, [x]) { g in sx?.accumulate(SoftmaxKernel.backward(g, output: y, axis: axis, log: false)) }
}

public func logSoftmax(_ x: Variable, axis: Int) -> Variable {
    let y = SoftmaxKernel.forward(x.value, axis: axis, log: true), sx = x.slot
    return Tape.record(y, [x]) { g in sx?.accumulate(SoftmaxKernel.backward(g, output: y, axis: axis, log: true)) }
}

/// What the summed per-pixel loss is divided by.
public enum LossNormalizer: Sendable {
    /// The number of pixels whose target is not 255 (PyTorch's mean with ignore_index; a weight
    /// of 0 does not change the count).
    case validPixels
    /// A given count, e.g. the non-padded pixels of the CPS loss.
    case count(Double)
}

/// sum over pixels with target != 255 of weight * CE, divided by the normaliser; shape [].
/// `weight` [N, H, W] is a per-pixel multiplier (e.g. a confidence mask), no gradient.
public func crossEntropy(_ logits: Variable, _ target: LabelMap, weight: Tensor? = nil,
                         normalizer: LossNormalizer = .validPixels) -> Variable {
    let (s, valid, lse) = CrossEntropyKernel.forward(logits.value, target, weight: weight)
    let denom: Double
    switch normalizer {
    case .validPixels: denom = Double(valid)
    case .count(let c): denom = c
    }
    // An empty selection gives 0 (PyTorch would give NaN); the gradient is then 0 as well.
    let loss = denom > 0 ? s / denom : 0
    let (sx, xv) = (logits.slot, logits.value)
    return Tape.record(Tensor(shape: [], values: [Float(loss)]), [logits]) { g in
        let k = denom > 0 ? g.data[0] / Float(denom) : 0
        sx?.accumulate(CrossEntropyKernel.backward(xv, target, weight: weight, lse: lse, scale: k))
    }
}

/// OHEM cross-entropy (TorchSemiSeg ProbOhemCrossEntropy2d): if fewer than minKept pixels are
/// valid, plain CE; otherwise keep the pixels whose target probability is <= max(threshold,
/// the minKept-th smallest probability over all pixels, ignored ones counting as 1), mean CE over them.
public func ohemCrossEntropy(_ logits: Variable, _ target: LabelMap, threshold: Float = 0.7, minKept: Int = 100_000) -> Variable {
    var valid = 0
    for i in 0..<target.count where target[i] != LabelMap.ignore { valid += 1 }
    if valid < minKept || valid == 0 || minKept <= 0 { return crossEntropy(logits, target) }
    let p = CrossEntropyKernel.targetProbabilities(logits.value, target)
    let k = min(p.count, minKept) - 1
    var sorted = p
    sorted.sort()
    let thr = max(threshold, sorted[k])
    let kept = LabelMap(shape: target.shape)
    for i in 0..<target.count { kept[i] = (target[i] != LabelMap.ignore && p[i] <= thr) ? target[i] : LabelMap.ignore }
    return crossEntropy(logits, kept)
}

/// Hard argmax over channels and the softmax probability of the winner (pseudo-labels); no gradient.
public func argmaxConfidence(_ logits: Tensor) -> (labels: LabelMap, confidence: Tensor) {
    CrossEntropyKernel.argmaxConfidence(logits)
}
