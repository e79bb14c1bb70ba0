// The per-sample views of one training step (METHOD.md sections 2.3–2.4). From ONE geometric (weak)
// augmentation of an unlabeled image: weak RGB, strong RGB (its own photometric draw), weak DCT,
// strong DCT (an independent photometric draw: the "diverse augmentation"), the padding mask and the
// CutMix box drawn on the DCT grid and nearest-resized to pixels. Labeled samples: weak RGB (+ DCT)
// and the mask. Every draw is keyed by (seed, epoch, sample index, purpose).
import ImageIO
import Support

public enum RandomPurpose: UInt64, Sendable {
    case labeledWeak = 11, unlabeledWeak = 12, strongRGB = 13, strongDCT = 14, cutmixBox = 15, cutmixPartners = 16
}

/// A float tensor as flat storage plus its shape (the loader stays independent of the tensor core).
public struct FloatPlanes: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
}

public struct LabeledViews: Sendable {
    public var rgb: FloatPlanes          // [3, S, S] normalised
    public var dct: FloatPlanes?         // [64, S', S'] normalised
    public var mask: [UInt8]             // [S, S], 255 = ignore (incl. padding)
}

public struct UnlabeledViews: Sendable {
    public var weakRGB: FloatPlanes
    public var strongRGB: FloatPlanes
    public var weakDCT: FloatPlanes?
    public var strongDCT: FloatPlanes?
    /// [S, S]: 255 where the crop is padding, else 0 (the reference's ignore_mask).
    public var ignore: [UInt8]
    public var box: CutMixBox            // on the S' grid
    public var boxPixels: [UInt8]        // [S, S]
}

public struct ViewMaker: Sendable {
    public let crop: Int
    public let withDCT: Bool
    public let seed: UInt64
    /// The weak augmentation's long-side range, as multiples of the image's (config `scale_range`).
    public let scaleRange: (Double, Double)
    /// The strong views' blur σ range (config `blur_sigma_range`; the reference's 0.1–2.0 by default).
    public let blurSigmaRange: (Double, Double)

    public init(crop: Int, withDCT: Bool, seed: UInt64, scaleRange: (Double, Double) = Augment.ratioRange,
                blurSigmaRange: (Double, Double) = Augment.blurSigmaRange) {
        self.crop = crop
        self.withDCT = withDCT
        self.seed = seed
        self.scaleRange = scaleRange
        self.blurSigmaRange = blurSigmaRange
    }

    /// The DCT grid side for the crop, ceil(S/4) (81 for 321).
    public var gridSize: Int { (crop + 3) / 4 }

    func rng(_ epoch: Int, _ index: Int, _ purpose: RandomPurpose) -> SplitMix64 {
        SplitMix64(seed: seed, keys: UInt64(epoch), UInt64(index), purpose.rawValue)
    }

    /// `strong`: also the photometric strong augmentation (ST++ trains its pseudo-labelled images so).
    public func labeled(image: RGBImage, mask: LabelImage, epoch: Int, index: Int, strong: Bool = false) -> LabeledViews {
        var r = rng(epoch, index, .labeledWeak)
        let w = Augment.weak(image, mask: mask, crop: crop, labeled: true, scaleRange: scaleRange, rng: &r)
        var view = w.image
        if strong {
            var rs = rng(epoch, index, .strongRGB)
            view = Augment.strong(view, Augment.drawStrong(rng: &rs, blurSigma: blurSigmaRange))
        }
        return LabeledViews(rgb: rgbPlanes(view), dct: withDCT ? dctPlanes(view) : nil, mask: w.mask.labels)
    }

    public func unlabeled(image: RGBImage, mask: LabelImage?, epoch: Int, index: Int) -> UnlabeledViews {
        var r = rng(epoch, index, .unlabeledWeak)
        let w = Augment.weak(image, mask: mask, crop: crop, labeled: false, scaleRange: scaleRange, rng: &r)
        var r1 = rng(epoch, index, .strongRGB)
        let strong1 = Augment.strong(w.image, Augment.drawStrong(rng: &r1, blurSigma: blurSigmaRange))
        var weakDCT: FloatPlanes?, strongDCT: FloatPlanes?
        if withDCT {
            var r2 = rng(epoch, index, .strongDCT)
            weakDCT = dctPlanes(w.image)
            strongDCT = dctPlanes(Augment.strong(w.image, Augment.drawStrong(rng: &r2, blurSigma: blurSigmaRange)))
        }
        var rb = rng(epoch, index, .cutmixBox)
        let box = CutMixBox.draw(size: gridSize, rng: &rb)
        let ignore = w.mask.labels.map { $0 == Augment.unlabeledPadding ? UInt8(255) : 0 }
        return UnlabeledViews(weakRGB: rgbPlanes(w.image), strongRGB: rgbPlanes(strong1), weakDCT: weakDCT,
                              strongDCT: strongDCT, ignore: ignore, box: box, boxPixels: box.pixels(crop))
    }

    func rgbPlanes(_ img: RGBImage) -> FloatPlanes {
        var v = [Float](repeating: 0, count: 3 * img.width * img.height)
        v.withUnsafeMutableBufferPointer { Augment.normalize(img, into: $0.baseAddress!) }
        return FloatPlanes(shape: [3, img.height, img.width], values: v)
    }

    func dctPlanes(_ img: RGBImage) -> FloatPlanes {
        let c = DCTTransform.coefficients(img)
        return FloatPlanes(shape: [DCTTransform.channels, c.height, c.width], values: DCTTransform.normalize(c))
    }
}
