// MiT efficient self-attention (mmseg EfficientMultiheadAttention): x [B, N, C] tokens of an
// H x W map; queries from x, keys/values from x spatially reduced by a conv (kernel = stride = sr,
// with bias) + LayerNorm when sr > 1; PyTorch nn.MultiheadAttention packing (in_proj_weight [3C, C],
// in_proj_bias [3C], out_proj). Returns the attention output [B, N, C] (no residual, no drop path).
import Foundation
import Tensor
import Autograd

/// nn.MultiheadAttention (batch first), no dropout.
public final class MultiheadAttention: Module {
    public let inProjWeight, inProjBias: Parameter
    public let outProj: Linear
    public let dim, heads: Int
    public var training = true
    /// The projections' weights packed for inference.
    let packed = PackedLinearWeights()

    public init(dim: Int, heads: Int, seed: UInt64 = 0) {
        precondition(dim % heads == 0, "dim \(dim) not divisible by \(heads) heads")
        (self.dim, self.heads) = (dim, heads)
        let bound = (6 / Float(dim + 3 * dim)).squareRoot()          // xavier_uniform as PyTorch
        inProjWeight = Parameter("in_proj_weight", RandomInit.tensor([3 * dim, dim]) {
            Tensor.uniform([3 * dim, dim], -bound, bound, seed: seed)
        })
        inProjBias = Parameter("in_proj_bias", Tensor(zeros: [3 * dim]))
        outProj = Linear(dim, dim, seed: Random.derive(seed, 2))
        outProj.bias!.value.fill(0)
    }

    public var localParameters: [Parameter] { [inProjWeight, inProjBias] }
    public var children: [(String, any Module)] { [("out_proj", outProj)] }

    /// query [B, N, C], keyValue [B, M, C] -> [B, N, C] (+ residual, added in the output
    /// projection's pass in inference). Keys and values come from one product (in_proj rows
    /// C..<3C), and the fused core reads each head in place (Autograd/Attention.swift).
    public func callAsFunction(query: Variable, keyValue: Variable, residual: Variable? = nil) -> Variable {
        let (c, d) = (dim, dim / heads)
        // Without a tape the query and key/value rows of in_proj come from a cache (the same values;
        // stage 4 of MiT-b2 copied 3 MB of them per block and forward).
        let (w, bias) = Tape.isRecording
            ? (split(inProjWeight.variable, sizes: [c, 2 * c], axis: 0), split(inProjBias.variable, sizes: [c, 2 * c], axis: 0))
            : inProjRows()
        let kv = linear(keyValue, w[1], bias: bias[1], packedB: packed.provider("kv", w[1].value))
        if foldsProjections(keys: keyValue.shape[1]) {
            return Variable(attentionFolded(query.value, keyValue: kv.value, heads: heads, wq: w[0].value, bq: bias[0].value,
                                            wo: outProj.weight.value, bo: outProj.bias?.value, residual: residual?.value,
                                            scale: 1 / Float(d).squareRoot()))
        }
        let q = linear(query, w[0], bias: bias[0], packedB: packed.provider("q", w[0].value))
        // PyTorch scales q (after its bias) by 1/sqrt(head dim); here the scale is the GEMM's alpha.
        let o = attention(query: q, keyValue: kv, heads: heads, scale: 1 / Float(d).squareRoot())
        let wo = outProj.weight.variable
        guard let residual else { return linear(o, wo, bias: outProj.bias?.variable, packedB: packed.provider("out", wo.value)) }
        return linear(o, wo, bias: outProj.bias?.variable, adding: residual, packedB: packed.provider("out", wo.value))
    }

    /// Eval-mode inference folds the query and output projections into the keys and values
    /// (`attentionFolded`; other rounding) when that multiplies less (`attentionFolds`: MiT's stages
    /// 1 and 2 at sr 8 and 4): not while a gradient is recorded, nor in a training step's eval-mode
    /// forwards (EMA teachers keep the training step's bits), nor with `foldsProjections` off.
    public func foldsProjections(keys m: Int) -> Bool {
        MultiheadAttention.foldsProjections && !training && !Conv.isInsideTrainingStep && !Tape.isRecording
            && attentionFolds(heads: heads, dim: dim, keys: m)
    }

    /// Whether eval-mode attention may fold its projections (`dcot-bench model --no-fold-attention`
    /// and tests switch it off).
    nonisolated(unsafe) public static var foldsProjections = true

