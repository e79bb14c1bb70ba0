// Segmentation losses on logits [N, C, H, W] and LabelMap targets [N, H, W] (255 = ignore).
import Tensor
import Autograd

/// Cross-entropy with ignore index 255, an optional per-pixel weight and a normaliser.
public struct CrossEntropyLoss: Sendable {
    public var normalizer: LossNormalizer
    public init(normalizer: LossNormalizer = .validPixels) { self.normalizer = normalizer }
    public func callAsFunction(_ logits: Variable, _ target: LabelMap, weight: Tensor? = nil) -> Variable {
        crossEntropy(logits, target, weight: weight, normalizer: normalizer)
    }
}

/// OHEM cross-entropy (METHOD.md 5.4): threshold 0.7, min_kept 100000 by default.
public struct OhemCrossEntropyLoss: Sendable {
    public var threshold: Float
    public var minKept: Int
    public init(threshold: Float = 0.7, minKept: Int = 100_000) { (self.threshold, self.minKept) = (threshold, minKept) }
    public func callAsFunction(_ logits: Variable, _ target: LabelMap) -> Variable {
        ohemCrossEntropy(logits, target, threshold: threshold, minKept: minKept)
    }
}
