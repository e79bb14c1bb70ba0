import Foundation
import XCTest
import ImageIO
import Pipeline
import Shards
import Support

/// DESIGN.md section 6: every bad input is one error naming the file (and line), what is wrong and
/// what to do, and nothing is left under a final name (no manifest: the stage is not finished).
final class BadInputTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try makeSynthDataset(train: 8, val: 2, size: 40)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs prep over train.txt after `damage` and checks the error and the output directory.
    func expectPrepError(_ mustContain: [String], file: StaticString = #filePath, line: UInt = #line,
                         list: String = "train.txt", damage: () throws -> Void) throws {
        try damage()
        let out = "\(root)/out-\(UUID().uuidString)"
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/\(list)"], out: out)
        o.quiet = true
        o.jobs = 2
        XCTAssertThrowsError(try Prep.run(o, commandLine: "test"), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is UserError, "not a user error: \(text)", file: file, line: line)
            for m in mustContain { XCTAssertTrue(text.contains(m), "'\(m)' missing in: \(text)", file: file, line: line) }
            XCTAssertFalse(text.contains("\n"), "one line", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/manifest.json"), file: file, line: line)
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "temp files left behind", file: file, line: line)
    }

    func write(_ bytes: [UInt8], _ rel: String) throws { try AtomicFile.write(bytes, to: "\(root)/\(rel)") }
    func read(_ rel: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: "\(root)/\(rel)")!) }

    func testCorruptJPEG() throws {
        try expectPrepError(["JPEGImages/train_00003.jpg", "not a valid JPEG"]) {
            try write([0xFF, 0xD8, 0xFF] + Array("this is not a jpeg".utf8), "JPEGImages/train_00003.jpg")
        }
        try expectPrepError(["JPEGImages/train_00003.jpg", "neither a JPEG nor a PNG"]) {
            try write(Array("plain text".utf8), "JPEGImages/train_00003.jpg")
        }
    }

    func testTruncatedJPEG() throws {
        try expectPrepError(["JPEGImages/train_00002.jpg", "truncated"]) {
            let b = read("JPEGImages/train_00002.jpg")
            try write(Array(b.prefix(b.count * 2 / 3)), "JPEGImages/train_00002.jpg")
        }
    }

    func testTruncatedPNGMask() throws {
        try expectPrepError(["SegmentationClass/train_00004.png", "corrupt PNG"]) {
            let b = read("SegmentationClass/train_00004.png")
            try write(Array(b.prefix(b.count - 30)), "SegmentationClass/train_00004.png")
        }
    }

    func testRGBMaskIsRejectedUnlessColoursAreMapped() throws {
        let label = try LabelPNG.read(read("SegmentationClass/train_00001.png"))
        var rgb = [UInt8]()
        for v in label.labels { rgb += [VOCPalette.rgb[3 * Int(v)], VOCPalette.rgb[3 * Int(v) + 1], VOCPalette.rgb[3 * Int(v) + 2]] }
        try expectPrepError(["SegmentationClass/train_00001.png", "RGB colour mask", "--map-voc-colours"]) {
            try write(try PNG.write(pixels: rgb, width: label.width, height: label.height, channels: 3),
                      "SegmentationClass/train_00001.png")
        }
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/train.txt"], out: "\(root)/mapped")
        o.mapVOCColours = true
        o.quiet = true
        _ = try Prep.run(o, commandLine: "test")
        XCTAssertEqual(try ShardReader(directory: "\(root)/mapped").sample("train_00001").label, label)
    }

    func testMaskSizeMismatch() throws {
        try expectPrepError(["SegmentationClass/train_00005.png", "mask is 7x5", "JPEGImages/train_00005.jpg"]) {
            try write(try PNG.writePalette(LabelImage(width: 7, height: 5, labels: [UInt8](repeating: 0, count: 35))),
                      "SegmentationClass/train_00005.png")
        }
    }

    func testOutOfRangeLabel() throws {
        let label = try LabelPNG.read(read("SegmentationClass/train_00006.png"))
        var bad = label.labels
        bad[label.width * 2 + 3] = 9 // 6 classes
        try expectPrepError(["SegmentationClass/train_00006.png", "label value 9 at (x 3, y 2)", "[0, 6)"]) {
            try write(try PNG.writePalette(LabelImage(width: label.width, height: label.height, labels: bad)),
                      "SegmentationClass/train_00006.png")
        }
    }

    func testMissingFile() throws {
        try expectPrepError(["JPEGImages/train_00007.jpg", "not found"]) {
            try FileManager.default.removeItem(atPath: "\(root)/JPEGImages/train_00007.jpg")
        }
    }

    func testMalformedListLine() throws {
        try expectPrepError(["bad.txt:2", "found 3 fields"], list: "bad.txt") {
            try AtomicFile.write("JPEGImages/train_00000.jpg SegmentationClass/train_00000.png\na b c\n", to: "\(root)/bad.txt")
        }
        try expectPrepError(["bad3.txt:1", "is not a .png path"], list: "bad3.txt") {
            try AtomicFile.write("JPEGImages/train_00000.jpg SegmentationClass/train_00000.jpg\n", to: "\(root)/bad3.txt")
        }
        try expectPrepError(["bad2.txt:1", "does not look like an image path"], list: "bad2.txt") {
            try AtomicFile.write("JPEGImages/x.txt SegmentationClass/x.png\n", to: "\(root)/bad2.txt")
        }
    }

    func testDuplicateIds() throws {
        try expectPrepError(["dup.txt:3", "duplicate id 'train_00001'", "line 2"], list: "dup.txt") {
            try AtomicFile.write("train_00000\ntrain_00001\nJPEGImages/train_00001.jpg\n", to: "\(root)/dup.txt")
        }
    }

    func testExistingOutputThatIsNotOurs() throws {
        let out = "\(root)/someone-elses"
        try makeDirectory(out)
        try AtomicFile.write("precious", to: "\(out)/notes.txt")
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/train.txt"], out: out)
        o.quiet = true
        o.force = true
        XCTAssertThrowsError(try Prep.run(o, commandLine: "test")) {
            XCTAssertTrue("\($0)".contains("is not a dcot-prep output directory"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: "\(out)/notes.txt", encoding: .utf8), "precious")
        // dcot-synth refuses a foreign non-empty directory too.
        XCTAssertThrowsError(try SynthDatasetWrite(out))
    }

    func testOverlappingSplitsAndValidationLeak() throws {
        try makeDirectory("\(root)/pub")
        try AtomicFile.write("train_00001\ntrain_00002\n", to: "\(root)/pub/labeled.txt")
        try AtomicFile.write("train_00003\ntrain_00002\n", to: "\(root)/pub/unlabeled.txt")
        var o = SplitOptions(list: "\(root)/train.txt", out: "\(root)/split", layout: DatasetLayout(kind: .generic, root: root))
        o.importDirectory = "\(root)/pub"
        XCTAssertThrowsError(try Split.run(o)) { XCTAssertTrue("\($0)".contains("'train_00002' is also in labeled.txt"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/split/labeled.txt"))
        try AtomicFile.write("train_00001\nval_00000\n", to: "\(root)/pub/labeled.txt")
        try FileManager.default.removeItem(atPath: "\(root)/pub/unlabeled.txt")
        XCTAssertThrowsError(try Split.run(o)) { XCTAssertTrue("\($0)".contains("pub/labeled.txt:2"), "\($0)") }
        // A validation id inside the train list.
        try AtomicFile.write("JPEGImages/train_00001.jpg SegmentationClass/train_00001.png\n", to: "\(root)/val_bad.txt")
        var v = SplitOptions(list: "\(root)/train.txt", out: "\(root)/split2", layout: DatasetLayout(kind: .generic, root: root))
        v.val = "\(root)/val_bad.txt"
        v.size = .count(2)
        XCTAssertThrowsError(try Split.run(v)) { XCTAssertTrue("\($0)".contains("validation id 'train_00001'"), "\($0)") }
    }

    /// The programs print one `error:` line on stderr and exit non-zero.
    func testProgramsReportOneLineAndExitNonZero() throws {
        let r = try runProgram("dcot-prep", ["--dataset", "generic", "--root", root, "--list", "\(root)/nope.txt",
                                             "--out", "\(root)/o", "--quiet"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssertTrue(r.err.hasPrefix("error: \(root)/nope.txt: id list not found"), r.err)
        let s = try runProgram("dcot-split", ["--list", "\(root)/train.txt", "--fraction", "3/2", "--out", "\(root)/o2"])
        XCTAssertNotEqual(s.code, 0)
        XCTAssertTrue(s.err.contains("--fraction 3/2"), s.err)
    }
}

import Synth
func SynthDatasetWrite(_ out: String) throws {
    _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 3, size: 32, seed: 0), train: 1, val: 0,
                                                 out: out, jobs: 1, quiet: true))
}
