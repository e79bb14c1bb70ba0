// Whole-image inference protocols of METHOD.md section 6 — original, center crop, sliding window
// (softmax summed over truncated windows; DCT models slide on the DCT grid paired with pixel
// windows, as the reference does) — plus our additions: horizontal-flip and multi-scale test-time
// augmentation and ensembles (mean of softmax). Probability maps are [classes, H, W] Float.
import ImageIO
import Models

public enum ModelInput {
    case rgb(RGBImage)
    case dct(DCTCoefficients)
}

/// The evaluator's view of a segmentor: softmax probabilities for one input, with logits upsampled
/// (bilinear, align_corners) to the requested pixel size.
public protocol ProbabilityModel: AnyObject {
    var classes: Int { get }
    var domain: InputDomain { get }
    func probabilities(_ input: ModelInput, outputHeight: Int, outputWidth: Int) throws -> [Float]
}

public enum InferenceMode: Sendable, Equatable {
    case original
    /// The centred crop x crop window of image and label (the reference's Cityscapes mode before its last 20 epochs).
    case centerCrop(Int)
    /// Windows of `window` pixels at stride int(2/3 · window); DCT models use `dctWindow` grid cells.
    case slidingWindow(window: Int, dctWindow: Int)

    public var name: String {
        switch self {
        case .original: return "original"
        case .centerCrop: return "center_crop"
        case .slidingWindow: return "sliding_window"
        }
    }

    /// int(2/3 · window), the reference's stride.
    public static func stride(_ window: Int) -> Int { window * 2 / 3 }
}

public struct InferenceOptions: Sendable {
    public var mode: InferenceMode
    public var scales: [Double]
    public var flip: Bool

    public init(mode: InferenceMode = .original, scales: [Double] = [1.0], flip: Bool = false) {
        self.mode = mode
        self.scales = scales
        self.flip = flip
    }
}

public struct Inference {
    public let models: [ProbabilityModel]
    public let options: InferenceOptions

    public init(models: [ProbabilityModel], options: InferenceOptions) {
        precondition(!models.isEmpty, "at least one model")
        precondition(Set(models.map(\.classes)).count == 1, "ensemble members must share the class count")
        self.models = models
        self.options = options
    }

    public var classes: Int { models[0].classes }

