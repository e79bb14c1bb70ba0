// dcot-eval's and dcot-pseudo's bad inputs: flags out of range, list ids outside the shards, shards of
// another dataset; each is one error naming the flag, the list line or the file.
import Foundation
import XCTest
import Checkpoint
import Metrics
import Models
import Pipeline
import Support
import Synth

final class EvaluationInputTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dcot-eval-input-\(UUID().uuidString)"
        try makeDirectory(dir)
        _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 6, size: 40, seed: 1), train: 1, val: 2,
                                                     out: "\(dir)/data", jobs: 2, quiet: true))
        var p = PrepOptions(dataset: .generic, root: "\(dir)/data", lists: ["\(dir)/data/val.txt"], out: "\(dir)/shards")
        p.quiet = true
        _ = try Prep.run(p, commandLine: "test")
        try AtomicFile.write(EvaluationTests.tinyConfig, to: "\(dir)/tiny.yaml")
        try Checkpoint.save(try Segmentor(config: try ModelConfig.load("\(dir)/tiny.yaml"), seed: 3), to: "\(dir)/tiny.safetensors")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func options() -> EvaluationOptions {
        var o = EvaluationOptions()
        o.models = [("\(dir)/tiny.yaml", "\(dir)/tiny.safetensors")]
        o.shards = "\(dir)/shards"
        o.list = "\(dir)/data/val.txt"
        o.quiet = true
        return o
    }

    func error(_ o: EvaluationOptions, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try Evaluation.run(o)
            XCTFail("evaluated without an error", file: file, line: line)
        } catch {
            XCTAssertTrue(error is UserError, "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "\(error)", file: file, line: line)
            return "\(error)"
        }
        return ""
    }

    func testFlagsListsAndForeignShards() throws {
        XCTAssertNoThrow(try Evaluation.run(options()))
        var o = options()
        o.mode = "sliding_window"
        o.crop = 1 // stride int(2/3 · 1) = 0 would never advance
        XCTAssertTrue(error(o).hasPrefix("--crop 1: must be in 8...4096"))
        o.crop = 32
        o.cropDCT = 0
        XCTAssertTrue(error(o).hasPrefix("--crop-dct 0: must be in 2...1024"))
        for bad in [",", "inf", "nan", "0", "1e300"] {
            XCTAssertThrowsError(try EvaluationOptions.parseScales(bad), bad) { XCTAssertTrue("\($0)".hasPrefix("--scales \(bad): "), "\($0)") }
        }
        XCTAssertEqual(try EvaluationOptions.parseScales("0.75,1,1.25"), [0.75, 1, 1.25])
        o = options()
        try AtomicFile.write("val_00001\nval_00009\n", to: "\(dir)/list.txt")
        o.list = "\(dir)/list.txt"
        XCTAssertEqual(error(o), "\(dir)/list.txt:2: id 'val_00009' is not in these shards (\(dir)/shards); run dcot-prep over a list that contains it, or fix the line")
        o = options()
        try AtomicFile.write(EvaluationTests.tinyConfig.replacingOccurrences(of: "nclass: 6", with: "nclass: 4"), to: "\(dir)/four.yaml")
        try Checkpoint.save(try Segmentor(config: try ModelConfig.load("\(dir)/four.yaml"), seed: 3), to: "\(dir)/four.safetensors")
        o.models = [("\(dir)/four.yaml", "\(dir)/four.safetensors")]
        XCTAssertTrue(error(o).hasPrefix("\(dir)/shards/manifest.json: has 6 classes but \(dir)/four.yaml predict 4"))
        // dcot-pseudo goes through the same checks.
        var p = PseudoLabelOptions()
        p.evaluation = options()
        p.evaluation.list = "\(dir)/list.txt"
        p.out = "\(dir)/pseudo"
        XCTAssertThrowsError(try PseudoLabels.run(p)) { XCTAssertTrue("\($0)".hasPrefix("\(self.dir)/list.txt:2: id 'val_00009'"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/pseudo/manifest.json"))
    }
}
