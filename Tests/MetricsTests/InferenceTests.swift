import Foundation
import XCTest
import ImageIO
import Metrics
import Models

/// A per-pixel toy segmentor: class scores from the pixel's own colour (so it is flip- and
/// translation-equivariant). DCT inputs use the DC coefficients, upsampled by nearest neighbour.
final class ToyModel: ProbabilityModel {
    let classes = 3
    let domain: InputDomain
    var calls: [(h: Int, w: Int, inH: Int, inW: Int)] = []

    init(domain: InputDomain = .rgb) { self.domain = domain }

    func probabilities(_ input: ModelInput, outputHeight: Int, outputWidth: Int) throws -> [Float] {
        var p = [Float](repeating: 0, count: classes * outputHeight * outputWidth)
        let n = outputHeight * outputWidth
        switch input {
        case .rgb(let img):
            precondition(img.width == outputWidth && img.height == outputHeight)
            calls.append((outputHeight, outputWidth, img.height, img.width))
            for i in 0..<n {
                let r = Float(img.pixels[3 * i]), g = Float(img.pixels[3 * i + 1]), b = Float(img.pixels[3 * i + 2])
                let s = [r / 64, g / 64, b / 64]
                let m = s.max()!, e = s.map { exp($0 - m) }, z = e.reduce(0, +)
                for c in 0..<3 { p[c * n + i] = e[c] / z }
            }
        case .dct(let d):
            calls.append((outputHeight, outputWidth, d.height, d.width))
            for y in 0..<outputHeight {
                for x in 0..<outputWidth {
                    let gy = min(d.height - 1, y * d.height / outputHeight), gx = min(d.width - 1, x * d.width / outputWidth)
                    let dc = [Float(d.values[gy * d.width + gx]), Float(d.values[(44 * d.height + gy) * d.width + gx]),
                              Float(d.values[(54 * d.height + gy) * d.width + gx])].map { $0 / 256 }
                    let m = dc.max()!, e = dc.map { exp($0 - m) }, z = e.reduce(0, +)
                    for c in 0..<3 { p[c * n + y * outputWidth + x] = e[c] / z }
                }
            }
        }
        return p
    }
}

func testImage(_ h: Int, _ w: Int, seed: UInt64) -> RGBImage {
    var s = seed
    var px = [UInt8](repeating: 0, count: h * w * 3)
    for i in px.indices {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        px[i] = UInt8(truncatingIfNeeded: s >> 56)
    }
    return RGBImage(width: w, height: h, pixels: px)
}

final class InferenceTests: XCTestCase {
    func testSlidingWindowCoveringTheImageEqualsOriginal() throws {
        let img = testImage(23, 31, seed: 1)
        let m = ToyModel()
        let original = try Inference(models: [m], options: InferenceOptions(mode: .original)).probabilities(image: img)
        let big = try Inference(models: [m], options: InferenceOptions(mode: .slidingWindow(window: 40, dctWindow: 10)))
            .probabilities(image: img)
        XCTAssertEqual(original.count, big.count)
        XCTAssertEqual(zip(original, big).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6)
        // A translation-equivariant model gives the same answer with overlapping small windows too.
        let small = try Inference(models: [m], options: InferenceOptions(mode: .slidingWindow(window: 9, dctWindow: 3)))
            .probabilities(image: img)
        XCTAssertEqual(zip(original, small).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6)
    }

    func testReferenceWindowLayout() throws {
        // Cityscapes geometry scaled down 16x: image 64x128, window 48 (stride 32); windows start at
        // rows {0, 32} and columns {0, 32, 64, 96}, truncated at the edges: 8 windows.
        let m = ToyModel()
        _ = try Inference(models: [m], options: InferenceOptions(mode: .slidingWindow(window: 48, dctWindow: 12)))
            .probabilities(image: testImage(64, 128, seed: 2))
        XCTAssertEqual(m.calls.map { "\($0.h)x\($0.w)" },
                       ["48x48", "48x48", "48x48", "48x32", "32x48", "32x48", "32x48", "32x32"])
        // The DCT model slides on the 16x32 grid (window 12, stride 8) paired with the pixel windows.
        let d = ToyModel(domain: .dct)
        _ = try Inference(models: [d], options: InferenceOptions(mode: .slidingWindow(window: 48, dctWindow: 12)))
            .probabilities(image: testImage(64, 128, seed: 2))
        XCTAssertEqual(d.calls.map { "\($0.inH)x\($0.inW)->\($0.h)x\($0.w)" },
                       ["12x12->48x48", "12x12->48x48", "12x12->48x48", "12x8->48x32",
                        "8x12->32x48", "8x12->32x48", "8x12->32x48", "8x8->32x32"])
    }

    func testFlipOfAnEquivariantModelAndEnsembleOfOne() throws {
        let img = testImage(17, 26, seed: 3)
        let m = ToyModel()
        let plain = try Inference(models: [m], options: InferenceOptions()).probabilities(image: img)
        let flipped = try Inference(models: [m], options: InferenceOptions(flip: true)).probabilities(image: img)
        XCTAssertEqual(zip(plain, flipped).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6)
        let ensemble = try Inference(models: [ToyModel()], options: InferenceOptions()).probabilities(image: img)
        XCTAssertTrue(plain == ensemble, "an ensemble of one model is the model")
        // Two different models average.
        let both = try Inference(models: [m, ToyModel(domain: .dct)], options: InferenceOptions()).probabilities(image: img)
        let dct = try Inference(models: [ToyModel(domain: .dct)], options: InferenceOptions()).probabilities(image: img)
        for i in both.indices { XCTAssertEqual(both[i], (plain[i] + dct[i]) / 2, accuracy: 1e-6) }
        // Multi-scale keeps the output size and probabilities summing to 1.
        let ms = try Inference(models: [m], options: InferenceOptions(scales: [0.5, 1.0, 1.5])).probabilities(image: img)
        XCTAssertEqual(ms.count, 3 * 17 * 26)
        for i in 0..<(17 * 26) { XCTAssertEqual(ms[i] + ms[17 * 26 + i] + ms[2 * 17 * 26 + i], 1, accuracy: 1e-4) }
    }

    func testCenterCropScoresTheCentre() throws {
        let inf = Inference(models: [ToyModel()], options: InferenceOptions(mode: .centerCrop(10)))
        XCTAssertEqual(inf.scoredRegion(height: 30, width: 41).y, 10)
        XCTAssertEqual(inf.scoredRegion(height: 30, width: 41).x, 15)
        XCTAssertEqual(try inf.probabilities(image: testImage(30, 41, seed: 4)).count, 3 * 10 * 10)
        let (labels, conf) = argmaxWithConfidence([0.2, 0.5, 0.8, 0.5, 0.0, 0.0], classes: 2, pixels: 3)
        XCTAssertEqual(labels, [1, 0, 0])
        XCTAssertEqual(conf, [0.5, 0.5, 0.8])
    }
}
