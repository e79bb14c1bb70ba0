import Foundation
import XCTest
import TestSupport
import ImageIO
import Pipeline
import Shards
import Support

final class PythonInteropTests: XCTestCase {
    /// The README's Python snippet (between the read-shard markers) reads a shard written by dcot-prep.
    func testReadmeSnippetReadsAShard() throws {
        try requirePython(modules: ["numpy", "zstandard"])
        let readme = try String(contentsOfFile: "\(packageRoot)/README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- read-shard:begin -->"), let end = readme.range(of: "<!-- read-shard:end -->") else {
            return XCTFail("README.md lacks the read-shard snippet markers")
        }
        let block = String(readme[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "```python", with: "").replacingOccurrences(of: "```", with: "")
        XCTAssertLessThanOrEqual(block.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count, 12)
        let root = try makeSynthDataset(train: 5, val: 0, size: 40)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = "\(root)/shards"
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/train.txt"], out: out)
        o.dct = true
        o.quiet = true
        _ = try Prep.run(o, commandLine: "test")
        let reader = try ShardReader(directory: out)
        let shard = "\(out)/\(reader.manifest.shards[0].file)"
        let check = block + """

        import sys, hashlib
        t = read_shard(sys.argv[1])
        for k in sorted(t):
            print(k, t[k].dtype, list(t[k].shape), hashlib.sha256(t[k].tobytes()).hexdigest())
        """
        let r = try runPython(check, args: [shard])
        XCTAssertEqual(r.code, 0, r.err)
        var expected = [String]()
        for id in reader.ids {
            let s = try reader.sample(id)
            expected.append("\(id)/dct int16 [64, \(s.dct!.height), \(s.dct!.width)] \(SHA256.hex(of: s.dct!.values.withUnsafeBytes { Array($0) }))")
            expected.append("\(id)/image uint8 [\(s.image!.height), \(s.image!.width), 3] \(SHA256.hex(of: s.image!.pixels))")
            expected.append("\(id)/label uint8 [\(s.label!.height), \(s.label!.width)] \(SHA256.hex(of: s.label!.labels))")
        }
        XCTAssertEqual(r.out.split(separator: "\n").map(String.init), expected.sorted())
    }

    /// Real photographs (scikit-image's samples, saved by Pillow's libjpeg at 4:2:0, 4:4:4, 4:2:2,
    /// progressive and greyscale; generated now, never committed): dcot-prep takes them as an
    /// unlabeled set; the direct DCT equals the TurboJPEG route on each; coefficient extraction agrees
    /// with the decoded pixels.
    func testRealPhotographs() throws {
        try requirePython(modules: ["numpy", "skimage", "PIL"])
        let dir = try temporaryDirectory("photos")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = try String(contentsOfFile: "\(packageRoot)/Scripts/real_photos.py", encoding: .utf8)
        let made = try runPython(script, args: [dir])
        XCTAssertEqual(made.code, 0, made.err)
        var o = PrepOptions(dataset: .pascal, root: dir, lists: ["\(dir)/unlabeled.txt"], out: "\(dir)/shards")
        o.dct = true
        o.quiet = true
        let summary = try Prep.run(o, commandLine: "test")
        XCTAssertGreaterThanOrEqual(summary.samples, 15)
        XCTAssertEqual(summary.labeled, 0)
        let reader = try ShardReader(directory: "\(dir)/shards")
        let codec = JPEGCodec()
        for id in reader.ids {
            let s = try reader.sample(id)
            let image = s.image!
            XCTAssertEqual(s.dct, try DCTTransform.coefficientsViaJPEG(image, codec: codec), id)
            let file = [UInt8](FileManager.default.contents(atPath: "\(dir)/JPEGImages/\(id).jpg")!)
            let coefs = try JPEGCoefficients.read(file, jpeg2dctCompatible: true, codec: codec)
            XCTAssertEqual(coefs.planes.count, 3, id)
            let y = coefs.planes[0]
            XCTAssertEqual(y.blocksHigh, (image.height + 7) / 8, id)
            // Mean luma of the first full block against its DC coefficient.
            var sum = 0.0
            for r in 0..<8 {
                for c in 0..<8 {
                    let i = (r * image.width + c) * 3
                    sum += 0.299 * Double(image.pixels[i]) + 0.587 * Double(image.pixels[i + 1]) + 0.114 * Double(image.pixels[i + 2])
                }
            }
            XCTAssertEqual(Double(y.values[0]) / 8, sum / 64 - 128, accuracy: 3, id)
        }
    }
}
