// Opt-in inspection aid, not a check: DCOT_SYNTH_DUMP=/some/dir writes the first images of a
// K=6, 128-px dataset as PPM (rgb), PPM (label in a palette, 255 white) and prints render time.
import Foundation
import Synth
import XCTest

final class SynthDumpTests: XCTestCase {
    func testDumpWhenRequested() throws {
        guard let dir = ProcessInfo.processInfo.environment["DCOT_SYNTH_DUMP"] else { return }
        let config = SynthConfig(classes: 6, size: 128, seed: 0)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let palette: [[UInt8]] = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                                  [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230]]
        for index in 0..<12 {
            let s = SynthRenderer.render(config, split: "train", index: index)
            let header = Array("P6\n\(s.width) \(s.height)\n255\n".utf8)
            try Data(header + s.rgb).write(to: URL(fileURLWithPath: "\(dir)/\(index).ppm"))
            let colour = s.label.flatMap { $0 == 255 ? [255, 255, 255] : palette[Int($0) % palette.count] }
            try Data(header + colour).write(to: URL(fileURLWithPath: "\(dir)/\(index)-label.ppm"))
        }
        let images = 500
        let start = Date()
        var checksum = 0
        for index in 0..<images {
            checksum &+= Int(SynthRenderer.render(config, split: "train", index: index).rgb[0])
        }
        let ms = Date().timeIntervalSince(start) * 1000 / Double(images)
        print("render: \(ms) ms per 128-px image, one thread (checksum \(checksum))")
    }
}
