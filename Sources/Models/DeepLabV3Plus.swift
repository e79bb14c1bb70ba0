// DeepLabv3+ head (METHOD.md 4.2): ASPP on c4 [N, high, h, w] + decoder with c1 [N, low, 4h', 4w']
// -> logits [N, nclass, H/4, W/4]. Names: head.b0..b4 (b4.gap.{1,2}), head.project, reduce, fuse,
// classifier. All convs bias-free except the classifier; every BN is followed by ReLU; no dropout.
import Tensor
import Autograd
import NN

/// The segmentation head contract: logits at the resolution of c1 (stride 4).
public protocol DecodeHead: Module {
    func callAsFunction(_ features: [Variable], seed: UInt64) -> Variable
}

/// ASPP image-pooling branch: global average pool -> 1x1 conv + BN + ReLU -> upsample (align_corners).
public final class ASPPPooling: Module {
    public var training = true
    public let gap: ConvBN
    init(_ cin: Int, _ cout: Int, seeds: inout SeedSequence) {
        gap = ConvBN(conv(cin, cout, 1, seeds: &seeds), BatchNorm2d(cout), names: ("1", "2"))  // gap.0 is the pool
    }
    public var children: [(String, any Module)] { [("gap", gap)] }
    public func callAsFunction(_ x: Variable) -> Variable {
        resizeBilinear(gap(globalAvgPool(x)), height: x.shape[2], width: x.shape[3], alignCorners: true)
    }
}

public final class ASPP: Module {
    public var training = true
    public let b0, b1, b2, b3, project: ConvBN
    public let b4: ASPPPooling

    init(_ cin: Int, _ cout: Int, rates: [Int], seeds: inout SeedSequence) {
        b0 = ConvBN(conv(cin, cout, 1, seeds: &seeds), BatchNorm2d(cout))
        b1 = ConvBN(conv(cin, cout, 3, padding: rates[0], dilation: rates[0], seeds: &seeds), BatchNorm2d(cout))
        b2 = ConvBN(conv(cin, cout, 3, padding: rates[1], dilation: rates[1], seeds: &seeds), BatchNorm2d(cout))
        b3 = ConvBN(conv(cin, cout, 3, padding: rates[2], dilation: rates[2], seeds: &seeds), BatchNorm2d(cout))
        b4 = ASPPPooling(cin, cout, seeds: &seeds)
        project = ConvBN(conv(5 * cout, cout, 1, seeds: &seeds), BatchNorm2d(cout))
    }

    public var children: [(String, any Module)] {
        [("b0", b0), ("b1", b1), ("b2", b2), ("b3", b3), ("b4", b4), ("project", project)]
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        project(concat([b0(x), b1(x), b2(x), b3(x), b4(x)], axis: 1))
    }
}

public final class DeepLabV3PlusHead: DecodeHead {
    public var training = true
    public let head: ASPP
    public let reduce: ConvBN
    public let fuse: Container
    let fuse1, fuse2: ConvBN
    public let classifier: Conv2d

    /// lowChannels/highChannels: c1/c4 widths; channels: ASPP and decoder width (256 in the
    /// reference); reduceChannels: the low-level reduction (48).
    public init(lowChannels: Int, highChannels: Int, nclass: Int, dilations: [Int] = [6, 12, 18],
                channels: Int = 256, reduceChannels: Int = 48, seed: UInt64 = 0) {
        var seeds = SeedSequence(seed)
        head = ASPP(highChannels, channels, rates: dilations, seeds: &seeds)
        reduce = ConvBN(conv(lowChannels, reduceChannels, 1, seeds: &seeds), BatchNorm2d(reduceChannels))
        fuse1 = ConvBN(conv(reduceChannels + channels, channels, 3, padding: 1, seeds: &seeds), BatchNorm2d(channels))
        fuse2 = ConvBN(conv(channels, channels, 3, padding: 1, seeds: &seeds), BatchNorm2d(channels), names: ("3", "4"))
        fuse = Container(fuse1.children + fuse2.children)
        classifier = conv(channels, nclass, 1, bias: true, seeds: &seeds)
        // No init of its own in the reference head: PyTorch's default conv init (NN.Conv2d's), BN 1/0.
    }

    public var children: [(String, any Module)] {
        [("head", head), ("reduce", reduce), ("fuse", fuse), ("classifier", classifier)]
    }

    public func callAsFunction(_ features: [Variable], seed: UInt64 = 0) -> Variable {
        let c1 = features[0], c4 = features[features.count - 1]
        let aspp = resizeBilinear(head(c4), height: c1.shape[2], width: c1.shape[3], alignCorners: true)
        let x = concat([reduce(c1), aspp], axis: 1)
        return countedConv(classifier, fuse2(fuse1(x)))
    }
}
