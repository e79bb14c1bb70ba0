import XCTest
import ImageIO

final class JPEGTests: XCTestCase {
    func testRoundTripIsClose() throws {
        let codec = JPEGCodec()
        let img = randomImage(width: 61, height: 37, seed: 3, smooth: true)
        let jpeg = try codec.encode(img, quality: 95)
        let back = try codec.decode(jpeg)
        XCTAssertEqual(back.width, 61)
        XCTAssertEqual(back.height, 37)
        let mae = zip(img.pixels, back.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / img.pixels.count
        XCTAssertLessThan(mae, 10) // the test image carries ±8 noise
    }

    func testGreyscaleDecodesToThreeEqualChannels() throws {
        let codec = JPEGCodec()
        let grey = (0..<(20 * 10)).map { UInt8($0 % 256) }
        let jpeg = try codec.encode(pixels: grey, width: 20, height: 10, channels: 1, quality: 90, subsampling: .gray)
        let rgb = try codec.decode(jpeg)
        for i in 0..<(20 * 10) {
            XCTAssertEqual(rgb.pixels[3 * i], rgb.pixels[3 * i + 1])
            XCTAssertEqual(rgb.pixels[3 * i], rgb.pixels[3 * i + 2])
        }
    }

    func testCMYKNonJPEGAndTruncatedAreRejected() throws {
        let codec = JPEGCodec()
        let cmyk = try codec.encode(pixels: [UInt8](repeating: 100, count: 8 * 8 * 4), width: 8, height: 8, channels: 4,
                                    quality: 90, subsampling: .s444)
        XCTAssertThrowsError(try codec.decode(cmyk)) { XCTAssertTrue("\($0)".contains("CMYK")) }
        XCTAssertThrowsError(try codec.decode(Array("not a jpeg at all".utf8)))
        let good = try codec.encode(randomImage(width: 64, height: 64, seed: 1), quality: 90)
        XCTAssertThrowsError(try codec.decode(Array(good.prefix(good.count / 2)))) { XCTAssertTrue("\($0)".contains("corrupt")) }
        XCTAssertThrowsError(try codec.decode(Array(good.prefix(7))))
    }
}

final class PNGTests: XCTestCase {
    func testPaletteRoundTripKeepsIndices() throws {
        var rng = TestRNG(9)
        let labels = (0..<(31 * 17)).map { _ in UInt8([0, 1, 5, 20, 255].randomElement(using: &rng)!) }
        let label = LabelImage(width: 31, height: 17, labels: labels)
        let bytes = try PNG.writePalette(label)
        let back = try LabelPNG.read(bytes)
        XCTAssertEqual(back, label)
        let png = try PNG.read(bytes)
        XCTAssertEqual(png.kind, .palette)
        XCTAssertEqual(Array(png.palette[3..<6]), [128, 0, 0]) // VOC colour of class 1
    }

    func testGreyAndRGBWriters() throws {
        let grey = (0..<(5 * 4)).map { UInt8($0 * 7) }
        XCTAssertEqual(try PNG.read(try PNG.write(pixels: grey, width: 5, height: 4, channels: 1)).pixels, grey)
        let rgb = (0..<(5 * 4 * 3)).map { UInt8($0 * 3 % 256) }
        let r = try PNG.read(try PNG.write(pixels: rgb, width: 5, height: 4, channels: 3))
        XCTAssertEqual(r.kind, .rgb)
        XCTAssertEqual(r.pixels, rgb)
    }

    /// Fixtures from Scripts/goldens/pngs.py: 1/2/4/8-bit palettes, tRNS, greyscale, RGB, 16-bit.
    func testFixturesReadAsStoredIndices() throws {
        let expected = try Fixtures.safetensors("png/expected.safetensors")
        XCTAssertEqual(expected.header.metadata["generated_by"], "Scripts/goldens/pngs.py")
        for name in ["p8_voc", "p4", "p2", "p1", "p8_trns", "gray8"] {
            let bytes = [UInt8](FileManager.default.contents(atPath: Fixtures.path("png/\(name).png"))!)
            let label = try LabelPNG.read(bytes)
            let shape = expected.entry(name)!.shape
            XCTAssertEqual([label.height, label.width], shape, name)
            XCTAssertEqual(label.labels, try expected.array(name, as: UInt8.self, dtype: .U8), name)
        }
        let rgb = [UInt8](FileManager.default.contents(atPath: Fixtures.path("png/rgb_voc_colours.png"))!)
        XCTAssertThrowsError(try LabelPNG.read(rgb)) { XCTAssertEqual(($0 as? CodecError)?.kind, .notIndexed) }
        let mapped = try LabelPNG.read(rgb, decoding: .mapColours(palette: VOCPalette.rgb))
        XCTAssertEqual(mapped.labels, try expected.array("rgb_voc_colours", as: UInt8.self, dtype: .U8))
        let g16 = [UInt8](FileManager.default.contents(atPath: Fixtures.path("png/gray16.png"))!)
        XCTAssertThrowsError(try LabelPNG.read(g16)) { XCTAssertTrue("\($0)".contains("16-bit")) }
    }

