// Segmentor (reference model/semseg/segmentor.py): logits = upsample(head(backbone(x))) with
// bilinear align_corners=True to the input size (RGB) or a given pixel size (DCT inputs at /4).
// x [N, C, H, W] -> [N, nclass, outH, outW]. State-dict names: backbone.*, head.*.
import Tensor
import Autograd
import NN

/// What a model eats: RGB pixels or the 64-channel DCT tensor of METHOD.md section 3.
public enum InputDomain: String, Sendable {
    case rgb, dct
}

public final class Segmentor: Module {
    public var training = true
    public let backbone: any Backbone
    public let head: any DecodeHead
    public let domain: InputDomain
    public let nclass: Int
    public let config: ModelConfig?

    public init(backbone: any Backbone, head: any DecodeHead, domain: InputDomain, nclass: Int, config: ModelConfig? = nil) {
        (self.backbone, self.head, self.domain, self.nclass, self.config) = (backbone, head, domain, nclass, config)
    }

    public var children: [(String, any Module)] { [("backbone", backbone), ("head", head)] }

    /// `outputSize` defaults to the input's spatial size (required for DCT inputs, whose pixel
    /// size is 4x theirs up to the crop). `seed` drives dropout / drop path in training mode.
    public func callAsFunction(_ x: Variable, outputSize: (Int, Int)? = nil, seed: UInt64 = 0) -> Variable {
        let (h, w) = outputSize ?? (x.shape[2], x.shape[3])
        let feats = backbone.features(x, seed: Random.derive(seed, 1))
        let logits = head(feats, seed: Random.derive(seed, 2))
        return resizeBilinear(logits, height: h, width: w, alignCorners: true)
    }

    /// Parameters of `backbone.*` and of everything else (the reference's two param groups).
    public func parameterGroups() -> (backbone: [(String, Parameter)], head: [(String, Parameter)]) {
        let all = trainableParameters()
        return (all.filter { $0.0.hasPrefix("backbone.") }, all.filter { !$0.0.hasPrefix("backbone.") })
    }
}
