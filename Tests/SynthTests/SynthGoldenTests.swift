// Pins the exact bytes of a few renders (rgb [H, W, 3] + label [H, W] + size + JPEG quality).
// The renderer uses no libm (see DetMath), so this must hold on Linux and macOS alike. A
// deliberate change to the renderer changes the dataset: update the constant in that commit.
import Synth
import XCTest

final class SynthGoldenTests: XCTestCase {
    /// FNV-1a 64 over every byte, with sizes and quality folded in.
    func fingerprint(_ config: SynthConfig, split: String, indices: Range<Int>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func eat(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for index in indices {
            let s = SynthRenderer.render(config, split: split, index: index)
            for v in [s.width, s.height, s.jpegQuality] { eat(UInt8(v & 0xFF)); eat(UInt8(v >> 8)) }
            s.rgb.forEach(eat)
            s.label.forEach(eat)
        }
        return hash
    }

    func testRendersMatchGolden() {
        let k6 = fingerprint(SynthConfig(classes: 6, size: 128, seed: 0), split: "train", indices: 0..<4)
        let k21 = fingerprint(SynthConfig(classes: 21, size: 96, seed: 42), split: "val", indices: 0..<4)
        print("golden fingerprints: K=6 \(String(k6, radix: 16)), K=21 \(String(k21, radix: 16))")
        XCTAssertEqual(k6, 0x38AF_3114_9D77_EF1F)
        XCTAssertEqual(k21, 0x9AAB_A265_1296_D657)
    }
}