    func testCorruptAndTruncatedPNGsAreErrorsNotCrashes() throws {
        let bytes = try PNG.writePalette(LabelImage(width: 40, height: 30, labels: [UInt8](repeating: 3, count: 1200)))
        XCTAssertThrowsError(try PNG.read(Array(bytes.prefix(bytes.count - 20))))
        XCTAssertThrowsError(try PNG.read(Array(bytes.prefix(30))))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0xFF
        XCTAssertThrowsError(try PNG.read(flipped))
        XCTAssertThrowsError(try PNG.read([0, 1, 2, 3]))
        // Many random corruptions: every one either decodes or throws, never aborts the process.
        var rng = TestRNG(4)
        for _ in 0..<200 {
            var b = bytes
            for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? PNG.read(b)
        }
    }
}

final class CoefficientExtractionTests: XCTestCase {
    /// Y DC of every block, dequantised, is 8 * (block mean - 128) up to quantisation error.
    private func checkLumaDC(_ plane: JPEGCoefficientPlanes.Plane, decoded: RGBImage, tolerance: Double) {
        var worst = 0.0
        for by in 0..<(decoded.height / 8) {
            for bx in 0..<(decoded.width / 8) {
                var sum = 0.0
                for y in 0..<8 {
                    for x in 0..<8 {
                        let i = ((by * 8 + y) * decoded.width + bx * 8 + x) * 3
                        let r = Double(decoded.pixels[i]), g = Double(decoded.pixels[i + 1]), b = Double(decoded.pixels[i + 2])
                        sum += 0.299 * r + 0.587 * g + 0.114 * b
                    }
                }
                let dc = Double(plane.values[(by * plane.blocksWide + bx) * 64])
                worst = max(worst, abs(dc / 8 - (sum / 64 - 128)))
            }
        }
        XCTAssertLessThan(worst, tolerance)
    }

    func testSubsamplingsGreyAndProgressive() throws {
        let codec = JPEGCodec()
        let img = randomImage(width: 53, height: 37, seed: 11, smooth: true)
        let cases: [(JPEGCodec.Subsampling, [(Int, Int)])] = [
            (.s420, [(5, 7), (3, 4), (3, 4)]), (.s444, [(5, 7), (5, 7), (5, 7)]), (.s422, [(5, 7), (5, 4), (5, 4)]),
        ]
        for (sub, dims) in cases {
            let jpeg = try codec.encode(img, quality: 90, subsampling: sub)
            let c = try JPEGCoefficients.read(jpeg)
            XCTAssertEqual(c.planes.map { [$0.blocksHigh, $0.blocksWide] }, dims.map { [$0.0, $0.1] }, "\(sub)")
            checkLumaDC(c.planes[0], decoded: try codec.decode(jpeg), tolerance: 2.5)
            let raw = try JPEGCoefficients.read(jpeg, dequantize: false)
            for k in 0..<64 {
                XCTAssertEqual(Int(c.planes[0].values[k]), Int(raw.planes[0].values[k]) * Int(c.planes[0].quant[k]))
            }
            // jpeg2dct compatibility: non-4:2:0 colour files are transcoded to q100 4:2:0.
            let compat = try JPEGCoefficients.read(jpeg, jpeg2dctCompatible: true)
            XCTAssertEqual(compat.planes.map { [$0.blocksHigh, $0.blocksWide] }, [[5, 7], [3, 4], [3, 4]])
        }
        let grey = try codec.encode(pixels: Array(img.pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)),
                                    width: 53, height: 37, channels: 1, quality: 90, subsampling: .gray)
        let g = try JPEGCoefficients.read(grey, jpeg2dctCompatible: true)
        XCTAssertEqual(g.planes.count, 3)
        XCTAssertEqual([g.planes[1].blocksHigh, g.planes[1].blocksWide], [3, 4])
        XCTAssertTrue(g.planes[1].values.allSatisfy { $0 == 0 })
        // Progressive: the same quantised coefficients as the baseline encoding of the same image.
        let baseline = try JPEGCoefficients.read(try codec.encode(img, quality: 85))
        let progressive = try JPEGCoefficients.read(try codec.encodeProgressive(img, quality: 85))
        XCTAssertTrue(progressive.progressive)
        XCTAssertEqual(progressive.planes, baseline.planes)
        // Truncated: a warning and zero-filled blocks, as jpeg2dct; garbage: an error.
        let jpeg = try codec.encode(randomImage(width: 64, height: 64, seed: 2), quality: 90)
        let cut = try JPEGCoefficients.read(Array(jpeg.prefix(jpeg.count / 2)))
        XCTAssertGreaterThan(cut.warnings, 0)
        XCTAssertThrowsError(try JPEGCoefficients.read(Array("garbage".utf8)))
    }
}
