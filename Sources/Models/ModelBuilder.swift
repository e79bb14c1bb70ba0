// Builds a Segmentor from a ModelConfig (reference model/backbone/builder.py: a name containing
// "dct" -> ResNet without stem on 64 DCT channels; "resnet" -> ResNet; "mit" -> MixVisionTransformer).
import Support
import Tensor

extension Segmentor {
    /// The DCT tensor's channel count (METHOD.md 3.2).
    public static let dctChannels = 64

    public convenience init(config c: ModelConfig, seed: UInt64 = 0) throws {
        let source = "\(c.source) (backbone \(c.backbone))"
        if c.isMiT {
            var spec = MiTSpec.variant(String(c.backbone.dropFirst("mit-".count)))!
            if let v = c.embedDims { spec.embedDims = v }
            if let v = c.depths { spec.depths = v }
            if let v = c.numHeads { spec.numHeads = v }
            if let v = c.srRatios { spec.srRatios = v }
            if let v = c.mlpRatio { spec.mlpRatio = v }
            if let v = c.dropPathRate { spec.dropPathRate = v }
            guard [spec.depths, spec.numHeads, spec.srRatios].allSatisfy({ $0.count == 4 }) else {
                throw UserError(source, "depths, num_heads and sr_ratios need 4 entries (one per stage)", fix: "fix the lists")
            }
            let backbone = MixVisionTransformer(spec, seed: seed)
            if let ic = c.inChannels, ic != spec.stageDims {
                throw UserError(source, "in_channels \(ic) does not match the backbone's stage widths \(spec.stageDims)",
                                fix: "write in_channels: \(spec.stageDims) or drop the key")
            }
            let head = SegFormerHead(inChannels: spec.stageDims, channels: c.channels ?? c.headChannels ?? 256,
                                     nclass: c.nclass, dropoutRatio: Float(c.dropoutRatio ?? 0.1), seed: Random.derive(seed, 7))
            self.init(backbone: backbone, head: head, domain: .rgb, nclass: c.nclass, config: c)
        } else {
            let digits = c.backbone.dropFirst("resnet".count).prefix { $0.isNumber }
            var spec = ResNetSpec.resnet(Int(digits)!)!
            spec.width = c.width
            spec.replaceStrideWithDilation = c.replaceStrideWithDilation
            spec.multiGrid = c.multiGrid
            if c.isDCT { spec.stem = false; spec.inChannels = Segmentor.dctChannels }
            let backbone = ResNet(spec, seed: seed)
            let (low, high) = (backbone.featureChannels[0], backbone.featureChannels[3])
            for (key, given, actual) in [("low_channels", c.lowChannels, low), ("high_channels", c.highChannels, high)] {
                if let given, given != actual {
                    throw UserError(source, "\(key) \(given) does not match the backbone's \(actual) channels",
                                    fix: "write \(key): \(actual) or drop the key")
                }
            }
            let head = DeepLabV3PlusHead(lowChannels: low, highChannels: high, nclass: c.nclass, dilations: c.dilations,
                                         channels: c.headChannels ?? 256, reduceChannels: c.reduceChannels,
                                         seed: Random.derive(seed, 7))
            self.init(backbone: backbone, head: head, domain: c.isDCT ? .dct : .rgb, nclass: c.nclass, config: c)
        }
    }
}
