import XCTest
import ImageIO
import Pipeline
import Support

final class AugmentTests: XCTestCase {
    /// An image whose colour encodes its label, so geometry can be checked after augmentation.
    func striped(_ w: Int, _ h: Int) -> (RGBImage, LabelImage) {
        var px = [UInt8](repeating: 0, count: w * h * 3), lb = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let c = UInt8((x / 16 + y / 16) % 3)
                lb[y * w + x] = c
                px[(y * w + x) * 3 + Int(c)] = 250
            }
        }
        return (RGBImage(width: w, height: h, pixels: px), LabelImage(width: w, height: h, labels: lb))
    }

    func testWeakParametersFollowTheReference() {
        let (img, lab) = striped(100, 60)
        var rng = SplitMix64(seed: 1)
        var longs = Set<Int>(), flips = 0
        for _ in 0..<400 {
            let r = Augment.weak(img, mask: lab, crop: 64, labeled: true, rng: &rng)
            XCTAssertEqual([r.image.width, r.image.height, r.mask.width, r.mask.height], [64, 64, 64, 64])
            XCTAssertTrue((50...200).contains(r.longSide))
            longs.insert(r.longSide)
            if r.flipped { flips += 1 }
            // Labels follow the pixels: wherever the mask names class c (not padding), channel c is brightest
            // (nearest vs bilinear differ only near stripe edges, so check the interior majority).
            var agree = 0, total = 0
            for i in 0..<(64 * 64) where r.mask.labels[i] < 3 {
                total += 1
                let p = Array(r.image.pixels[(3 * i)..<(3 * i + 3)])
                if p.firstIndex(of: p.max()!) == Int(r.mask.labels[i]) { agree += 1 }
            }
            if total > 200 { XCTAssertGreaterThan(Double(agree) / Double(total), 0.8) }
        }
        XCTAssertGreaterThan(longs.count, 100)
        XCTAssertEqual(Double(flips) / 400, 0.5, accuracy: 0.1)
    }

    /// `scale_range` bounds the drawn long side; without it the weak augmentation is the reference's
    /// (0.5–2.0, the same draws as passing that range explicitly).
    func testScaleRangeBoundsTheLongSideAndDefaultsToTheReference() {
        XCTAssertEqual(Augment.ratioRange.0, 0.5)
        XCTAssertEqual(Augment.ratioRange.1, 2.0)
        let (img, lab) = striped(100, 60)
        var a = SplitMix64(seed: 4), b = SplitMix64(seed: 4)
        for _ in 0..<50 {
            let plain = Augment.weak(img, mask: lab, crop: 64, labeled: true, rng: &a)
            let explicit = Augment.weak(img, mask: lab, crop: 64, labeled: true, scaleRange: (0.5, 2.0), rng: &b)
            XCTAssertEqual(plain.longSide, explicit.longSide)
            XCTAssertEqual(plain.image, explicit.image)
            XCTAssertEqual(plain.mask, explicit.mask)
        }
        var rng = SplitMix64(seed: 9)
        var longs = Set<Int>()
        for _ in 0..<400 {
            let r = Augment.weak(img, mask: lab, crop: 64, labeled: false, scaleRange: (0.75, 1.5), rng: &rng)
            XCTAssertTrue((75...150).contains(r.longSide), "\(r.longSide)")
            XCTAssertEqual([r.image.width, r.image.height], [64, 64])
            longs.insert(r.longSide)
        }
        XCTAssertTrue(longs.contains(75) && longs.contains(150), "both ends are drawn (inclusive, as random.randint)")
        // The view maker passes its range through.
        let maker = ViewMaker(crop: 48, withDCT: false, seed: 1, scaleRange: (1.0, 1.0))
        XCTAssertEqual(maker.scaleRange.0, 1.0)
        let fixed = maker.labeled(image: img, mask: lab, epoch: 0, index: 3)
        XCTAssertEqual(fixed.mask.count, 48 * 48)
        XCTAssertEqual(ViewMaker(crop: 48, withDCT: false, seed: 1).scaleRange.1, 2.0)
    }

    func testPaddingValuesAndDeterminism() {
        let (img, lab) = striped(30, 20) // long side 15...60 < 64 often: padding
        var a = SplitMix64(seed: 7, keys: 1, 2), b = SplitMix64(seed: 7, keys: 1, 2)
        let r1 = Augment.weak(img, mask: lab, crop: 64, labeled: false, rng: &a)
        let r2 = Augment.weak(img, mask: lab, crop: 64, labeled: false, rng: &b)
        XCTAssertEqual(r1.image, r2.image)
        XCTAssertEqual(r1.mask, r2.mask)
        XCTAssertTrue(r1.mask.labels.contains(Augment.unlabeledPadding))
        XCTAssertFalse(r1.mask.labels.contains(255))
        var c = SplitMix64(seed: 7, keys: 1, 2)
        let labeled = Augment.weak(img, mask: lab, crop: 64, labeled: true, rng: &c)
        XCTAssertTrue(labeled.mask.labels.contains(255))
        // Padded pixels are black in the image.
        for i in 0..<(64 * 64) where labeled.mask.labels[i] == 255 {
            XCTAssertEqual(labeled.image.pixels[3 * i], 0)
        }
    }

    /// Another blur range draws the same numbers: every parameter but σ equals the default draw's,
    /// σ is in the new range whenever the default draw blurs, and a range of [0, 0] never blurs.
    func testBlurSigmaRangeChangesOnlyTheBlur() {
        var a = SplitMix64(seed: 5), b = SplitMix64(seed: 5), c = SplitMix64(seed: 5)
        for _ in 0..<500 {
            let p = Augment.drawStrong(rng: &a), q = Augment.drawStrong(rng: &b, blurSigma: (0.03, 0.6))
            let none = Augment.drawStrong(rng: &c, blurSigma: (0, 0))
            XCTAssertEqual(p.order, q.order); XCTAssertEqual(p.hue, q.hue); XCTAssertEqual(p.grayscale, q.grayscale)
            XCTAssertEqual(p.brightness, none.brightness); XCTAssertEqual(p.jitter, none.jitter)
            XCTAssertEqual(p.blurSigma == nil, q.blurSigma == nil)
            if let s = q.blurSigma, let d = p.blurSigma {
                XCTAssertTrue((0.03...0.6).contains(s), "\(s)")
                XCTAssertEqual(Double(s), 0.03 + 0.57 * (Double(d) - 0.1) / 1.9, accuracy: 1e-5, "the same uniform draw, rescaled")
            }
            XCTAssertNil(none.blurSigma)
        }
    }

    func testStrongParameterRanges() {
        var rng = SplitMix64(seed: 3)
        var jitter = 0, gray = 0, blur = 0
        for _ in 0..<4000 {
            let p = Augment.drawStrong(rng: &rng)
            XCTAssertEqual(p.order.sorted(), [0, 1, 2, 3])
            for f in [p.brightness, p.contrast, p.saturation] { XCTAssertTrue((0.5...1.5).contains(f)) }
            XCTAssertTrue((-0.25...0.25).contains(p.hue))
            if let s = p.blurSigma { XCTAssertTrue((0.1...2.0).contains(s)); blur += 1 }
            if p.jitter { jitter += 1 }
            if p.grayscale { gray += 1 }
        }
        XCTAssertEqual(Double(jitter) / 4000, 0.8, accuracy: 0.03)
        XCTAssertEqual(Double(gray) / 4000, 0.2, accuracy: 0.03)
        XCTAssertEqual(Double(blur) / 4000, 0.5, accuracy: 0.03)
        let (img, _) = striped(40, 40)
        let p = Augment.StrongParameters(jitter: true, order: [3, 2, 1, 0], brightness: 1.2, contrast: 0.8, saturation: 1.1,
                                         hue: 0.1, grayscale: true, blurSigma: 1.0)
        let out = Augment.strong(img, p)
        // Greyscale last-but-one: all channels equal before the blur, still equal after it.
        for i in 0..<(40 * 40) { XCTAssertEqual(out.pixels[3 * i], out.pixels[3 * i + 1]) }
        var n = [Float](repeating: 0, count: 3 * 40 * 40)
        n.withUnsafeMutableBufferPointer { Augment.normalize(img, into: $0.baseAddress!) }
        XCTAssertEqual(n[0], (250.0 / 255 - 0.485) / 0.229, accuracy: 1e-5) // red channel of a class-0 pixel
        XCTAssertEqual(n[40 * 40], (0 - 0.456) / 0.224, accuracy: 1e-5)
    }
}

