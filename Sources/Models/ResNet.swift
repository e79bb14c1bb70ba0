// ResNet backbones (METHOD.md 4.1, 3.3): x [N, 3, H, W] (RGB, deep stem) or [N, 64, H/4, W/4] (DCT,
// no stem) -> features c1..c4 at strides 4, 8, 16|8, 16|8. Names follow the reference's
// deep-stem ResNet: conv1.{0,1,3,4,6}, bn1, layer{1..4}.{i}.{conv,bn}{1..3}, downsample.{0,1}.
import Tensor
import Autograd
import NN

/// v1.5 bottleneck: 1x1 -> 3x3 (stride, dilation, padding = dilation) -> 1x1 (x4), residual, ReLU.
public final class Bottleneck: Module {
    public static let expansion = 4
    public var training = true
    public let conv1, conv2, conv3: Conv2d
    public let bn1, bn2, bn3: BatchNorm2d
    public let downsample: ConvBN?

    init(_ inplanes: Int, _ planes: Int, stride: Int, dilation: Int, downsample: ConvBN?, seeds: inout SeedSequence) {
        conv1 = conv(inplanes, planes, 1, seeds: &seeds)
        bn1 = BatchNorm2d(planes)
        conv2 = conv(planes, planes, 3, stride: stride, padding: dilation, dilation: dilation, seeds: &seeds)
        bn2 = BatchNorm2d(planes)
        conv3 = conv(planes, planes * Self.expansion, 1, seeds: &seeds)
        bn3 = BatchNorm2d(planes * Self.expansion)
        self.downsample = downsample
    }

    public var children: [(String, any Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3)]
            + (downsample.map { [("downsample", $0 as any Module)] } ?? [])
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        var out = convBN(conv1, bn1, x, relu: true)
        out = convBN(conv2, bn2, out, relu: true)
        if bn3.training || Tape.isRecording {           // training: the ops (and tape order) as they were
            out = convBN(conv3, bn3, out, relu: false)
            return addRelu(out, downsample.map { $0(x) } ?? x)
        }
        return convBN(conv3, bn3, out, relu: true, residual: downsample.map { $0(x) } ?? x)
    }
}

/// Basic block (ResNet-18/34, our small-model addition): 3x3 -> 3x3, both with the block's
/// dilation (torchvision refuses dilation here; we follow the DeepLab convention instead).
public final class BasicBlock: Module {
    public static let expansion = 1
    public var training = true
    public let conv1, conv2: Conv2d
    public let bn1, bn2: BatchNorm2d
    public let downsample: ConvBN?

    init(_ inplanes: Int, _ planes: Int, stride: Int, dilation: Int, downsample: ConvBN?, seeds: inout SeedSequence) {
        conv1 = conv(inplanes, planes, 3, stride: stride, padding: dilation, dilation: dilation, seeds: &seeds)
        bn1 = BatchNorm2d(planes)
        conv2 = conv(planes, planes, 3, padding: dilation, dilation: dilation, seeds: &seeds)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
    }

    public var children: [(String, any Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
            + (downsample.map { [("downsample", $0 as any Module)] } ?? [])
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        let out = convBN(conv2, bn2, convBN(conv1, bn1, x, relu: true), relu: false)
        return addRelu(out, downsample.map { $0(x) } ?? x)
    }
}

/// Backbone output: features c1..c4 (c1 at stride 4). DeepLabv3+ uses c1 and c4.
public protocol Backbone: Module {
    /// Channels of c1..c4.
    var featureChannels: [Int] { get }
    /// `seed` drives stochastic layers (drop path) in training mode.
    func features(_ x: Variable, seed: UInt64) -> [Variable]
}

public struct ResNetSpec: Sendable, Equatable {
    public enum Block: String, Sendable { case basic, bottleneck }
    public var block: Block
    public var depths: [Int]
    /// Channel multiplier on the stem and stage widths (1 = the reference).
    public var width: Double = 1
    /// false: the DCT variant (no stem, layer1 takes `inChannels` at stride 4).
    public var stem = true
    public var inChannels = 3
    public var replaceStrideWithDilation = [false, false, true]
    public var multiGrid = false

