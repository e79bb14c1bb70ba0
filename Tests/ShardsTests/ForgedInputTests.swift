// Damaged and forged safetensors headers, manifests and shards (DESIGN.md section 6): every one is an
// error naming the file, never a trap, an overflow or an allocation of terabytes. Shard corruptions
// are fuzzed behind a recomputed checksum, so the parser itself sees the damaged bytes.
import Foundation
import XCTest
import TestSupport
import ImageIO
import SafeTensors
import Shards
import Support

/// Random truncations and byte changes with a fixed seed (the fuzz tests' mutation).
func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var b = bytes
    if b.count > 1 && rng.below(10) < 3 { return Array(b.prefix(rng.below(b.count))) }
    for _ in 0...rng.below(4) where !b.isEmpty {
        let i = rng.below(b.count)
        if rng.below(2) == 0 { b[i] = UInt8(truncatingIfNeeded: rng.next()) } else { b[i] ^= 1 << UInt8(rng.below(8)) }
    }
    return b
}

final class ForgedSafeTensorsTests: XCTestCase {
    func file(_ json: String, dataBytes: Int = 16) -> [UInt8] {
        var n = UInt64(json.utf8.count).littleEndian
        return withUnsafeBytes(of: &n) { Array($0) } + Array(json.utf8) + [UInt8](repeating: 0, count: dataBytes)
    }

    func testForgedHeadersAreErrors() {
        let forged = [
            #"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 8], "data_offsets": [0, 0]}}"#: "too large",
            #"{"a": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}"#: "impossible shape",
            #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [9223372036854775800, 9223372036854775802]}}"#: "implausibly large",
            #"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [12, 16]}, "b": {"dtype": "U8", "shape": [8], "data_offsets": [100, 108]}}"#: "truncated",
            #"{"a": {"dtype": "I64", "shape": [3], "data_offsets": [0, 16]}}"#: "does not match shape",
            #"{"a": {"dtype": "Q4", "shape": [3], "data_offsets": [0, 3]}}"#: "unknown dtype",
            #"{"a": {"dtype": "U8", "shape": [1.5], "data_offsets": [0, 3]}}"#: "malformed",
            #"["a"]"#: "not a JSON object",
        ]
        for (json, message) in forged {
            XCTAssertThrowsError(try SafeTensorsFile(bytes: file(json)), json) { XCTAssertTrue("\($0)".contains(message), "\(json): \($0)") }
        }
        var huge = file("{}")
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        XCTAssertThrowsError(try SafeTensorsFile(bytes: huge)) { XCTAssertTrue("\($0)".contains("implausible"), "\($0)") }
    }

    /// Every corruption of a small file parses or throws; what parses reads back within its bytes.
    func testRandomCorruptionsNeverTrap() {
        var w = SafeTensorsWriter(metadata: ["format": "test"])
        w.add("a.weight", dtype: .F32, shape: [2, 3], values: [Float](repeating: 1.5, count: 6))
        w.add("a.num_batches_tracked", dtype: .I64, shape: [], values: [Int64(7)])
        w.add("b", dtype: .I16, shape: [4, 1], values: [Int16](repeating: -3, count: 4))
        let bytes = w.serialize()
        var rng = SplitMix64(seed: 15)
        for _ in 0..<400 {
            guard let f = try? SafeTensorsFile(bytes: mutate(bytes, &rng)) else { continue }
            for name in f.names { XCTAssertEqual(try f.data(name).count, f.entry(name).map { $0.end - $0.begin }) }
        }
    }
}

final class ForgedShardTests: XCTestCase {
    var dir = ""
    let ids = ["s0", "s1", "s2"]

