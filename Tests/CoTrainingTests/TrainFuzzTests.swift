// dcot-train on damaged inputs (issue 15), in the style of dcot-prep's PNG corruptions: seeded random
// truncations and byte changes of configs, id lists, pretrained weights, a run's resume state
// (latest.json, weights, optimiser state) and pseudo-label shards. In-process through Trainer.run
// for many mutations, then through the program for a sample, where a trap or a hang would show as a
// signal or a timeout. Files behind a checksum are fuzzed with the checksum recomputed, so the
// parsers see the damaged bytes.
import Foundation
import XCTest
import Checkpoint
import CoTraining
import Metrics
import Support

final class TrainFuzzTests: XCTestCase {
    let f = TrainerFixture.shared
    var work = ""

    override func setUpWithError() throws {
        work = "\(f.dir)/fuzz-train-\(UUID().uuidString)"
        try makeDirectory(work)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: work) }

    /// A private copy of a fixture file or directory.
    func copy(_ path: String, _ name: String) throws -> String {
        try FileManager.default.copyItem(atPath: path, toPath: "\(work)/\(name)")
        return "\(work)/\(name)"
    }

    /// Two-model co-training for one iteration at crop 32 (what every mutation is fed to).
    func options(_ out: String) -> TrainOptions {
        var o = f.options(["cnn-rgb", "cnn-dct"], out: "", iterations: 1)
        o.out = "\(work)/runs/\(out)"
        o.val = nil
        o.threads = 1
        return o
    }

    /// In-process: trains, or throws an error that names `file` in one line (a diverged loss is a
    /// legitimate outcome of a damaged number).
    func train(_ o: TrainOptions, naming file: String, _ context: String, _ fuzzer: Fuzzer) {
        do {
            _ = try Trainer.run(o)
        } catch is TrainingDiverged {
            fuzzer.errors += 1
        } catch {
            fuzzer.errors += 1
            XCTAssertTrue(error is UserError || error is CheckpointMismatch, "\(context): \(error)")
            checkError(error, naming: file, context)
        }
    }

    func testDamagedConfigsListsWeightsResumeStateAndPseudoLabels() throws {
        let fz = Fuzzer(seed: 1515)
        // Configs (the second slot's) and id lists.
        let config = try copy("\(f.configs)/cnn-dct.yaml", "cnn-dct.yaml")
        try fz.run(config, count: 60) { i in
            var o = options("config-\(i)")
            o.configs[1] = config
            train(o, naming: config, "config \(i)", fz)
        }
        for (name, source) in [("labeled.txt", "\(f.dir)/split/labeled.txt"), ("unlabeled.txt", "\(f.dir)/split/unlabeled.txt"),
                               ("val.txt", "\(f.dir)/data/val.txt")] {
            let list = try copy(source, name)
            try fz.run(list, count: 20) { i in
                var o = options("\(name)-\(i)")
                switch name {
                case "labeled.txt": o.labeled = list
                case "unlabeled.txt": o.unlabeled = list
                default: (o.val, o.valLimit) = (list, 1)
                }
                train(o, naming: list, "\(name) \(i)", fz)
            }
        }
        // A pretrained backbone file, header and data.
        var base = options("base")
        base.iterations = 2
        base.stopAfter = 1
        _ = try Trainer.run(base)
        let pretrained = try copy("\(base.out)/latest-m1.safetensors", "pretrained.safetensors")
        try fz.run(pretrained, count: 16) { i in
            var o = options("pretrained-\(i)")
            o.pretrained = [1: pretrained]
            train(o, naming: pretrained, "pretrained \(i)", fz)
        }
        // The resume state: latest.json, and weights and optimiser state committed with their checksums.
        for (file, commit) in [("latest.json", false), ("latest-m2.safetensors", true), ("latest-m1.state.safetensors", true)] {
            try fz.run("\(base.out)/\(file)", count: 12, prepare: commit ? recommit : { _ in }) { i in
                var o = base
                o.stopAfter = nil
                o.out = try copy(base.out, "resume-\(file)-\(i)")
                train(o, naming: file, "\(file) \(i)", fz)
            }
        }
        // Pseudo-label shards of a self-training round: the manifest, and the shard behind its checksum.
        let pseudo = try pseudoLabels()
        for (file, prepare) in [("manifest.json", { (_: String) in }), ("shard-00000.dcshard", recomputeChecksums)] {
            try fz.run("\(pseudo)/\(file)", count: 16, prepare: prepare) { i in
                var o = selfTraining("pseudo-\(file)-\(i)")
                o.pseudo = [pseudo]
                train(o, naming: "\(pseudo)/", "pseudo \(file) \(i)", fz)
            }
        }
        XCTAssertGreaterThan(fz.errors, fz.runs / 2, "most damage is detected")
    }

    /// Supervised training on labeled ∪ unlabeled ids, the unlabeled ones labeled by --pseudo.
    func selfTraining(_ out: String) -> TrainOptions {
        var o = f.options(["cnn-rgb"], out: "", iterations: 1)
        o.out = "\(work)/runs/\(out)"
        o.labeled = "\(work)/all.txt"
        o.unlabeled = nil
        o.val = nil
        o.threads = 1
        return o
    }

    /// dcot-pseudo's labels of the unlabeled ids (by a randomly initialised model; only the files matter).
    func pseudoLabels() throws -> String {
        var o = f.options(["cnn-rgb"], out: "", iterations: 1)
        o.out = "\(work)/runs/pseudo-model"
        o.unlabeled = nil
        o.val = nil
        _ = try Trainer.run(o)
        var p = PseudoLabelOptions()
        p.evaluation.models = [(o.configs[0], "\(o.out)/latest-m1.safetensors")]
        p.evaluation.shards = "\(f.dir)/shards"
        p.evaluation.list = "\(f.dir)/split/unlabeled.txt"
        p.evaluation.quiet = true
        p.out = "\(work)/pseudo"
        _ = try PseudoLabels.run(p)
        let all = try String(contentsOfFile: "\(f.dir)/split/labeled.txt", encoding: .utf8)
            + String(contentsOfFile: "\(f.dir)/split/unlabeled.txt", encoding: .utf8)
        try AtomicFile.write(all, to: "\(work)/all.txt")
        return "\(work)/pseudo"
    }

    /// The program on a sample of damaged inputs: no signal, no hang, and errors name the file.
    func testTheProgramNeverAbortsOnDamagedInputs() throws {
        let fz = Fuzzer(seed: 2727)
        func args(_ o: TrainOptions) -> [String] {
            var a = o.configs.flatMap { ["--config", $0] } + ["--shards", o.shards, "--labeled", o.labeled, "--out", o.out,
                                                               "--iterations", "\(o.iterations!)", "--crop", "32", "--batch-size", "2",
                                                               "--threads", "1", "--quiet"]
            if let u = o.unlabeled { a += ["--unlabeled", u] }
            if let v = o.val { a += ["--val", v, "--val-limit", "1"] }
            for (k, p) in o.pretrained { a += ["--pretrained", "m\(k)=\(p)"] }
            return a
        }
        let config = try copy("\(f.configs)/cnn-rgb.yaml", "cnn-rgb.yaml")
        try fz.run(config, count: 6) { i in
            var o = options("p-config-\(i)")
            o.configs[0] = config
            checkOutcome(try runProgram("dcot-train", args(o), timeout: 120), naming: config, "config \(i)")
        }
        let list = try copy("\(f.dir)/split/unlabeled.txt", "unlabeled.txt")
        try fz.run(list, count: 4) { i in
            var o = options("p-list-\(i)")
            o.unlabeled = list
            checkOutcome(try runProgram("dcot-train", args(o), timeout: 120), naming: list, "list \(i)")
        }
        var base = options("p-base")
        base.iterations = 2
        base.stopAfter = 1
        _ = try Trainer.run(base)
        let pretrained = try copy("\(base.out)/latest-m2.safetensors", "pretrained.safetensors")
        try fz.run(pretrained, count: 4) { i in
            var o = options("p-pretrained-\(i)")
            o.pretrained = [2: pretrained]
            checkOutcome(try runProgram("dcot-train", args(o), timeout: 120), naming: pretrained, "pretrained \(i)")
        }
        for (file, commit) in [("latest.json", false), ("latest-m1.state.safetensors", true)] {
            try fz.run("\(base.out)/\(file)", count: 4, prepare: commit ? recommit : { _ in }) { i in
                var o = base
                o.out = try copy(base.out, "p-resume-\(file)-\(i)")
                checkOutcome(try runProgram("dcot-train", args(o), timeout: 120), naming: file, "\(file) \(i)")
            }
        }
    }
}
