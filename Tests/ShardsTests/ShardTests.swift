import Foundation
import XCTest
import ImageIO
import SafeTensors
import Shards
import Support
import TestSupport

final class SafeTensorsTests: XCTestCase {
    func testRoundTripAndHeaderValidation() throws {
        var w = SafeTensorsWriter(metadata: ["format": "test", "note": "quote \" and \\ and é"])
        w.add("a/weight", dtype: .F32, shape: [2, 3], values: [Float](arrayLiteral: 1, 2, 3, 4, 5, -6.5))
        w.add("b", dtype: .I64, shape: [], values: [Int64(42)])
        w.add("c", dtype: .U8, shape: [4], values: [UInt8](arrayLiteral: 0, 1, 254, 255))
        let bytes = w.serialize()
        XCTAssertEqual(bytes.count % 8, (8 + 16 + 8 + 4) % 8 == 0 ? 0 : bytes.count % 8) // header padded to 8
        let f = try SafeTensorsFile(bytes: bytes)
        XCTAssertEqual(f.header.dataStart % 8, 0)
        XCTAssertEqual(try f.floats("a/weight"), [1, 2, 3, 4, 5, -6.5])
        XCTAssertEqual(try f.array("b", as: Int64.self, dtype: .I64), [42])
        XCTAssertEqual(f.entry("b")?.shape, [])
        XCTAssertEqual(f.header.metadata["note"], "quote \" and \\ and é")
        XCTAssertThrowsError(try f.floats("c"))
        XCTAssertThrowsError(try SafeTensorsFile(bytes: Array(bytes.prefix(bytes.count - 1))))
        XCTAssertThrowsError(try SafeTensorsFile(bytes: [1, 2, 3]))
    }
}

final class ShardTests: XCTestCase {
    func makeSample(_ i: Int, label: Bool, dct: Bool) -> (String, RGBImage, LabelImage?, DCTCoefficients?) {
        var rng = SplitMix64(seed: UInt64(i))
        let w = 9 + i, h = 5 + 2 * i
        let img = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let lab = label ? LabelImage(width: w, height: h, labels: (0..<(w * h)).map { _ in UInt8(rng.below(4)) }) : nil
        return ("id_\(i)", img, lab, dct ? DCTTransform.coefficients(img) : nil)
    }

    func testWriteReadBitExactWithRandomAccess() throws {
        let dir = try temporaryDirectory("shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let samples = (0..<7).map { makeSample($0, label: $0 % 2 == 0, dct: $0 % 3 == 0) }
        var manifestSamples = [String: Manifest.Sample]()
        var shards = [Manifest.Shard]()
        for (s, group) in [Array(samples[0..<4]), Array(samples[4...])].enumerated() {
            let encoded = group.map { (id, img, lab, dct) -> EncodedSample in
                var t = [SampleTensor(key: "image", dtype: .U8, shape: [img.height, img.width, 3], bytes: img.pixels)]
                if let lab { t.append(SampleTensor(key: "label", dtype: .U8, shape: [lab.height, lab.width], bytes: lab.labels)) }
                if let dct { t.append(SampleTensor(key: "dct", dtype: .I16, shape: [64, dct.height, dct.width], values: dct.values)) }
                return EncodedSample(id: id, tensors: t)
            }
            let name = "shard-\(s).dcshard"
            let written = try ShardWriter.write(encoded, name: name, directory: dir, dataset: "test")
            XCTAssertEqual(written.sha256, try SHA256.hex(ofFile: "\(dir)/\(name)"))
            shards.append(Manifest.Shard(file: name, sha256: written.sha256, samples: group.count))
            for (id, img, lab, dct) in group {
                let p = written.samples[id]!
                manifestSamples[id] = Manifest.Sample(shard: name, offset: p.offset, length: p.length, height: img.height,
                                                      width: img.width, has_label: lab != nil, has_dct: dct != nil, source_sha256: "")
            }
        }
        let classes = ClassList(names: ["a", "b", "c", "d"], palette: [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]])
        try Manifest(dataset: "test", classes: classes, sourceRoot: "/", createdBy: "test", shards: shards,
                     samples: manifestSamples, inputsSHA256: nil).write(to: dir)
        let reader = try ShardReader(directory: dir)
        for (id, img, lab, dct) in samples.reversed() { // random order
            let s = try reader.sample(id)
            XCTAssertEqual(s.image, img)
            XCTAssertEqual(s.label, lab)
            XCTAssertEqual(s.dct, dct)
        }
        // The whole shard decompresses (all frames) to one valid safetensors file.
        let whole = try decompressAll("\(dir)/shard-0.dcshard")
        let st = try SafeTensorsFile(bytes: whole)
        XCTAssertEqual(st.header.metadata["format"], "dcot-shard")
        XCTAssertEqual(try st.array("id_0/image", as: UInt8.self, dtype: .U8), samples[0].1.pixels)
        // Corruption: a flipped byte is reported with the shard's name and what to do.
        var bytes = [UInt8](FileManager.default.contents(atPath: "\(dir)/shard-1.dcshard")!)
        bytes[bytes.count - 10] ^= 0x55
        try AtomicFile.write(bytes, to: "\(dir)/shard-1.dcshard")
        let fresh = try ShardReader(directory: dir)
        XCTAssertNoThrow(try fresh.sample("id_0"))
        XCTAssertThrowsError(try fresh.sample("id_5")) {
            XCTAssertTrue("\($0)".contains("shard-1.dcshard"), "\($0)")
            XCTAssertTrue("\($0)".contains("checksum mismatch"), "\($0)")
            XCTAssertTrue("\($0)".contains("dcot-prep"), "\($0)")
        }
        XCTAssertThrowsError(try fresh.sample("nope")) { XCTAssertTrue("\($0)".contains("'nope'")) }
    }

    /// Concatenated decompression of every frame (what Python's zstandard does across frames).
    func decompressAll(_ path: String) throws -> [UInt8] {
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        var out = [UInt8]()
        var pos = 0
        while pos < bytes.count {
            let n = try bytes[pos...].withUnsafeBytes { try Zstd.frameSize($0) }
            out += try bytes[pos..<(pos + n)].withUnsafeBytes { try Zstd.decompressFrame($0) }
            pos += n
        }
        return out
    }

    func testMissingOrForeignManifestIsAClearError() throws {
        let dir = try temporaryDirectory("nomanifest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try ShardReader(directory: dir)) { XCTAssertTrue("\($0)".contains("run dcot-prep")) }
        try AtomicFile.write("{\"format\": \"other\", \"version\": 1}", to: "\(dir)/manifest.json")
        XCTAssertThrowsError(try ShardReader(directory: dir)) { XCTAssertTrue("\($0)".contains("expected dcot-manifest")) }
    }
}