    private var rowsCache: (generation: Int, w: [Variable], b: [Variable])?
    /// in_proj's query rows and key/value rows (weight and bias) as constants, kept until parameters change.
    func inProjRows() -> ([Variable], [Variable]) {
        if let r = rowsCache, r.generation == Parameter.generation { return (r.w, r.b) }
        let c = dim, wv = inProjWeight.value, bv = inProjBias.value
        func rows(_ t: Tensor, _ start: Int, _ count: Int, _ shape: [Int]) -> Variable {
            let out = Tensor(shape: shape)
            out.data.update(from: t.data + start, count: count)
            return Variable(out)
        }
        let w = [rows(wv, 0, c * c, [c, c]), rows(wv, c * c, 2 * c * c, [2 * c, c])]
        let b = [rows(bv, 0, c, [c]), rows(bv, c, 2 * c, [2 * c])]
        rowsCache = (Parameter.generation, w, b)
        return (w, b)
    }

    /// The unfused composition (separate projections, permuted heads, batched matmuls, softmax),
    /// the naive twin of `callAsFunction` for tests.
    public func composed(query: Variable, keyValue: Variable) -> Variable {
        let (b, n, m, c, h) = (query.shape[0], query.shape[1], keyValue.shape[1], dim, heads)
        let d = c / h
        let w = split(inProjWeight.variable, sizes: [c, c, c], axis: 0)
        let bias = split(inProjBias.variable, sizes: [c, c, c], axis: 0)
        let q = scale(linear(query, w[0], bias: bias[0]), 1 / Float(d).squareRoot())
        let k = linear(keyValue, w[1], bias: bias[1]), v = linear(keyValue, w[2], bias: bias[2])
        func splitHeads(_ t: Variable, _ len: Int) -> Variable {               // [B, L, C] -> [B*h, L, d]
            reshape(permute(reshape(t, [b, len, h, d]), [0, 2, 1, 3]), [b * h, len, d])
        }
        let attn = softmax(matmul(splitHeads(q, n), splitHeads(k, m), transB: true), axis: 2)   // [B*h, N, M]
        let o = matmul(attn, splitHeads(v, m))                                              // [B*h, N, d]
        let merged = reshape(permute(reshape(o, [b, h, n, d]), [0, 2, 1, 3]), [b, n, c])
        return outProj(merged)
    }
}

public final class EfficientSelfAttention: Module {
    public let attn: MultiheadAttention
    public let sr: Conv2d?
    public let norm: LayerNorm?
    public let srRatio: Int
    public var training = true
    /// The reduction's weights packed for inference.
    let packed = PackedLinearWeights()

    public init(dim: Int, heads: Int, srRatio: Int, normEps: Float = 1e-6, seed: UInt64 = 0) {
        attn = MultiheadAttention(dim: dim, heads: heads, seed: seed)
        self.srRatio = srRatio
        if srRatio > 1 {
            sr = Conv2d(dim, dim, kernelSize: srRatio, stride: srRatio, bias: true, seed: Random.derive(seed, 3))
            norm = LayerNorm(dim, eps: normEps)
        } else { sr = nil; norm = nil }
    }

    public var children: [(String, any Module)] {
        [("attn", attn as any Module)] + (sr.map { [("sr", $0 as any Module)] } ?? []) + (norm.map { [("norm", $0 as any Module)] } ?? [])
    }

    /// x [B, N, C] with N = height * width -> [B, N, C] (+ residual).
    public func callAsFunction(_ x: Variable, height: Int, width: Int, residual: Variable? = nil) -> Variable {
        let (n, c) = (x.shape[1], x.shape[2])
        precondition(n == height * width, "tokens \(n) != \(height) x \(width)")
        var kv = x
        if let sr, let norm {
            // The kernel = stride = sr conv on tokens: patches (its columns) times the OIHW weight
            // viewed as [C, C*sr*sr], output already tokens (no NCHW transposes, no im2col).
            let w = reshape(sr.weight.variable, [c, c * srRatio * srRatio])
            kv = norm(linear(patchTokens(x, height: height, width: width, size: srRatio), w, bias: sr.bias?.variable,
                             packedB: packed.provider("sr", w.value)))
        }
        return attn(query: x, keyValue: kv, residual: residual)
    }
}
