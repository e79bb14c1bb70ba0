import XCTest
import ImageIO

/// Deterministic test images.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomImage(width: Int, height: Int, seed: UInt64, smooth: Bool = false) -> RGBImage {
    var rng = TestRNG(seed)
    var px = [UInt8](repeating: 0, count: width * height * 3)
    if smooth {
        let fx = Double.random(in: 0.02...0.3, using: &rng), fy = Double.random(in: 0.02...0.3, using: &rng)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    let v = 128 + 100 * sin(Double(x) * fx * Double(c + 1) + Double(y) * fy) + Double.random(in: -8...8, using: &rng)
                    px[(y * width + x) * 3 + c] = UInt8(max(0, min(255, v)))
                }
            }
        }
    } else {
        for i in px.indices { px[i] = UInt8.random(in: 0...255, using: &rng) }
    }
    return RGBImage(width: width, height: height, pixels: px)
}

final class DCTTransformTests: XCTestCase {
    /// The direct transform against TurboJPEG's own encoder (quality 100, 4:2:0) read back through
    /// jpeg_read_coefficients. The requirement is ±1; we emulate libjpeg's fixed-point colour
    /// transform, downsampling, padding and islow DCT, so we get (and assert) bit-identical values.
    func testDirectTransformMatchesJPEGRoundTrip() throws {
        let codec = JPEGCodec()
        let sizes = [(1, 1), (2, 3), (7, 13), (16, 16), (33, 20), (41, 67), (64, 64), (81, 97)]
        var total = 0, exact = 0
        for (i, (h, w)) in sizes.enumerated() {
            for smooth in [false, true] {
                let img = randomImage(width: w, height: h, seed: UInt64(i * 2 + (smooth ? 1 : 0)), smooth: smooth)
                let direct = DCTTransform.coefficients(img)
                let viaJPEG = try DCTTransform.coefficientsViaJPEG(img, codec: codec)
                XCTAssertEqual(direct.height, (h + 3) / 4)
                XCTAssertEqual(direct.width, (w + 3) / 4)
                var worst = 0
                for (a, b) in zip(direct.values, viaJPEG.values) {
                    worst = max(worst, abs(Int(a) - Int(b)))
                    total += 1
                    if a == b { exact += 1 }
                }
                XCTAssertLessThanOrEqual(worst, 1, "size \(h)x\(w) smooth \(smooth)")
            }
        }
        print("DCT direct vs TurboJPEG: \(exact)/\(total) coefficients identical")
        XCTAssertEqual(exact, total)
    }
}

/// Goldens from Scripts/goldens/dct.py (an independent numpy/scipy implementation of METHOD.md
/// section 3, itself verified bit-identical to cv2 + TurboJPEG + jpeg2dct when those are installed).
final class DCTGoldenTests: XCTestCase {
    func testUpsampleAndCoefficientsMatchNumpyGoldens() throws {
        let files = Fixtures.files(in: "dct", ext: ".safetensors")
        XCTAssertGreaterThanOrEqual(files.count, 5, "run Scripts/goldens/dct.py")
        for f in files {
            let st = try Fixtures.safetensors("dct/\(f)")
            XCTAssertEqual(st.header.metadata["generated_by"], "Scripts/goldens/dct.py")
            let shape = st.entry("image")!.shape
            let image = RGBImage(width: shape[1], height: shape[0], pixels: try st.array("image", as: UInt8.self, dtype: .U8))
            let up = upsample2x(image)
            XCTAssertEqual(up.pixels, try st.array("up2", as: UInt8.self, dtype: .U8), "\(f): x2 upsample")
            let expected = try st.array("dct", as: Int16.self, dtype: .I16)
            let got = DCTTransform.coefficients(image)
            XCTAssertEqual(st.entry("dct")!.shape, [64, got.height, got.width], f)
            let worst = zip(got.values, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "\(f): ±1 is the requirement")
            XCTAssertEqual(got.values, expected, "\(f): the exact emulation is bit-identical")
        }
    }

    /// The fast kernel against its naive Swift twin on random sizes and contents.
    func testFastKernelEqualsNaiveTwin() {
        var rng = TestRNG(77)
        for i in 0..<40 {
            let h = Int.random(in: 1...70, using: &rng), w = Int.random(in: 1...70, using: &rng)
            let img = randomImage(width: w, height: h, seed: UInt64(1000 + i), smooth: i % 2 == 0)
            XCTAssertEqual(DCTTransform.coefficients(img), DCTTransform.coefficientsReference(img), "\(h)x\(w)")
        }
    }

    func testNormalisationUsesTheReferenceTable() {
        XCTAssertEqual(DCTTransform.mean.count, 64)
        XCTAssertEqual(DCTTransform.std.count, 64)
        XCTAssertEqual(DCTTransform.mean[0], -88.397, accuracy: 1e-3)
        XCTAssertEqual(DCTTransform.std[44], 81.161, accuracy: 1e-3)
        XCTAssertEqual(DCTTransform.mean[54], 32.116, accuracy: 1e-3)
        // A black padded block: Y DC = 8 * (0 - 128) = -1024, chroma DC = 0.
        let black = RGBImage(width: 8, height: 8, fill: 0)
        let c = DCTTransform.coefficients(black)
        XCTAssertEqual(c.values[0], -1024)
        XCTAssertEqual(c.values[44 * 4], 0)
        let n = DCTTransform.normalize(c)
        XCTAssertEqual(n[0], (-1024 + 88.397) / 259.96, accuracy: 1e-3)
    }
}
