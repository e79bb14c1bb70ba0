// A Segmentor as the evaluator sees it: eval mode, no gradient, normalised input in, softmax
// probabilities [classes, H, W] out (logits already bilinearly upsampled, align_corners).
import Autograd
import ImageIO
import Models
import Pipeline
import Tensor

public final class SegmentorModel: ProbabilityModel {
    public let segmentor: Segmentor

    public init(_ segmentor: Segmentor) {
        self.segmentor = segmentor
        segmentor.train(false)
    }

    public var classes: Int { segmentor.nclass }
    public var domain: InputDomain { segmentor.domain }

    public func probabilities(_ input: ModelInput, outputHeight: Int, outputWidth: Int) throws -> [Float] {
        let x: Tensor
        switch input {
        case .rgb(let img):
            x = Tensor(shape: [1, 3, img.height, img.width])
            Augment.normalize(img, into: x.data)
        case .dct(let d):
            x = Tensor(shape: [1, DCTTransform.channels, d.height, d.width])
            d.values.withUnsafeBufferPointer { DCTTransform.normalize($0.baseAddress!, into: x.data, planeSize: d.height * d.width) }
        }
        let logits = withNoGrad { segmentor(Variable(x), outputSize: (outputHeight, outputWidth)).value }
        return softmaxOverChannels(logits.data, channels: classes, pixels: outputHeight * outputWidth)
    }
}

/// Softmax over the channel axis of a [C, P] block (max-subtracted, accumulated in Double).
func softmaxOverChannels(_ p: UnsafePointer<Float>, channels c: Int, pixels n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: c * n)
    for i in 0..<n {
        var m = -Float.infinity
        for k in 0..<c { m = max(m, p[k * n + i]) }
        var z = 0.0
        for k in 0..<c { let e = Foundation.exp(Double(p[k * n + i] - m)); out[k * n + i] = Float(e); z += e }
        let inv = Float(1 / z)
        for k in 0..<c { out[k * n + i] *= inv }
    }
    return out
}

import Foundation