final class ViewTests: XCTestCase {
    func testUnlabeledViewsShareGeometryAndDrawIndependentPhotometrics() {
        var rng = SplitMix64(seed: 2)
        let img = RGBImage(width: 90, height: 70, pixels: (0..<(90 * 70 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let maker = ViewMaker(crop: 64, withDCT: true, seed: 5)
        let v = maker.unlabeled(image: img, mask: nil, epoch: 3, index: 17)
        XCTAssertEqual(v.weakRGB.shape, [3, 64, 64])
        XCTAssertEqual(v.weakDCT?.shape, [64, 16, 16])
        XCTAssertEqual(v.box.size, 16)
        XCTAssertEqual(v.boxPixels.count, 64 * 64)
        XCTAssertTrue(v.ignore.allSatisfy { $0 == 0 || $0 == 255 })
        // Same keys → same views (resume replays them); another index → other draws.
        let again = maker.unlabeled(image: img, mask: nil, epoch: 3, index: 17)
        XCTAssertEqual(again.strongRGB, v.strongRGB)
        XCTAssertEqual(again.strongDCT, v.strongDCT)
        let other = maker.unlabeled(image: img, mask: nil, epoch: 3, index: 18)
        XCTAssertNotEqual(other.weakRGB, v.weakRGB)
        // The labeled view of the same image uses its own stream and 255 padding.
        let l = maker.labeled(image: img, mask: LabelImage(width: 90, height: 70, labels: [UInt8](repeating: 1, count: 90 * 70)),
                              epoch: 3, index: 17)
        XCTAssertEqual(l.mask.count, 64 * 64)
        XCTAssertTrue(l.mask.allSatisfy { $0 == 1 || $0 == 255 })
    }
}
