import Foundation
import XCTest
import CoTraining
import Metrics
import Pipeline
import Shards
import Support
import Synth

/// A tiny dataset, shards and split shared by the trainer tests.
final class TrainerFixture {
    static let shared = try! TrainerFixture()
    let dir: String
    let configs: String

    init() throws {
        dir = NSTemporaryDirectory() + "dcot-train-\(UUID().uuidString)"
        removeAtExit(dir)
        try makeDirectory(dir)
        _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 3, size: 48, seed: 9), train: 24, val: 4,
                                                     out: "\(dir)/data", jobs: 2, quiet: true))
        var p = PrepOptions(dataset: .generic, root: "\(dir)/data", lists: ["\(dir)/data/train.txt", "\(dir)/data/val.txt"],
                            out: "\(dir)/shards")
        p.quiet = true
        p.dct = true
        _ = try Prep.run(p, commandLine: "test")
        var s = SplitOptions(list: "\(dir)/data/train.txt", out: "\(dir)/split", layout: DatasetLayout(kind: .generic, root: "\(dir)/data"))
        s.size = .count(8)
        _ = try Split.run(s)
        configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("pipelines/configs/demo").path
    }

    func options(_ configs: [String], out: String, iterations: Int) -> TrainOptions {
        var o = TrainOptions()
        o.configs = configs.map { "\(self.configs)/\($0).yaml" }
        o.shards = "\(dir)/shards"
        o.labeled = "\(dir)/split/labeled.txt"
        o.unlabeled = "\(dir)/split/unlabeled.txt"
        o.val = "\(dir)/data/val.txt"
        o.out = "\(dir)/\(out)"
        o.iterations = iterations
        o.crop = 32
        o.batchSize = 2
        o.threads = 2
        o.quiet = true
        o.logEvery = 1
        return o
    }

    /// Model m1's unsupervised loss at every logged step of run `out`.
    func unsupervisedLosses(_ out: String) throws -> [Double] {
        try steps(out).map { (($0["loss"] as! [String: Any])["m1"] as! [String: Any])["unsup"] as! Double }
    }

    /// Reruns `o` (already trained straight into o.out) into `<o.out>-resumed`, stopped after `stop`
    /// iterations as if preempted and then continued: latest-m1 … latest-m<files> must equal the
    /// straight run's byte for byte.
    func assertResumeMatchesStraight(_ o: TrainOptions, stopAfter stop: Int, files: Int,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        var resumed = o
        resumed.out = o.out + "-resumed"
        resumed.stopAfter = stop
        _ = try Trainer.run(resumed)
        resumed.stopAfter = nil
        _ = try Trainer.run(resumed)
        for k in 1...files {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(o.out)/latest-m\(k).safetensors")),
                           try Data(contentsOf: URL(fileURLWithPath: "\(resumed.out)/latest-m\(k).safetensors")),
                           "m\(k): the straight and the resumed run end with the same bits", file: file, line: line)
        }
    }

    func steps(_ out: String) throws -> [[String: Any]] {
        try String(contentsOfFile: "\(dir)/\(out)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            .filter { $0["kind"] as? String == "step" }
    }
}

