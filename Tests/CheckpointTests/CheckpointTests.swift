// Checkpoint save / strict load: round trip with reference names and dtypes, one error listing
// every missing, unexpected and wrong-shape tensor, backbone-only loads, F16 inputs.
import Foundation
import XCTest
import Tensor
import NN
import Models
import Checkpoint
import SafeTensors
import Support

final class CheckpointTests: XCTestCase {
    static let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dcot-ckpt-\(getpid())")

    func tmp(_ name: String) -> String {
        try? FileManager.default.createDirectory(at: Self.dir, withIntermediateDirectories: true)
        return Self.dir.appendingPathComponent(name).path
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: dir)
        super.tearDown()
    }

    func small(_ backbone: String = "resnet18", nclass: Int = 3, seed: UInt64 = 1) throws -> Segmentor {
        try Segmentor(config: try ModelConfig.parse("backbone: \(backbone)\nnclass: \(nclass)\nwidth: 0.125\nhead_channels: 8\nreduce_channels: 4\n"),
                      seed: seed)
    }

    func testRoundTripKeepsNamesOrderDTypesAndValues() throws {
        let a = try small(seed: 1), b = try small(seed: 2)
        a.namedParameters().first { $0.0.hasSuffix("num_batches_tracked") }!.1.value[0] = 7
        let path = tmp("roundtrip.safetensors")
        try Checkpoint.save(a, to: path, metadata: ["note": "test"])
        let file = try SafeTensorsFile(contentsOf: path)
        XCTAssertEqual(file.names, a.namedParameters().map(\.0))
        XCTAssertEqual(file.entry("backbone.bn1.num_batches_tracked")?.dtype, .I64)
        XCTAssertEqual(file.entry("backbone.bn1.num_batches_tracked")?.shape, [])
        XCTAssertEqual(file.entry("head.classifier.bias")?.dtype, .F32)
        XCTAssertEqual(file.header.metadata["note"], "test")
        try Checkpoint.load(into: b, from: path)
        for ((n, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(p.value.array, q.value.array, n)
        }
    }

    /// A model built without its random draws (dcot-eval's start-up) and then loaded strictly holds
    /// the checkpoint's values exactly, for each backbone family; before the load its drawn weights are zero.
    func testModelBuiltWithoutRandomInitLoadsTheSameValues() throws {
        let yaml = ["resnet18": "width: 0.125\nhead_channels: 8\nreduce_channels: 4\n",
                    "mit-b0": "embed_dims: 8\nhead_channels: 8\n"]
        for (backbone, extra) in yaml.sorted(by: { $0.key < $1.key }) {
            let cfg = try ModelConfig.parse("backbone: \(backbone)\nnclass: 3\n" + extra)
            let a = try Segmentor(config: cfg, seed: 5)
            let path = tmp("noinit-\(backbone).safetensors")
            try Checkpoint.save(a, to: path)
            let b = try RandomInit.skipping { try Segmentor(config: cfg, seed: 5) }
            XCTAssertFalse(RandomInit.skipped)
            let drawn = b.namedParameters().first { $0.0.hasSuffix("conv1.weight") || $0.0.hasSuffix("proj.weight") }!
            XCTAssertTrue(drawn.1.value.array.allSatisfy { $0 == 0 }, "\(backbone): \(drawn.0) was drawn")
            try Checkpoint.load(into: b, from: path)
            for ((n, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) {
                XCTAssertEqual(p.value.array.map(\.bitPattern), q.value.array.map(\.bitPattern), "\(backbone) \(n)")
            }
        }
    }

    func testStrictLoadReportsEveryMismatchAtOnce() throws {
        let a = try small(nclass: 3)
        let path = tmp("other.safetensors")
        try Checkpoint.save(try small(nclass: 5), to: path)
        // Same model family, other nclass: two wrong shapes; then a file with one tensor renamed.
        XCTAssertThrowsError(try Checkpoint.load(into: a, from: path)) { error in
            let m = error as! CheckpointMismatch
            XCTAssertEqual(m.wrongShape.count, 2, "\(m)")
            XCTAssertTrue(m.description.contains("head.classifier.weight: file [5, 8, 1, 1] vs model [3, 8, 1, 1]"), "\(m)")
        }
        var w = SafeTensorsWriter()
        for (n, p) in a.namedParameters() where n != "head.reduce.0.weight" {
            let name = n == "backbone.bn1.weight" ? "backbone.bn1.gamma" : n
            if p.kind == .int64Buffer { w.add(name, dtype: .I64, shape: [], values: [Int64(0)]) }
            else { w.add(name, dtype: .F32, shape: p.shape, values: p.value.array) }
        }
        let bad = tmp("renamed.safetensors")
        try Data(w.serialize()).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try Checkpoint.load(into: a, from: bad)) { error in
            let m = error as! CheckpointMismatch
            XCTAssertEqual(Set(m.missing), ["backbone.bn1.weight", "head.reduce.0.weight"])
            XCTAssertEqual(m.unexpected, ["backbone.bn1.gamma"])
            XCTAssertTrue(m.description.hasPrefix(bad + ": checkpoint does not match the model: 2 missing"), m.description)
        }
    }

    func testPretrainedBackboneLoadsOnlyTheBackbone() throws {
        let source = try small(seed: 3), target = try small(seed: 4)
        let headBefore = target.head.namedParameters().map { $0.1.value.array }
        // A backbone-only file with bare names (as converted ImageNet weights are).
        let path = tmp("backbone.safetensors")
        try Checkpoint.save(source.backbone, to: path)
        try Checkpoint.loadPretrainedBackbone(target.backbone, from: path)
        XCTAssertEqual(target.backbone.namedParameters().map { $0.1.value.array },
                       source.backbone.namedParameters().map { $0.1.value.array })
        XCTAssertEqual(target.head.namedParameters().map { $0.1.value.array }, headBefore)
        // A whole-model file also works: its head tensors are skipped.
        let whole = tmp("whole.safetensors"), other = try small(seed: 5)
        try Checkpoint.save(other, to: whole)
        try Checkpoint.loadPretrainedBackbone(target.backbone, from: whole)
        XCTAssertEqual(target.backbone.namedParameters().map { $0.1.value.array },
                       other.backbone.namedParameters().map { $0.1.value.array })
        XCTAssertEqual(target.head.namedParameters().map { $0.1.value.array }, headBefore)
        // The wrong backbone is rejected with the mismatch report.
        let dct = try small("resnet18_dct_64")
        XCTAssertThrowsError(try Checkpoint.loadPretrainedBackbone(dct.backbone, from: path)) { error in
            XCTAssertTrue((error as! CheckpointMismatch).unexpected.contains("conv1.0.weight"))
        }
        XCTAssertTrue(Checkpoint.randomBackboneWarning(backbone: "resnet50_dct_64").contains("RANDOM"))
    }

    func testHalfPrecisionConversion() {
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0xC000), -2)
        XCTAssertEqual(halfToFloat(0x0001), Float(5.9604645e-08))
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertTrue(halfToFloat(0x7C00).isInfinite)
        XCTAssertEqual(halfToFloat(0x8000).sign, .minus)
    }
}

