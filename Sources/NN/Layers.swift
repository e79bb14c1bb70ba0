// Basic layers: Conv2d (x [N, C, H, W], weight OIHW), BatchNorm2d, Linear (weight [out, in]),
// LayerNorm (last dimension), Dropout, Dropout2d, DropPath, GELU, ReLU.
import Tensor
import Autograd

public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride, padding, dilation, groups: Int
    /// Back in training the folded inference weights are stale anyway: freed rather than kept beside
    /// the weights (they are a second copy of every folded conv's weights, plus packed atrous taps).
    public var training = true { didSet { if training { folded = nil } } }
    /// Eval-mode weights with the following batch norm folded in (Models' convBN), while
    /// `Parameter.generation` is unchanged.
    public var folded: FoldedConv?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, seed: UInt64 = 0) {
        let fanIn = inChannels / groups * kernelSize * kernelSize
        weight = Parameter("weight", defaultInit([outChannels, inChannels / groups, kernelSize, kernelSize], fanIn: fanIn, seed: seed))
        self.bias = bias ? Parameter("bias", defaultInit([outChannels], fanIn: fanIn, seed: Random.derive(seed, 1))) : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
    }

    public var localParameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ x: Variable) -> Variable {
        conv2d(x, weight.variable, bias: bias?.variable, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// A conv's weights and bias with an eval-mode batch norm folded in: w' = w·s, b' = (b - mean)·s + beta,
/// s = gamma / sqrt(var + eps). `derived` holds what inference paths build from w' once, by path (packed
/// taps, Winograd filters): one dilated conv can take two paths at two input sizes.
public final class FoldedConv {
    public let bias: Tensor, generation: Int
    /// The conv's own weights and the per-output-channel scale s; `weight` = raw · s, made the first
    /// time a path asks for it (a conv whose packed GEMM operand is built from raw and s never does).
    public let raw: Tensor, scale: Tensor
    public private(set) lazy var weight: Tensor = makeWeight()
    /// raw · s, not kept (for derived weights that replace it).
    public func makeWeight() -> Tensor {
        let o = raw.shape[0], per = raw.count / o, fw = Tensor(shape: raw.shape)
        let (src, dst, sp) = (raw.data, fw.data, scale.data)
        Parallel.for(o, grain: max(1, 4096 / max(per, 1))) { r in
            for oc in r { for i in 0..<per { dst[oc * per + i] = src[oc * per + i] * sp[oc] } }
        }
        return fw
    }
    public var derived: [String: Tensor] = [:]
    /// derived[key], built by `make` the first time.
    public func derived(_ key: String, _ make: () -> Tensor) -> Tensor {
        if let d = derived[key] { return d }
        let d = make()
        derived[key] = d
        return d
    }
    /// Weights packed for dcot's own GEMM, by path (the conv's weight matrix, the 36 F(4x4) filters).
    public var packs: [String: [Gemm.PackedA]] = [:]
    /// packs[key], built by `make` the first time (an empty array when dcot's GEMM does not run).
    public func packs(_ key: String, _ make: () -> [Gemm.PackedA]) -> [Gemm.PackedA] {
        if let d = packs[key] { return d }
        let d = make()
        packs[key] = d
        return d
    }
    public init(raw: Tensor, scale: Tensor, bias: Tensor, generation: Int) {
        (self.raw, self.scale, self.bias, self.generation) = (raw, scale, bias, generation)
    }
}

/// Linear-layer weights packed as the GEMM's op(B) = W^T for inference (SegFormer's projections:
/// packing them on every call was 3.5 % of a 1-thread SegFormer-b2 inference), one per (key, tile
/// width), dropped whenever `Parameter.generation` moves; nothing while the tape records (training
/// would repack every step) or when dcot's own GEMM does not run.
public final class PackedLinearWeights {
    private var generation = -1
    private var packs: [String: Gemm.PackedB] = [:]
    public init() {}
    /// Off: every product packs its weights itself (tests compare the bits).
    nonisolated(unsafe) public static var enabled = true

    /// A closure for `linear(..., packedB:)` packing w [out, in] (a parameter's values, or rows of
    /// them) under `key`, or nil while the tape records.
    public func provider(_ key: String, _ w: Tensor) -> ((Int) -> Gemm.PackedB?)? {
        // Stale packs go at the first call after a parameter change, training's too (they would
        // otherwise stay beside the weights through the training that follows an evaluation).
        if generation != Parameter.generation { packs = [:]; generation = Parameter.generation }
        guard PackedLinearWeights.enabled, !Tape.isRecording, Gemm.native else { return nil }
        return { [self] m in packed(key, w, m: m) }
    }

    func packed(_ key: String, _ w: Tensor, m: Int) -> Gemm.PackedB? {
        let k = "\(key)/\(Gemm.tileCols(rows: m))"
        if let p = packs[k], p.k == w.shape[1], p.n == w.shape[0] { return p }
        let p = Gemm.packB(transB: true, m: m, n: w.shape[0], k: w.shape[1], b: w.data, ldb: w.shape[1])
        packs[k] = p
        return p
    }
}

public final class BatchNorm2d: Module {
    public let weight, bias, runningMean, runningVar, numBatchesTracked: Parameter
    public let eps, momentum: Float
    public var training = true

    public init(_ features: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter("weight", Tensor(shape: [features], repeating: 1))
        bias = Parameter("bias", Tensor(zeros: [features]))
        runningMean = Parameter("running_mean", Tensor(zeros: [features]), kind: .buffer)
        runningVar = Parameter("running_var", Tensor(shape: [features], repeating: 1), kind: .buffer)
        numBatchesTracked = Parameter("num_batches_tracked", Tensor(zeros: []), kind: .int64Buffer)
        (self.eps, self.momentum) = (eps, momentum)
    }

    public var localParameters: [Parameter] { [weight, bias, runningMean, runningVar, numBatchesTracked] }

    public func callAsFunction(_ x: Variable) -> Variable {
        if training { numBatchesTracked.value[0] += 1; Parameter.valuesChanged() }
        return batchNorm2d(x, weight: weight.variable, bias: bias.variable, runningMean: runningMean.value,
                           runningVar: runningVar.value, training: training, momentum: momentum, eps: eps)
    }
}

public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public var training = true

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, seed: UInt64 = 0) {
        weight = Parameter("weight", defaultInit([outFeatures, inFeatures], fanIn: inFeatures, seed: seed))
        self.bias = bias ? Parameter("bias", defaultInit([outFeatures], fanIn: inFeatures, seed: Random.derive(seed, 1))) : nil
    }

    public var localParameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
    public func callAsFunction(_ x: Variable) -> Variable { linear(x, weight.variable, bias: bias?.variable) }
}