final class TrainerTests: XCTestCase {
    func testSupervisedTwoAndThreeModelRunsLearn() throws {
        let f = TrainerFixture.shared
        for (name, configs) in [("sup", ["cnn-rgb"]), ("cps2", ["cnn-rgb", "cnn-dct"]), ("cps3", ["cnn-rgb", "cnn-dct", "mit"])] {
            var o = f.options(configs, out: name, iterations: 24)
            o.evalEvery = 24
            let summary = try Trainer.run(o)
            XCTAssertTrue(summary.contains("finished 24 iterations"), summary)
            let steps = try f.steps(name)
            XCTAssertEqual(steps.count, 24)
            func sup(_ s: [String: Any]) -> Double { ((s["loss"] as! [String: Any])["m1"] as! [String: Any])["sup"] as! Double }
            let first = steps.prefix(4).map(sup).reduce(0, +) / 4, last = steps.suffix(4).map(sup).reduce(0, +) / 4
            XCTAssertLessThan(last, first, "\(name): the supervised loss falls (\(first) -> \(last))")
            for k in 1...configs.count {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(f.dir)/\(name)/latest-m\(k).safetensors"))
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(f.dir)/\(name)/best-m\(k).safetensors"))
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(f.dir)/\(name)/done.json"))
            if configs.count > 1 {
                let agree = steps.map { $0["agreement"] as! Double }
                XCTAssertGreaterThan(agree.suffix(4).reduce(0, +) / 4, agree.prefix(2).reduce(0, +) / 2 - 1e-9, "\(name): agreement rises")
            }
        }
    }

    /// N iterations straight == N/2, then a resume for the rest: bit-identical checkpoints.
    func testResumeIsBitIdentical() throws {
        let f = TrainerFixture.shared
        var straight = f.options(["cnn-rgb", "cnn-dct"], out: "straight", iterations: 6)
        straight.saveEvery = 3
        _ = try Trainer.run(straight)
        // Run the first 3 of 6 (as if preempted), then resume with the same command.
        var half = f.options(["cnn-rgb", "cnn-dct"], out: "resumed2", iterations: 6)
        half.saveEvery = 3
        var first = half
        first.stopAfter = 3
        _ = try Trainer.run(first)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/resumed2/latest.json"))) as! [String: Any]
        XCTAssertEqual(state["iteration"] as? Int, 2)
        _ = try Trainer.run(half)
        for k in 1...2 {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/straight/latest-m\(k).safetensors"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/resumed2/latest-m\(k).safetensors"))
            XCTAssertEqual(a, b, "model \(k) after resume")
        }
        // Another config or split refuses to mix.
        var other = f.options(["cnn-rgb", "cnn-dct"], out: "resumed2", iterations: 7)
        other.saveEvery = 3
        XCTAssertThrowsError(try Trainer.run(other)) { XCTAssertTrue("\($0)".contains("refuses to mix"), "\($0)") }
    }
}

final class SelfTrainingTests: XCTestCase {
    /// ST++-style round: train, dump pseudo-labels of the unlabeled ids, retrain on labeled ∪ pseudo.
    func testTrainingOnPseudoLabels() throws {
        let f = TrainerFixture.shared
        var o = f.options(["cnn-rgb"], out: "round1", iterations: 4)
        o.unlabeled = nil
        _ = try Trainer.run(o)
        var p = PseudoLabelOptions()
        p.evaluation.models = [("\(f.configs)/cnn-rgb.yaml", "\(f.dir)/round1/latest-m1.safetensors")]
        p.evaluation.shards = "\(f.dir)/shards"
        p.evaluation.list = "\(f.dir)/split/unlabeled.txt"
        p.evaluation.quiet = true
        p.out = "\(f.dir)/pseudo1"
        _ = try PseudoLabels.run(p)
        let all = try String(contentsOfFile: "\(f.dir)/split/labeled.txt", encoding: .utf8)
            + String(contentsOfFile: "\(f.dir)/split/unlabeled.txt", encoding: .utf8)
        try AtomicFile.write(all, to: "\(f.dir)/round2.txt")
        var r2 = f.options(["cnn-rgb"], out: "round2", iterations: 4)
        r2.unlabeled = nil
        r2.labeled = "\(f.dir)/round2.txt"
        r2.pseudo = ["\(f.dir)/pseudo1"]
        XCTAssertTrue(try Trainer.run(r2).contains("finished 4 iterations"))
        // The main shards are not a pseudo-label directory.
        r2.pseudo = ["\(f.dir)/shards"]
        r2.out = "\(f.dir)/round2b"
        XCTAssertThrowsError(try Trainer.run(r2)) { XCTAssertTrue("\($0)".contains("not a pseudo-label directory"), "\($0)") }
    }
}

