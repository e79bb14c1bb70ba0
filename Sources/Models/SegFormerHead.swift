// mmseg 0.x SegformerHead (METHOD.md 4.3): stages [N, C_i, H/2^(i+2), W/2^(i+2)] -> logits
// [N, nclass, H/4, W/4]. Names: conv_seg (first, as BaseDecodeHead defines it), convs.{i}.{conv,bn},
// fusion_conv.{conv,bn}.
import Tensor
import Autograd
import NN

public final class SegFormerHead: DecodeHead {
    public var training = true
    public let convSeg: Conv2d
    public let convs: [ConvBN]
    public let fusionConv: ConvBN
    public let dropoutRatio: Float

    public init(inChannels: [Int], channels: Int = 256, nclass: Int, dropoutRatio: Float = 0.1, seed: UInt64 = 0) {
        var seeds = SeedSequence(seed)
        convSeg = conv(channels, nclass, 1, bias: true, seeds: &seeds)
        // mmseg init: conv_seg normal(0, 0.01), bias 0; ConvModule convs mmcv kaiming_init
        // (normal, fan_out, ReLU gain); BN 1/0.
        let seed = seeds.next(), shape = convSeg.weight.shape
        let t = RandomInit.tensor(shape) { Tensor.normal(shape, std: 0.01, seed: seed) }
        convSeg.weight.value.data.update(from: t.data, count: t.count)
        convSeg.bias!.value.fill(0)
        convs = inChannels.map { ConvBN(conv($0, channels, 1, seeds: &seeds), BatchNorm2d(channels), names: ("conv", "bn")) }
        fusionConv = ConvBN(conv(channels * inChannels.count, channels, 1, seeds: &seeds), BatchNorm2d(channels),
                            names: ("conv", "bn"))
        self.dropoutRatio = dropoutRatio
        for c in convs.map(\.conv) + [fusionConv.conv] {
            let w = c.weight.shape
            fillNormal(c.weight.value, std: (2 / Float(w[0] * w[2] * w[3])).squareRoot(), seed: seeds.next())
        }
    }

    public var children: [(String, any Module)] {
        [("conv_seg", convSeg), ("convs", Container(list: convs)), ("fusion_conv", fusionConv)]
    }

    public func callAsFunction(_ features: [Variable], seed: UInt64 = 0) -> Variable {
        let (h, w) = (features[0].shape[2], features[0].shape[3])
        let z = zip(convs, features).map { conv, x in conv(x) }
        var y = fuse(z, height: h, width: w)
        if training && dropoutRatio > 0 { y = dropout2d(y, p: dropoutRatio, seed: seed) }
        return countedConv(convSeg, y)
    }

    /// fusion_conv(cat_i resize(z_i)) computed as relu(bn(Σ_i resize(W_i z_i))), W_i = the fusion
    /// weight's columns of input i: bilinear resizing acts on each channel plane and a 1x1 conv on
    /// each pixel's channels, both linear, so they commute and W_i runs at stage i's resolution
    /// (1/4, 1/16, 1/64 of the pixels for i = 1, 2, 3; SegFormer-b2 at crop 321: 4.6 of the 38
    /// forward GFLOP saved) and no concatenated map is built. Same function, other rounding.
    func fuse(_ z: [Variable], height h: Int, width w: Int) -> Variable {
        let c = fusionConv.conv.weight.shape[0], conv = fusionConv.conv, bn = fusionConv.bn
        precondition(conv.bias == nil && conv.weight.shape[1] == z.count * c, "fusion conv: [C, stages * C] without bias")
        if FlopCounter.enabled { FlopCounter.add(z.reduce(0) { $0 + 2 * Double($1.value.count) * Double(c) }) }
        func resized(_ u: Tensor) -> Tensor {
            u.shape[2] == h && u.shape[3] == w ? u : ResizeKernel.bilinear(u, height: h, width: w, alignCorners: true)
        }
        if !bn.training && !Tape.isRecording {
            // Inference: the BN folded into W_i and one bias, added with the ReLU in the last pass.
            let f = foldedWeights(conv, bn)
            let blocks = f.derived("blocks") { ShapeKernel.permute(f.weight.reshaped([c, z.count, c]), [1, 0, 2]) }
            var acc: Tensor? = nil
            for (i, zi) in z.enumerated() {
                let wi = Tensor(shape: [c, c, 1, 1])
                wi.data.update(from: blocks.data + i * c * c, count: c * c)
                let u = Conv.forward(zi.value, wi, bias: nil, ConvGeometry(input: zi.shape, weight: wi.shape))
                if let acc {
                    if u.shape[2] == h && u.shape[3] == w { acc.addInPlace(u) }
                    else { _ = ResizeKernel.bilinear(u, height: h, width: w, alignCorners: true, adding: acc) }
                } else { acc = resized(u) }
            }
            Conv.addBiasRelu(acc!, f.bias, relu: true)
            return Variable(acc!)
        }
        var acc: Variable? = nil
        for (i, zi) in z.enumerated() {
            var u = conv2d(zi, slice(conv.weight.variable, axis: 1, start: i * c, length: c))
            if u.shape[2] != h || u.shape[3] != w { u = resizeBilinear(u, height: h, width: w, alignCorners: true) }
            acc = acc.map { add($0, u) } ?? u
        }
        return relu(bn(acc!))
    }
}
