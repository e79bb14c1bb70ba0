// MiT backbone (mmseg MixVisionTransformer, METHOD.md 4.3): x [N, 3, H, W] -> 4 NCHW stages at
// strides 4, 8, 16, 32. Names: layers.{i}.0 (patch embed: projection, norm), layers.{i}.1.{j}
// (blocks: norm1, attn.{attn,sr,norm}, norm2, ffn.layers.{0,1,4}), layers.{i}.2 (stage norm).
import Foundation
import Tensor
import Autograd
import NN

public struct MiTSpec: Sendable, Equatable {
    public var embedDims = 64
    public var depths = [3, 4, 6, 3]
    public var numHeads = [1, 2, 5, 8]
    public var srRatios = [8, 4, 2, 1]
    public var patchSizes = [7, 3, 3, 3]
    public var strides = [4, 2, 2, 2]
    public var mlpRatio = 4
    public var dropPathRate: Double = 0.1
    public var inChannels = 3

    public init() {}

    /// mmseg's mit-b0 ... mit-b5.
    public static func variant(_ name: String) -> MiTSpec? {
        var s = MiTSpec()
        switch name {
        case "b0": s.embedDims = 32; s.depths = [2, 2, 2, 2]
        case "b1": s.depths = [2, 2, 2, 2]
        case "b2": s.depths = [3, 4, 6, 3]
        case "b3": s.depths = [3, 4, 18, 3]
        case "b4": s.depths = [3, 8, 27, 3]
        case "b5": s.depths = [3, 6, 40, 3]
        default: return nil
        }
        return s
    }

    public var stageDims: [Int] { numHeads.map { $0 * embedDims } }
}

/// Overlapping patch embedding: conv (kernel p, stride s, padding p/2) + LayerNorm(1e-6).
public final class PatchEmbed: Module {
    public var training = true
    public let projection: Conv2d
    public let norm: LayerNorm
    init(_ cin: Int, _ cout: Int, patch: Int, stride: Int, seeds: inout SeedSequence) {
        projection = conv(cin, cout, patch, stride: stride, padding: patch / 2, bias: true, seeds: &seeds)
        norm = LayerNorm(cout, eps: 1e-6)
    }
    public var children: [(String, any Module)] { [("projection", projection), ("norm", norm)] }
    /// -> tokens [N, h*w, C] and (h, w).
    func callAsFunction(_ x: Variable) -> (Variable, Int, Int) {
        let y = countedConv(projection, x)
        let (n, c, h, w) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3])
        return (norm(transpose(reshape(y, [n, c, h * w]), 1, 2)), h, w)
    }
}