/// kill -9 at arbitrary moments (including while checkpoints are written) always leaves a
/// latest.json whose files exist and match their checksums, and the run resumes from it.
final class KillTests: XCTestCase {
    func testKillNineLeavesALoadableLatest() throws {
        let f = TrainerFixture.shared
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let out = "\(f.dir)/killed"
        let args = ["--config", "\(f.configs)/cnn-rgb.yaml", "--config", "\(f.configs)/cnn-dct.yaml", "--shards", "\(f.dir)/shards",
                    "--labeled", "\(f.dir)/split/labeled.txt", "--unlabeled", "\(f.dir)/split/unlabeled.txt",
                    "--out", out, "--iterations", "200", "--save-every", "1", "--crop", "32", "--batch-size", "2",
                    "--threads", "1", "--quiet"]
        for delay in [0.9, 1.3, 1.7] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "\(root)/.build/release/dcot-train")
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            guard FileManager.default.fileExists(atPath: "\(out)/latest.json") else { continue }
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/latest.json"))) as! [String: Any]
            for (name, sha) in state["files"] as! [String: String] {
                // Either in place already, or committed as <name>.next and moved in by the next load.
                let inPlace = try SHA256.hex(ofFile: "\(out)/\(name)") == sha
                let nextPath = "\(out)/\(name).next"
                let pendingSHA = FileManager.default.fileExists(atPath: nextPath) ? try SHA256.hex(ofFile: nextPath) : ""
                let pending = pendingSHA == sha
                XCTAssertTrue(inPlace || pending, "\(name) after kill -9 at \(delay) s")
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }
            XCTAssertTrue(leftovers.allSatisfy { $0.contains(".tmp-") }, "\(leftovers)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/latest.json"), "no checkpoint was written before the kills")
        // The same command resumes from the surviving state (a short schedule change would refuse: keep 200).
        var o = f.options(["cnn-rgb", "cnn-dct"], out: "killed", iterations: 200)
        o.saveEvery = 1
        o.threads = 1
        o.stopAfter = 0
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/latest.json"))) as! [String: Any]
        o.stopAfter = (state["iteration"] as! Int) + 2
        XCTAssertTrue(try Trainer.run(o).contains("stopped after iteration"))
    }
}

final class DivergenceTests: XCTestCase {
    /// A non-finite loss stops the run with the iteration and the sample ids, keeping the last
    /// good checkpoint; the program maps it to exit code 3.
    func testNonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
        let f = TrainerFixture.shared
        let config = try String(contentsOfFile: "\(f.configs)/cnn-rgb.yaml", encoding: .utf8)
            .replacingOccurrences(of: "lr: 0.002", with: "lr: 1.0e+30")
        try AtomicFile.write(config, to: "\(f.dir)/explode.yaml")
        var o = f.options(["cnn-rgb"], out: "explode", iterations: 30)
        o.configs = ["\(f.dir)/explode.yaml"]
        o.unlabeled = nil
        o.saveEvery = 1
        XCTAssertThrowsError(try Trainer.run(o)) { error in
            guard let d = error as? TrainingDiverged else { return XCTFail("\(error)") }
            XCTAssertTrue(d.message.contains("non-finite loss"), d.message)
            XCTAssertTrue(d.message.contains("labeled [\""), d.message)
            XCTAssertGreaterThan(d.iteration, 0)
            let state = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/explode/latest.json"))) as? [String: Any]
            XCTAssertEqual(state?["iteration"] as? Int, d.iteration - 1, "the last good iteration is kept")
        }
        XCTAssertEqual(Trainer.nonFiniteExitCode, 3)
    }
}

/// The demo configs use AdamW (testResumeIsBitIdentical); this covers SGD, the reference optimiser.
final class SGDResumeTests: XCTestCase {
    func testSGDResumeIsBitIdentical() throws {
        let f = TrainerFixture.shared
        let config = try String(contentsOfFile: "\(f.configs)/cnn-rgb.yaml", encoding: .utf8)
            .replacingOccurrences(of: "optim: AdamW", with: "optim: SGD").replacingOccurrences(of: "lr: 0.002", with: "lr: 0.01")
        XCTAssertTrue(config.contains("optim: SGD"))
        try AtomicFile.write(config, to: "\(f.dir)/adamw.yaml")
        var straight = f.options(["cnn-rgb"], out: "adamw-straight", iterations: 4)
        straight.configs = ["\(f.dir)/adamw.yaml"]
        straight.unlabeled = nil
        _ = try Trainer.run(straight)
        try f.assertResumeMatchesStraight(straight, stopAfter: 2, files: 1)
    }
}