    public static func resnet(_ layers: Int) -> ResNetSpec? {
        switch layers {
        case 18: return ResNetSpec(block: .basic, depths: [2, 2, 2, 2])
        case 34: return ResNetSpec(block: .basic, depths: [3, 4, 6, 3])
        case 50: return ResNetSpec(block: .bottleneck, depths: [3, 4, 6, 3])
        case 101: return ResNetSpec(block: .bottleneck, depths: [3, 4, 23, 3])
        case 152: return ResNetSpec(block: .bottleneck, depths: [3, 8, 36, 3])
        default: return nil
        }
    }
}

public final class ResNet: Backbone {
    public var training = true
    public let spec: ResNetSpec
    /// Deep stem conv1.{0,1,3,4,6} + bn1 (nil for DCT).
    public let stemConvs: Container?
    public let stem: [ConvBN]
    public let stemLastConv: Conv2d?
    public let bn1: BatchNorm2d?
    public let layers: [Container]
    let blocks: [[(Variable) -> Variable]]
    public let featureChannels: [Int]

    public init(_ spec: ResNetSpec, seed: UInt64 = 0) {
        self.spec = spec
        var seeds = SeedSequence(seed)
        func w(_ c: Int) -> Int { max(1, Int((Double(c) * spec.width).rounded())) }
        let expansion = spec.block == .bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        var inplanes: Int
        if spec.stem {
            let (c0, c1) = (w(64), w(128))
            let a = ConvBN(conv(spec.inChannels, c0, 3, stride: 2, padding: 1, seeds: &seeds), BatchNorm2d(c0), names: ("0", "1"))
            let b = ConvBN(conv(c0, c0, 3, padding: 1, seeds: &seeds), BatchNorm2d(c0), names: ("3", "4"))
            let last = conv(c0, c1, 3, padding: 1, seeds: &seeds)
            stem = [a, b]
            stemLastConv = last
            stemConvs = Container(a.children + b.children + [("6", last)])
            bn1 = BatchNorm2d(c1)
            inplanes = c1
        } else {
            stem = []; stemLastConv = nil; stemConvs = nil; bn1 = nil
            inplanes = spec.inChannels
        }
        var dilation = 1
        var layers: [Container] = [], blocks: [[(Variable) -> Variable]] = [], channels: [Int] = []
        for (i, depth) in spec.depths.enumerated() {
            let planes = w(64 << i)
            var stride = i == 0 ? 1 : 2
            let previousDilation = dilation
            if i > 0 && spec.replaceStrideWithDilation[i - 1] { dilation *= stride; stride = 1 }
            var ds: ConvBN?
            if stride != 1 || inplanes != planes * expansion {
                ds = ConvBN(conv(inplanes, planes * expansion, 1, stride: stride, seeds: &seeds),
                            BatchNorm2d(planes * expansion), relu: false)
            }
            // Multi-grid on the last stage only: grids [2, 2, 4]; block 0 uses the previous dilation.
            let grids = (i == 3 && spec.multiGrid) ? [2, 2, 4] + [Int](repeating: 4, count: max(0, depth - 3))
                                                   : [Int](repeating: 1, count: depth)
            var mods: [any Module] = [], fns: [(Variable) -> Variable] = []
            for j in 0..<depth {
                let d = j == 0 ? previousDilation * grids[0] : dilation * grids[j]
                let s = j == 0 ? stride : 1
                if spec.block == .bottleneck {
                    let blk = Bottleneck(inplanes, planes, stride: s, dilation: d, downsample: j == 0 ? ds : nil, seeds: &seeds)
                    mods.append(blk); fns.append { blk($0) }
                } else {
                    let blk = BasicBlock(inplanes, planes, stride: s, dilation: d, downsample: j == 0 ? ds : nil, seeds: &seeds)
                    mods.append(blk); fns.append { blk($0) }
                }
                inplanes = planes * expansion
            }
            layers.append(Container(list: mods)); blocks.append(fns); channels.append(inplanes)
        }
        self.layers = layers
        self.blocks = blocks
        featureChannels = channels
        for (_, p) in namedParameters() where p.name == "weight" && p.shape.count == 4 {
            fillNormal(p.value, std: (2 / Float(p.shape[0] * p.shape[2] * p.shape[3])).squareRoot(), seed: seeds.next())
        }
    }

    public var children: [(String, any Module)] {
        var c: [(String, any Module)] = []
        if let stemConvs, let bn1 { c += [("conv1", stemConvs), ("bn1", bn1)] }
        return c + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element as any Module) }
    }

    public func features(_ x: Variable, seed: UInt64 = 0) -> [Variable] {
        var h = x
        if let stemLastConv, let bn1 {
            for s in stem { h = s(h) }
            h = maxPool2d(convBN(stemLastConv, bn1, h, relu: true), kernel: 3, stride: 2, padding: 1)
        }
        var out: [Variable] = []
        for fns in blocks {
            for f in fns { h = f(h) }
            out.append(h)
        }
        return out
    }
}