public final class LayerNorm: Module {
    public let weight, bias: Parameter
    public let eps: Float
    public var training = true

    public init(_ features: Int, eps: Float = 1e-5) {
        weight = Parameter("weight", Tensor(shape: [features], repeating: 1))
        bias = Parameter("bias", Tensor(zeros: [features]))
        self.eps = eps
    }

    public var localParameters: [Parameter] { [weight, bias] }
    public func callAsFunction(_ x: Variable) -> Variable { layerNorm(x, weight: weight.variable, bias: bias.variable, eps: eps) }
}

/// Elementwise dropout; identity in eval mode. `seed` makes the mask a pure function of the call.
public final class Dropout: Module {
    public let p: Float
    public var training = true
    public init(_ p: Float) { self.p = p }
    public func callAsFunction(_ x: Variable, seed: UInt64) -> Variable { training ? dropout(x, p: p, seed: seed) : x }
}

/// Drops whole channels of x [N, C, H, W]; identity in eval mode.
public final class Dropout2d: Module {
    public let p: Float
    public var training = true
    public init(_ p: Float) { self.p = p }
    public func callAsFunction(_ x: Variable, seed: UInt64) -> Variable { training ? dropout2d(x, p: p, seed: seed) : x }
}

/// Stochastic depth: drops whole samples of x [N, ...], survivors scaled by 1/(1-p); identity in eval.
public final class DropPath: Module {
    public let p: Float
    public var training = true
    public init(_ p: Float) { self.p = p }
    public func callAsFunction(_ x: Variable, seed: UInt64) -> Variable { training ? dropPath(x, p: p, seed: seed) : x }
}

public final class GELU: Module {
    public var training = true
    public init() {}
    public func callAsFunction(_ x: Variable) -> Variable { gelu(x) }
}

public final class ReLU: Module {
    public var training = true
    public init() {}
    public func callAsFunction(_ x: Variable) -> Variable { relu(x) }
}
