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
        let t = Tensor.normal(convSeg.weight.shape, std: 0.01, seed: seeds.next())
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
        let outs = zip(convs, features).map { conv, x in
            resizeBilinear(conv(x), height: h, width: w, alignCorners: true)
        }
        var y = fusionConv(concat(outs, axis: 1))
        if training && dropoutRatio > 0 { y = dropout2d(y, p: dropoutRatio, seed: seed) }
        return countedConv(convSeg, y)
    }
}
