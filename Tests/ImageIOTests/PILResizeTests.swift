import XCTest
import ImageIO

/// Against Pillow (Scripts/goldens/augment.py): the reference resizes images with BILINEAR and
/// masks with NEAREST before cropping.
final class PILResizeTests: XCTestCase {
    func testBilinearAndNearestMatchPillow() throws {
        let f = try Fixtures.safetensors("augment/resize.safetensors")
        XCTAssertEqual(f.header.metadata["generated_by"], "Scripts/goldens/augment.py")
        for n in 0..<Int(f.header.metadata["cases"]!)! {
            let s = f.entry("image\(n)")!.shape
            let img = RGBImage(width: s[1], height: s[0], pixels: try f.array("image\(n)", as: UInt8.self, dtype: .U8))
            let o = f.entry("bilinear\(n)")!.shape
            let got = pilResizeBilinear(img, width: o[1], height: o[0])
            let want = try f.array("bilinear\(n)", as: UInt8.self, dtype: .U8)
            XCTAssertEqual(got.pixels.count, want.count)
            XCTAssertEqual(zip(got.pixels, want).filter { $0 != $1 }.count, 0, "bilinear case \(n): \(s) -> \(o)")
            let mask = LabelImage(width: s[1], height: s[0], labels: try f.array("mask\(n)", as: UInt8.self, dtype: .U8))
            let near = pilResizeNearest(mask, width: o[1], height: o[0])
            XCTAssertTrue(near.labels == (try f.array("nearest\(n)", as: UInt8.self, dtype: .U8)), "nearest case \(n)")
        }
    }
}
