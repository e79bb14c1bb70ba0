import XCTest
import ImageIO

/// The photometric ops against Pillow (Scripts/goldens/augment.py, torchvision's PIL semantics).
final class PILColorTests: XCTestCase {
    func testPhotometricOpsMatchPillow() throws {
        let f = try Fixtures.safetensors("augment/strong.safetensors")
        let s = f.entry("input")!.shape
        let img = RGBImage(width: s[1], height: s[0], pixels: try f.array("input", as: UInt8.self, dtype: .U8))
        func check(_ got: [UInt8], _ name: String) throws {
            let want = try f.array(name, as: UInt8.self, dtype: .U8)
            let bad = zip(got, want).filter { $0 != $1 }.count
            XCTAssertEqual(bad, 0, "\(name): \(bad) of \(want.count) values differ")
        }
        try check(pilLuminance(img), "gray")
        let factors = f.header.metadata["factors"]!.split(separator: ",").map { Float($0)! }
        for (i, factor) in factors.enumerated() {
            try check(pilBrightness(img, factor).pixels, "brightness\(i)")
            try check(pilContrast(img, factor).pixels, "contrast\(i)")
            try check(pilSaturation(img, factor).pixels, "saturation\(i)")
        }
        for (i, hue) in f.header.metadata["hues"]!.split(separator: ",").map({ Double($0)! }).enumerated() {
            try check(pilAdjustHue(img, hue).pixels, "hue\(i)")
        }
        for (i, sigma) in f.header.metadata["sigmas"]!.split(separator: ",").map({ Float($0)! }).enumerated() {
            try check(pilGaussianBlur(img, radius: sigma).pixels, "blur\(i)")
        }
    }
}