/// Mix-FFN: 1x1 conv C->rC, depthwise 3x3, GELU, 1x1 conv rC->C (all with bias). The convs keep
/// their NCHW/OIHW parameters but run on the block's tokens (channels last): the 1x1 convs as linear
/// layers over every token of the batch group, the depthwise conv vectorised over channels (GELU
/// fused into it in inference), so no transposes between token and NCHW layouts.
public final class MixFFN: Module {
    public var training = true
    public let fc1, dw, fc2: Conv2d
    let layers: Container
    /// fc1 and fc2 packed for inference.
    let packed = PackedLinearWeights()
    init(_ dim: Int, hidden: Int, seeds: inout SeedSequence) {
        fc1 = conv(dim, hidden, 1, bias: true, seeds: &seeds)
        dw = conv(hidden, hidden, 3, padding: 1, groups: hidden, bias: true, seeds: &seeds)
        fc2 = conv(hidden, dim, 1, bias: true, seeds: &seeds)
        layers = Container([("0", fc1), ("1", dw), ("4", fc2)])
    }
    public var children: [(String, any Module)] { [("layers", layers)] }
    /// x [N, L, C] -> [N, L, C] (+ residual, added in fc2's pass in inference).
    func callAsFunction(_ x: Variable, height: Int, width: Int, residual: Variable? = nil) -> Variable {
        let (c, hidden) = (fc1.weight.shape[1], fc1.weight.shape[0])
        if FlopCounter.enabled {
            let tokens = Double(x.value.count / c)
            FlopCounter.add(2 * tokens * Double(hidden) * Double(2 * c + 9))
        }
        let w1 = reshape(fc1.weight.variable, [hidden, c])
        if !Tape.isRecording && FeedForwardBands.applies(hidden: hidden, channels: c, height: height, width: width) {
            // Without a tape: the three ops in bands of rows (the same bits; FeedForwardBands).
            let w2 = fc2.weight.value.reshaped([c, hidden])
            return Variable(FeedForwardBands.forward(x.value, height: height, width: width,
                                                     w1: w1.value, b1: fc1.bias?.value, packed1: packed.provider("fc1", w1.value),
                                                     dw: dw.weight.value, dwBias: dw.bias?.value,
                                                     w2: w2, b2: fc2.bias?.value, packed2: packed.provider("fc2", w2),
                                                     residual: residual?.value))
        }
        let h = linear(x, w1, bias: fc1.bias?.variable, packedB: packed.provider("fc1", w1.value))
        // GELU in the conv's output pass (keeping the conv's output only when backward needs it).
        let y = depthwiseConv3x3GeluTokens(h, dw.weight.variable, bias: dw.bias?.variable, height: height, width: width)
        let w2 = reshape(fc2.weight.variable, [c, hidden])
        guard let residual else { return linear(y, w2, bias: fc2.bias?.variable, packedB: packed.provider("fc2", w2.value)) }
        return linear(y, w2, bias: fc2.bias?.variable, adding: residual, packedB: packed.provider("fc2", w2.value))
    }
}

public final class MiTBlock: Module {
    public var training = true
    public let norm1, norm2: LayerNorm
    public let attn: EfficientSelfAttention
    public let ffn: MixFFN
    public let dropPathRate: Float
    let heads, sr: Int

    init(dim: Int, heads: Int, sr: Int, mlpRatio: Int, dropPath: Float, seeds: inout SeedSequence) {
        norm1 = LayerNorm(dim, eps: 1e-6)
        attn = EfficientSelfAttention(dim: dim, heads: heads, srRatio: sr, seed: seeds.next())
        norm2 = LayerNorm(dim, eps: 1e-6)
        ffn = MixFFN(dim, hidden: dim * mlpRatio, seeds: &seeds)
        dropPathRate = dropPath
        (self.heads, self.sr) = (heads, sr)
    }
    public var children: [(String, any Module)] { [("norm1", norm1), ("attn", attn), ("norm2", norm2), ("ffn", ffn)] }

    /// x [N, L, C] -> [N, L, C]: x += DropPath(attn(LN x)); x += DropPath(FFN(LN x)).
    func callAsFunction(_ x: Variable, height: Int, width: Int, seed: UInt64) -> Variable {
        func drop(_ y: Variable, _ tag: UInt64) -> Variable {
            training && dropPathRate > 0 ? Autograd.dropPath(y, p: dropPathRate, seed: Random.derive(seed, tag)) : y
        }
        if FlopCounter.enabled {
            let (n, l, c) = (Double(x.shape[0]), Double(x.shape[1]), Double(x.shape[2]))
            let m = Double((height / sr) * (width / sr))
            // q, k, v and out projections; q k^T and attn v; the sr conv is counted by its own call.
            FlopCounter.add(2 * n * (2 * l * c * c + 2 * m * c * c + 2 * l * m * c))
            if sr > 1 { FlopCounter.add(2 * n * m * c * c * Double(sr * sr)) }
        }
        if training && dropPathRate > 0 {
            let h = add(x, drop(attn(norm1(x), height: height, width: width), 1))
            return add(h, drop(ffn(norm2(h), height: height, width: width), 2))
        }
        // No drop path: the residuals go into the output projections (one pass fewer each in inference).
        let h = attn(norm1(x), height: height, width: width, residual: x)
        return ffn(norm2(h), height: height, width: width, residual: h)
    }
}