final class RunIdentityTests: XCTestCase {
    /// The run's identity covers the pretrained files' content and the unsupervised weight, so make's
    /// --restart-if-changed starts over when either changes; a missing file is a one-line error.
    func testPretrainedFilesAndUnsupWeightArePartOfTheRunIdentity() throws {
        let f = TrainerFixture.shared
        let a = "\(f.dir)/pre-a.safetensors", b = "\(f.dir)/pre-b.safetensors"
        try Data("one".utf8).write(to: URL(fileURLWithPath: a))
        try Data("two".utf8).write(to: URL(fileURLWithPath: b))
        var o = f.options(["cnn-rgb", "cnn-dct"], out: "identity", iterations: 1)
        let plain = try RunSettings(o).configHash
        o.pretrained = [1: a]
        let withA = try RunSettings(o).configHash
        o.pretrained = [1: b]
        let withB = try RunSettings(o).configHash
        XCTAssertEqual(Set([plain, withA, withB]).count, 3)
        o.pretrained = [:]
        o.unsupWeight = 0.5
        XCTAssertNotEqual(try RunSettings(o).configHash, plain)
        // A config's scale_range is part of the config hash (every raw key is).
        o.unsupWeight = 1
        let ranged = "\(f.dir)/cnn-rgb-ranged.yaml"
        let base = try String(contentsOfFile: o.configs[0], encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("scale_range") }.joined(separator: "\n")
        try (base + "\nscale_range: [0.7, 1.4]\n")
            .write(toFile: ranged, atomically: true, encoding: .utf8)
        var r = o
        r.configs[0] = ranged
        XCTAssertEqual(try RunSettings(r).configs[0].scaleRange, [0.7, 1.4])
        XCTAssertNotEqual(try RunSettings(r).configHash, plain)
        o.pretrained = [2: "\(f.dir)/missing.safetensors"]
        XCTAssertThrowsError(try RunSettings(o)) { e in
            XCTAssertTrue("\(e)".contains("missing.safetensors"), "\(e)")
        }
        // Distribution alignment is part of the identity, and only co-training takes it.
        o.pretrained = [:]
        o.distributionAlignment = true
        XCTAssertNotEqual(try RunSettings(o).configHash, plain)
        o.distributionAlignment = false
        o.unsupRampup = 50
        XCTAssertNotEqual(try RunSettings(o).configHash, plain)
        o.unsupRampup = 0
        o.blurSigmaRange = [0.03, 0.6]
        XCTAssertEqual(try RunSettings(o).configs[0].blurSigmaRange, [0.03, 0.6])
        XCTAssertNotEqual(try RunSettings(o).configHash, plain)
        o.blurSigmaRange = [0.6, 0.03]
        XCTAssertThrowsError(try RunSettings(o)) { e in XCTAssertTrue("\(e)".contains("--blur-sigma-range"), "\(e)") }
        var sup = f.options(["cnn-rgb"], out: "identity-sup", iterations: 1)
        sup.distributionAlignment = true
        XCTAssertThrowsError(try RunSettings(sup)) { e in
            XCTAssertTrue("\(e)".contains("--distribution-alignment") && "\(e)".contains("cps"), "\(e)")
        }
    }

