// The reference's augmentations (METHOD.md section 2) with Pillow-exact image operations and
// counter-based randomness: weak = resize (long side 0.5–2.0x, BILINEAR image / NEAREST mask),
// pad right/bottom (image 0, mask 255 labeled / 254 unlabeled), random S x S crop, flip p 0.5;
// strong = ColorJitter(0.5, 0.5, 0.5, 0.25) p 0.8 in a random op order, greyscale p 0.2, Gaussian
// blur σ ~ U(0.1, 2) p 0.5. Each strong view draws its own parameters.
import ImageIO
import Support

public enum Augment {
    /// Mask padding of unlabeled crops (marks padding for the unsupervised loss).
    public static let unlabeledPadding: UInt8 = 254
    /// The reference's random scale range: the long side is resized to 0.5–2.0x its length.
    public static let ratioRange = (0.5, 2.0)

    public struct WeakResult: Sendable {
        public var image: RGBImage
        public var mask: LabelImage
        /// The drawn parameters, for logs and tests.
        public var longSide: Int
        public var origin: (x: Int, y: Int)
        public var flipped: Bool
    }

    /// Resize, pad, crop and flip. `mask` nil (unlabeled without a file) uses an all-zero mask, as the
    /// reference's loader only needs the padding. `scaleRange` bounds the drawn long side as multiples
    /// of the image's (the reference's 0.5–2.0 unless a config sets `scale_range`).
    public static func weak(_ image: RGBImage, mask: LabelImage?, crop s: Int, labeled: Bool,
                            scaleRange: (Double, Double) = ratioRange, rng: inout SplitMix64) -> WeakResult {
        let label = mask ?? LabelImage(width: image.width, height: image.height,
                                       labels: [UInt8](repeating: 0, count: image.width * image.height))
        let (w, h) = (image.width, image.height)
        let longest = max(w, h)
        let lo = Int(Double(longest) * scaleRange.0), hi = Int(Double(longest) * scaleRange.1)
        let long = lo + rng.below(hi - lo + 1) // random.randint: inclusive
        let (ow, oh) = h > w ? (Int(Double(w) * Double(long) / Double(h) + 0.5), long)
                             : (long, Int(Double(h) * Double(long) / Double(w) + 0.5))
        var img = pilResizeBilinear(image, width: ow, height: oh)
        var lab = pilResizeNearest(label, width: ow, height: oh)
        let fill: UInt8 = labeled ? LabelImage.ignore : unlabeledPadding
        if ow < s || oh < s {
            (img, lab) = padRightBottom(img, lab, width: max(ow, s), height: max(oh, s), maskFill: fill)
        }
        let x = rng.below(img.width - s + 1), y = rng.below(img.height - s + 1)
        img = crop(img, y: y, x: x, h: s, w: s)
        lab = crop(lab, y: y, x: x, h: s, w: s)
        let flip = rng.unit() < 0.5
        if flip {
            img = flipHorizontal(img)
            lab = flipHorizontal(lab)
        }
        return WeakResult(image: img, mask: lab, longSide: long, origin: (x, y), flipped: flip)
    }

    /// The drawn photometric parameters of one strong view.
    public struct StrongParameters: Sendable, Equatable {
        public var jitter: Bool
        /// 0 brightness, 1 contrast, 2 saturation, 3 hue (torch.randperm(4)).
        public var order: [Int]
        public var brightness: Float, contrast: Float, saturation: Float
        public var hue: Double
        public var grayscale: Bool
        /// nil: no blur.
        public var blurSigma: Float?

        public init(jitter: Bool, order: [Int], brightness: Float, contrast: Float, saturation: Float, hue: Double,
                    grayscale: Bool, blurSigma: Float?) {
            self.jitter = jitter
            self.order = order
            self.brightness = brightness
            self.contrast = contrast
            self.saturation = saturation
            self.hue = hue
            self.grayscale = grayscale
            self.blurSigma = blurSigma
        }
    }

    /// The strong view's blur σ range (METHOD.md 2.3: U(0.1, 2.0), as PIL radius in pixels).
    public static let blurSigmaRange = (0.1, 2.0)

    /// `blurSigma`: the σ range of the blur (drawn with p 0.5); an upper bound of 0 never blurs.
    /// Other ranges consume the same random numbers, so only the blur changes.
    public static func drawStrong(rng: inout SplitMix64, blurSigma: (Double, Double) = blurSigmaRange) -> StrongParameters {
        let jitter = rng.unit() < 0.8
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        let b = Float(0.5 + rng.unit()), c = Float(0.5 + rng.unit()), sat = Float(0.5 + rng.unit())
        let hue = -0.25 + 0.5 * rng.unit()
        let gray = rng.unit() < 0.2
        let blur = rng.unit() < 0.5
        let sigma = Float(blurSigma.0 + (blurSigma.1 - blurSigma.0) * rng.unit())
        return StrongParameters(jitter: jitter, order: order, brightness: b, contrast: c, saturation: sat, hue: hue,
                                grayscale: gray, blurSigma: blur && sigma > 0 ? sigma : nil)
    }

    public static func strong(_ image: RGBImage, _ p: StrongParameters) -> RGBImage {
        var img = image
        if p.jitter {
            for op in p.order {
                switch op {
                case 0: img = pilBrightness(img, p.brightness)
                case 1: img = pilContrast(img, p.contrast)
                case 2: img = pilSaturation(img, p.saturation)
                default: img = pilAdjustHue(img, p.hue)
                }
            }
        }
        if p.grayscale { img = pilGrayscaleRGB(img) }
        if let sigma = p.blurSigma { img = pilGaussianBlur(img, radius: sigma) }
        return img
    }

    /// ImageNet normalisation to a float tensor [3, H, W].
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    public static func normalize(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let n = image.width * image.height
        for c in 0..<3 {
            let m = mean[c], inv = 1 / std[c]
            for i in 0..<n { out[c * n + i] = (Float(image.pixels[3 * i + c]) / 255 - m) * inv }
        }
    }

    // MARK: geometry helpers

    static func padRightBottom(_ img: RGBImage, _ lab: LabelImage, width: Int, height: Int, maskFill: UInt8) -> (RGBImage, LabelImage) {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        var lb = [UInt8](repeating: maskFill, count: width * height)
        for y in 0..<img.height {
            px.replaceSubrange((y * width * 3)..<(y * width * 3 + img.width * 3),
                               with: img.pixels[(y * img.width * 3)..<((y + 1) * img.width * 3)])
            lb.replaceSubrange((y * width)..<(y * width + img.width), with: lab.labels[(y * img.width)..<((y + 1) * img.width)])
        }
        return (RGBImage(width: width, height: height, pixels: px), LabelImage(width: width, height: height, labels: lb))
    }
}