/// One MiT stage: patch embed, blocks, LayerNorm.
public final class MiTStage: Module {
    public var training = true
    public let embed: PatchEmbed
    public let blocks: [MiTBlock]
    public let norm: LayerNorm
    init(embed: PatchEmbed, blocks: [MiTBlock], dim: Int) {
        (self.embed, self.blocks) = (embed, blocks)
        norm = LayerNorm(dim, eps: 1e-6)
    }
    public var children: [(String, any Module)] { [("0", embed), ("1", Container(list: blocks)), ("2", norm)] }
}

public final class MixVisionTransformer: Backbone {
    public var training = true
    public let spec: MiTSpec
    public let stages: [MiTStage]
    public var featureChannels: [Int] { spec.stageDims }

    public init(_ spec: MiTSpec, seed: UInt64 = 0) {
        self.spec = spec
        var seeds = SeedSequence(seed)
        let total = spec.depths.reduce(0, +)
        // Drop-path rate increases linearly over all blocks (torch.linspace(0, rate, total)).
        let rates: [Float] = (0..<total).map { total > 1 ? Float(spec.dropPathRate * Double($0) / Double(total - 1)) : 0 }
        var cin = spec.inChannels, k = 0
        var stages: [MiTStage] = []
        for i in 0..<spec.depths.count {
            let dim = spec.stageDims[i]
            let embed = PatchEmbed(cin, dim, patch: spec.patchSizes[i], stride: spec.strides[i], seeds: &seeds)
            var blocks: [MiTBlock] = []
            for _ in 0..<spec.depths[i] {
                blocks.append(MiTBlock(dim: dim, heads: spec.numHeads[i], sr: spec.srRatios[i], mlpRatio: spec.mlpRatio,
                                       dropPath: rates[k], seeds: &seeds))
                k += 1
            }
            stages.append(MiTStage(embed: embed, blocks: blocks, dim: dim))
            cin = dim
        }
        self.stages = stages
        mmsegInit(seeds: &seeds)
    }

    /// mmseg MixVisionTransformer.init_weights: trunc_normal(0.02) for nn.Linear (here only the
    /// attention out_proj; in_proj_weight keeps nn.MultiheadAttention's xavier_uniform), biases 0,
    /// LN (1, 0), conv normal(0, sqrt(2 / fan_out)) with bias 0 (fan_out divided by groups).
    func mmsegInit(seeds: inout SeedSequence) {
        for (name, p) in namedParameters() {
            let s = p.shape
            if name.hasSuffix("out_proj.weight") {
                let seed = seeds.next(), t = RandomInit.tensor(s) { Tensor.normal(s, std: 0.02, seed: seed) }
                for i in 0..<t.count { t.data[i] = min(max(t.data[i], -2), 2) }
                p.value.data.update(from: t.data, count: t.count)
            } else if name.hasSuffix("in_proj_bias") || name.hasSuffix("out_proj.bias") {
                p.value.fill(0)
            } else if s.count == 4 {
                let groups = s[1] == 1 && !name.contains("projection") ? s[0] : 1
                let fanOut = s[0] * s[2] * s[3] / groups
                fillNormal(p.value, std: (2 / Float(fanOut)).squareRoot(), seed: seeds.next())
            } else if name.hasSuffix(".bias") && !name.contains("norm") {
                p.value.fill(0)
            }
        }
    }

    public var children: [(String, any Module)] { [("layers", Container(list: stages))] }

    public func features(_ x: Variable, seed: UInt64) -> [Variable] {
        var h = x, out: [Variable] = [], k: UInt64 = 0
        for stage in stages {
            var (t, hh, ww) = stage.embed(h)
            for b in stage.blocks { k += 1; t = b(t, height: hh, width: ww, seed: Random.derive(seed, k)) }
            t = stage.norm(t)
            let (n, c) = (t.shape[0], t.shape[2])
            h = reshape(transpose(t, 1, 2), [n, c, hh, ww])
            out.append(h)
        }
        return out
    }
}