    /// The image (and label) actually scored: center crop cuts both; other modes keep them whole.
    public func scoredRegion(height: Int, width: Int) -> (y: Int, x: Int, h: Int, w: Int) {
        guard case .centerCrop(let crop) = options.mode else { return (0, 0, height, width) }
        let h = min(crop, height), w = min(crop, width)
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    /// A hard prediction of the scored region: labels and winning probabilities, [h, w].
    public struct Prediction: Sendable {
        public var region: (y: Int, x: Int, h: Int, w: Int)
        public var labels: [UInt8]
        public var confidence: [Float]
        /// The part of a full-size label map (or image) this prediction scores.
        public func scored(_ label: LabelImage) -> LabelImage {
            region.h == label.height && region.w == label.width ? label : crop(label, y: region.y, x: region.x, h: region.h, w: region.w)
        }
        public func scored(_ image: RGBImage) -> RGBImage {
            region.h == image.height && region.w == image.width ? image : crop(image, y: region.y, x: region.x, h: region.h, w: region.w)
        }
        public var labelImage: LabelImage { LabelImage(width: region.w, height: region.h, labels: labels) }
    }

    /// Argmax and confidence of `probabilities(image:dct:)` over the scored region.
    public func predict(image: RGBImage, dct: DCTCoefficients? = nil) throws -> Prediction {
        let r = scoredRegion(height: image.height, width: image.width)
        let (labels, confidence) = argmaxWithConfidence(try probabilities(image: image, dct: dct), classes: classes, pixels: r.h * r.w)
        return Prediction(region: r, labels: labels, confidence: confidence)
    }

    /// Mean probabilities over models, scales and flips for the scored region of `image`.
    /// `dct`: the full image's stored DCT coefficients, if any (used for DCT models at scale 1, no flip).
    public func probabilities(image: RGBImage, dct: DCTCoefficients? = nil) throws -> [Float] {
        let r = scoredRegion(height: image.height, width: image.width)
        let region = r.h == image.height && r.w == image.width ? image : crop(image, y: r.y, x: r.x, h: r.h, w: r.w)
        let regionDCT = (r.h == image.height && r.w == image.width) ? dct : nil
        var sum = [Float](repeating: 0, count: classes * r.h * r.w)
        var terms = 0
        for model in models {
            for scale in options.scales {
                for flipped in options.flip ? [false, true] : [false] {
                    var input = scale == 1.0 ? region : resizeBilinear(region, height: max(1, Int((Double(r.h) * scale).rounded())),
                                                                        width: max(1, Int((Double(r.w) * scale).rounded())))
                    if flipped { input = flipHorizontal(input) }
                    let storedDCT = (scale == 1.0 && !flipped) ? regionDCT : nil
                    var p = try wholeImage(model, input, storedDCT: storedDCT)
                    if flipped { p = flipHorizontal(p, channels: classes, height: input.height, width: input.width) }
                    if input.height != r.h || input.width != r.w {
                        p = resizeProbabilities(p, channels: classes, from: (input.height, input.width), to: (r.h, r.w))
                    }
                    for i in sum.indices { sum[i] += p[i] }
                    terms += 1
                }
            }
        }
        let inv = 1 / Float(terms)
        for i in sum.indices { sum[i] *= inv }
        return sum
    }

    /// One model, one input, the configured mode (center crop is already applied).
    func wholeImage(_ model: ProbabilityModel, _ image: RGBImage, storedDCT: DCTCoefficients?) throws -> [Float] {
        let dct = model.domain == .dct ? (storedDCT ?? DCTTransform.coefficients(image)) : nil
        guard case .slidingWindow(let window, let dctWindow) = options.mode else {
            let input: ModelInput = dct.map { .dct($0) } ?? .rgb(image)
            return try model.probabilities(input, outputHeight: image.height, outputWidth: image.width)
        }
        let (h, w) = (image.height, image.width)
        var final = [Float](repeating: 0, count: model.classes * h * w)
        if let dct {
            // Driven by the DCT grid; the paired pixel window advances by int(2/3 · window) alongside.
            let ds = InferenceMode.stride(dctWindow), ps = InferenceMode.stride(window)
            var rowD = 0, rowP = 0
            while rowD < dct.height {
                var colD = 0, colP = 0
                while colD < dct.width {
                    let ph = min(h, rowP + window) - rowP, pw = min(w, colP + window) - colP
                    if ph > 0 && pw > 0 {
                        let sub = cropDCT(dct, y: rowD, x: colD, h: min(dct.height, rowD + dctWindow) - rowD,
                                          w: min(dct.width, colD + dctWindow) - colD)
                        let p = try model.probabilities(.dct(sub), outputHeight: ph, outputWidth: pw)
                        accumulate(p, into: &final, classes: model.classes, y: rowP, x: colP, h: ph, w: pw, width: w, height: h)
                    }
                    colD += ds
                    colP += ps
                }
                rowD += ds
                rowP += ps
            }
        } else {
            let s = InferenceMode.stride(window)
            var row = 0
            while row < h {
                var col = 0
                while col < w {
                    let wh = min(h, row + window) - row, ww = min(w, col + window) - col
                    let p = try model.probabilities(.rgb(crop(image, y: row, x: col, h: wh, w: ww)), outputHeight: wh, outputWidth: ww)
                    accumulate(p, into: &final, classes: model.classes, y: row, x: col, h: wh, w: ww, width: w, height: h)
                    col += s
                }
                row += s
            }
        }
        // Normalise the summed softmax so ensembles weigh models equally (argmax is unchanged).
        var coverage = [Float](repeating: 0, count: h * w)
        for c in 0..<model.classes { for i in 0..<(h * w) { coverage[i] += final[c * h * w + i] } }
        for c in 0..<model.classes { for i in 0..<(h * w) where coverage[i] > 0 { final[c * h * w + i] /= coverage[i] } }
        return final
    }
}

/// Argmax over classes (ties go to the lower class, as torch.argmax) and the winning probability.
public func argmaxWithConfidence(_ p: [Float], classes: Int, pixels: Int) -> (labels: [UInt8], confidence: [Float]) {
    var labels = [UInt8](repeating: 0, count: pixels)
    var conf = [Float](repeating: -.infinity, count: pixels)
    for c in 0..<classes {
        for i in 0..<pixels where p[c * pixels + i] > conf[i] {
            conf[i] = p[c * pixels + i]
            labels[i] = UInt8(c)
        }
    }
    return (labels, conf)
}

func accumulate(_ p: [Float], into final: inout [Float], classes: Int, y: Int, x: Int, h: Int, w: Int, width: Int, height: Int) {
    for c in 0..<classes {
        for r in 0..<h {
            let src = (c * h + r) * w, dst = (c * height + y + r) * width + x
            for q in 0..<w { final[dst + q] += p[src + q] }
        }
    }
}