    /// A 2-model run with distribution alignment and a ramped-up unsupervised weight trains (finite
    /// losses, checkpoints), its pseudo-labels differ from the plain run's (so do its unsupervised
    /// losses), and it resumes bit-identically (neither keeps state between steps).
    func testDistributionAlignmentTrainsAndResumesBitIdentically() throws {
        let f = TrainerFixture.shared
        var o = f.options(["cnn-rgb", "cnn-dct"], out: "da-straight", iterations: 6)
        o.distributionAlignment = true
        o.threshold = 0.5
        o.unsupRampup = 4
        _ = try Trainer.run(o)
        let ramp = try f.steps("da-straight").map { $0["unsup_weight"] as! Double }
        XCTAssertEqual(ramp.count, 6)
        for (i, w) in ramp.enumerated() {
            XCTAssertEqual(w, CoTrainingStep.rampedUnsupWeight(1, iteration: i, rampup: 4), accuracy: 1e-12, "the ramp, logged per step")
        }
        var plain = f.options(["cnn-rgb", "cnn-dct"], out: "da-plain", iterations: 6)
        plain.threshold = 0.5
        _ = try Trainer.run(plain)
        let aligned = try f.unsupervisedLosses("da-straight"), reference = try f.unsupervisedLosses("da-plain")
        XCTAssertTrue(aligned.allSatisfy(\.isFinite), "\(aligned)")
        XCTAssertEqual(aligned.count, 6)
        XCTAssertNotEqual(aligned, reference, "the aligned pseudo-labels change the unsupervised loss")
        try f.assertResumeMatchesStraight(o, stopAfter: 3, files: 2)
    }
}

/// Removes a shared fixture's directory when the test process ends (no tearDown outlives it).
func removeAtExit(_ path: String) {
    if scratchDirectories.isEmpty { atexit { for d in scratchDirectories { try? FileManager.default.removeItem(atPath: d) } } }
    scratchDirectories.append(path)
}
nonisolated(unsafe) var scratchDirectories: [String] = []

/// `DCOT_SPLIT_GEMM=0` (OpenBLAS's own threads and Dispatch instead of our pool) is read by every
/// program at start-up and must not change a bit: the same 2-model run, 2 threads, with and without
/// it ends with byte-identical checkpoints.
final class SplitGemmEnvironmentTests: XCTestCase {
    func testSplitGemmSwitchKeepsTheCheckpointBits() throws {
        let f = TrainerFixture.shared
        func train(_ out: String, split: String?) throws -> [String] {
            let args = ["--config", "\(f.configs)/cnn-rgb.yaml", "--config", "\(f.configs)/cnn-dct.yaml", "--shards", "\(f.dir)/shards",
                        "--labeled", "\(f.dir)/split/labeled.txt", "--unlabeled", "\(f.dir)/split/unlabeled.txt",
                        "--out", "\(f.dir)/\(out)", "--iterations", "3", "--crop", "48", "--batch-size", "2", "--threads", "2", "--quiet"]
            let r = try runProgram("dcot-train", args, timeout: 120, environment: ["DCOT_SPLIT_GEMM": split])
            XCTAssertTrue(r.exited && r.status == 0, "dcot-train with DCOT_SPLIT_GEMM=\(split ?? "unset"): \(r.stderr)")
            return try ["latest-m1.safetensors", "latest-m2.safetensors"].map { try SHA256.hex(ofFile: "\(f.dir)/\(out)/\($0)") }
        }
        XCTAssertEqual(try train("split-default", split: nil), try train("split-off", split: "0"),
                       "DCOT_SPLIT_GEMM=0 changed the checkpoint bits")
        // The MiT's attention runs its query blocks in parallel with whole (unsplit) products.
        func trainMiT(_ out: String, split: String?) throws -> String {
            let args = ["--config", "\(f.configs)/mit.yaml", "--shards", "\(f.dir)/shards", "--labeled", "\(f.dir)/split/labeled.txt",
                        "--out", "\(f.dir)/\(out)", "--iterations", "2", "--crop", "48", "--batch-size", "2", "--threads", "2", "--quiet"]
            let r = try runProgram("dcot-train", args, timeout: 120, environment: ["DCOT_SPLIT_GEMM": split])
            XCTAssertTrue(r.exited && r.status == 0, "MiT dcot-train with DCOT_SPLIT_GEMM=\(split ?? "unset"): \(r.stderr)")
            return try SHA256.hex(ofFile: "\(f.dir)/\(out)/latest-m1.safetensors")
        }
        XCTAssertEqual(try trainMiT("split-mit-default", split: nil), try trainMiT("split-mit-off", split: "0"),
                       "DCOT_SPLIT_GEMM=0 changed the MiT checkpoint bits")
    }
}