    /// Three samples (image, label, DCT) of 4 classes in one shard, and its manifest.
    override func setUpWithError() throws {
        dir = try temporaryDirectory("forged")
        var samples = [EncodedSample]()
        for (i, id) in ids.enumerated() {
            let (w, h) = (9 + i, 6 + i)
            let img = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 + i) })
            let dct = DCTTransform.coefficients(img)
            samples.append(EncodedSample(id: id, tensors: [
                SampleTensor(key: "image", dtype: .U8, shape: [h, w, 3], bytes: img.pixels),
                SampleTensor(key: "label", dtype: .U8, shape: [h, w], bytes: (0..<(w * h)).map { $0 % 7 == 0 ? 255 : UInt8($0 % 4) }),
                SampleTensor(key: "dct", dtype: .I16, shape: [64, dct.height, dct.width], values: dct.values),
            ]))
        }
        var acc = ShardAccumulator(directory: dir, dataset: "test", targetBytes: 1 << 20)
        for (s, id) in zip(samples, ids) {
            let (w, h) = (9 + ids.firstIndex(of: id)!, 6 + ids.firstIndex(of: id)!)
            try acc.add(s, Manifest.Sample(shard: "", offset: 0, length: 0, height: h, width: w, has_label: true, has_dct: true, source_sha256: ""))
        }
        try acc.flush()
        try manifest(acc.shards, acc.samples).write(to: dir)
        XCTAssertNoThrow(try ids.map { try ShardReader(directory: dir).sample($0) })
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func manifest(_ shards: [Manifest.Shard], _ samples: [String: Manifest.Sample]) -> Manifest {
        let classes = ClassList(names: ["a", "b", "c", "d"], palette: [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]])
        return Manifest(dataset: "test", classes: classes, sourceRoot: "/", createdBy: "test", shards: shards, samples: samples,
                        inputsSHA256: nil)
    }

    /// Reads every sample; returns the first error (which must be a one-line UserError naming `file`).
    func readAll(naming files: [String], _ context: String, file: StaticString = #filePath, line: UInt = #line) -> Error? {
        do {
            let reader = try ShardReader(directory: dir)
            for id in ids { _ = try reader.sample(id) }
            return nil
        } catch {
            let text = "\(error)"
            XCTAssertTrue(error is UserError, "\(context): not a UserError: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "\(context): \(text)", file: file, line: line)
            XCTAssertTrue(files.contains { text.contains($0) }, "\(context): names none of \(files): \(text)", file: file, line: line)
            return error
        }
    }

    func testForgedManifestValuesAreErrorsNamingTheManifest() throws {
        let good = try Manifest.load(directory: dir)
        let forgeries: [(String, (inout Manifest) -> Void, String)] = [
            ("offset -1", { $0.samples["s1"]!.offset = -1 }, "lists no samples inside"),
            ("length -5", { $0.samples["s1"]!.length = -5 }, "lies outside"),
            ("length 2^62", { $0.samples["s2"]!.length = 1 << 62 }, "lies outside"),
            ("offset 2^62", { $0.samples["s2"]!.offset = 1 << 62 }, "lies outside"),
            ("height 0", { $0.samples["s0"]!.height = 0 }, "impossible size"),
            ("width 2^40", { $0.samples["s0"]!.width = 1 << 40 }, "impossible size"),
            ("height off by one", { $0.samples["s1"]!.height += 1 }, "expected U8 [8, 10, 3]"),
            ("offset into the next frame", { $0.samples["s1"]!.offset += 3 }, "is corrupt"),
            ("unknown shard", { $0.samples["s1"]!.shard = "other.dcshard" }, "does not list it"),
            ("duplicate class", { $0.classes.names[2] = "a" }, "names class 'a' twice"),
            ("palette", { $0.classes.palette[1] = [1, 2] }, "palette colour"),
            ("no classes", { $0.classes.names = []; $0.classes.palette = [] }, "0 class names"),
        ]
        for (what, forge, message) in forgeries {
            var m = good
            forge(&m)
            try m.write(to: dir)
            let error = readAll(naming: ["manifest.json", "shard-00000.dcshard"], what)
            XCTAssertTrue("\(error.map { "\($0)" } ?? "no error")".contains(message), "\(what): \(error.map { "\($0)" } ?? "no error")")
        }
    }

    func testLabelValuesOutsideTheClassesAreErrors() throws {
        var m = try Manifest.load(directory: dir)
        m.classes = ClassList(names: ["a", "b"], palette: [[0, 0, 0], [1, 1, 1]])
        try m.write(to: dir)
        let error = readAll(naming: ["shard-00000.dcshard"], "3 labels, 2 classes")
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("label value 2 at (x 2, y 0), outside [0, 2)"), "\(String(describing: error))")
    }

    /// 200 corruptions of the shard (checksum recomputed) and 200 of the manifest: each reads or is a
    /// one-line error naming the file.
    func testRandomCorruptionsNeverTrap() throws {
        let shard = "\(dir)/shard-00000.dcshard", manifestPath = "\(dir)/manifest.json"
        let shardBytes = [UInt8](FileManager.default.contents(atPath: shard)!)
        let manifestBytes = [UInt8](FileManager.default.contents(atPath: manifestPath)!)
        var good = try Manifest.load(directory: dir)
        var rng = SplitMix64(seed: 21)
        var errors = 0
        for i in 0..<200 {
            try AtomicFile.write(mutate(shardBytes, &rng), to: shard)
            good.shards[0].sha256 = try SHA256.hex(ofFile: shard)
            try good.write(to: dir)
            if readAll(naming: ["shard-00000.dcshard", "manifest.json"], "shard corruption \(i)") != nil { errors += 1 }
        }
        try AtomicFile.write(shardBytes, to: shard)
        for i in 0..<200 {
            try AtomicFile.write(mutate(manifestBytes, &rng), to: manifestPath)
            if readAll(naming: ["shard-00000.dcshard", "manifest.json"], "manifest corruption \(i)") != nil { errors += 1 }
        }
        XCTAssertGreaterThan(errors, 300, "most corruptions must be detected")
    }
}