/// Damaged checkpoint files (header and data): each loads or is a one-line error naming the file.
final class DamagedCheckpointTests: XCTestCase {
    func testRandomCorruptionsAndNonFiniteValuesAreErrorsNamingTheFile() throws {
        let dir = NSTemporaryDirectory() + "dcot-ckpt-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = "backbone: resnet18\nnclass: 3\nwidth: 0.125\nhead_channels: 8\nreduce_channels: 4\n"
        let model = try Segmentor(config: try ModelConfig.parse(config), seed: 1)
        let path = "\(dir)/m.safetensors"
        try Checkpoint.save(model, to: path)
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let headerEnd = try bytes.withUnsafeBytes { try SafeTensorsHeader.parse($0).dataStart }
        let target = try Segmentor(config: try ModelConfig.parse(config), seed: 2)
        var rng = SplitMix64(seed: 5)
        var errors = 0
        for i in 0..<240 {
            // Half of the corruptions in the header, half anywhere.
            var b = bytes
            if i % 2 == 0 {
                b = mutate(Array(bytes.prefix(headerEnd)), &rng) + bytes[headerEnd...]
            } else {
                b = mutate(bytes, &rng)
            }
            try Data(b).write(to: URL(fileURLWithPath: path))
            do {
                try Checkpoint.load(into: target, from: path)
            } catch {
                errors += 1
                let text = "\(error)"
                XCTAssertTrue(error is UserError || error is CheckpointMismatch, "\(i): \(text)")
                XCTAssertTrue(text.contains(path), "\(i): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(i): \(text)")
            }
        }
        XCTAssertGreaterThan(errors, 120)
        // A NaN weight is refused at load time, not discovered as a non-finite loss later.
        var b = bytes
        let e = try SafeTensorsFile(bytes: bytes).entry("head.classifier.weight")!
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { b.replaceSubrange((headerEnd + e.begin)..<(headerEnd + e.begin + 4), with: $0) }
        try Data(b).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.load(into: model, from: path)) {
            XCTAssertTrue("\($0)".contains("tensor 'head.classifier.weight' holds a non-finite value (nan at element 0)"), "\($0)")
        }
    }
}

/// Random truncations and byte changes with a fixed seed.
func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var b = bytes
    if b.count > 1 && rng.below(10) < 3 { return Array(b.prefix(rng.below(b.count))) }
    for _ in 0...rng.below(4) where !b.isEmpty {
        let i = rng.below(b.count)
        if rng.below(2) == 0 { b[i] = UInt8(truncatingIfNeeded: rng.next()) } else { b[i] ^= 1 << UInt8(rng.below(8)) }
    }
    return b
}
