// dcot-eval and dcot-pseudo on damaged inputs (issue 15): seeded truncations and byte changes of the
// config, the checkpoint (header and data), the id list, the shard manifest and the shard (its
// checksum recomputed, so the reader parses the damaged bytes). In-process through the entry points,
// then through the programs for a sample: no signal, no hang, errors on one line naming the file.
import Foundation
import XCTest
import CoTraining
import Metrics
import Support

final class EvalPseudoFuzzTests: XCTestCase {
    let f = TrainerFixture.shared
    var work = ""
    var config = "", checkpoint = "", shards = "", valList = "", unlabeledList = ""
    var checkpointBytes: [UInt8] = []

    /// Private copies of a config, a checkpoint of it, the shards and the lists.
    override func setUpWithError() throws {
        work = "\(f.dir)/fuzz-eval-\(UUID().uuidString)"
        try makeDirectory(work)
        var o = f.options(["cnn-rgb"], out: "", iterations: 1)
        o.out = "\(work)/run"
        o.unlabeled = nil
        o.val = nil
        _ = try Trainer.run(o)
        config = try copy("\(f.configs)/cnn-rgb.yaml", "cnn-rgb.yaml")
        checkpoint = try copy("\(o.out)/latest-m1.safetensors", "m1.safetensors")
        checkpointBytes = [UInt8](FileManager.default.contents(atPath: checkpoint)!)
        shards = try copy("\(f.dir)/shards", "shards")
        valList = try copy("\(f.dir)/data/val.txt", "val.txt")
        let unlabeled = try String(contentsOfFile: "\(f.dir)/split/unlabeled.txt", encoding: .utf8).split(separator: "\n").prefix(4)
        unlabeledList = "\(work)/unlabeled.txt"
        try AtomicFile.write(unlabeled.joined(separator: "\n") + "\n", to: unlabeledList)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: work) }

    func copy(_ path: String, _ name: String) throws -> String {
        try FileManager.default.copyItem(atPath: path, toPath: "\(work)/\(name)")
        return "\(work)/\(name)"
    }

    /// The damaged files, what an error about each must name, and how a mutation is committed.
    var targets: [(path: String, names: String, prepare: (String) throws -> Void)] {
        [(config, config, { _ in }), (checkpoint, checkpoint, { _ in }), (valList, valList, { _ in }),
         ("\(shards)/manifest.json", "\(shards)/", { _ in }), ("\(shards)/shard-00000.dcshard", "\(shards)/", recomputeChecksums)]
    }

    func evaluation(_ list: String) -> EvaluationOptions {
        var o = EvaluationOptions()
        o.models = [(config, checkpoint)]
        o.shards = shards
        o.list = list
        o.quiet = true
        return o
    }

    /// A mutation of the checkpoint's header only (the data is mostly weights), used for half of its mutations.
    func mutateCheckpointHeader(_ fz: Fuzzer) throws {
        let bytes = checkpointBytes
        let n = 8 + bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
        try write(mutate(Array(bytes.prefix(n)), &fz.rng) + bytes[n...], to: checkpoint)
    }

    func run(_ context: String, naming: String, _ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch {
            XCTAssertTrue(error is UserError, "\(context): \(error)")
            checkError(error, naming: naming, context)
            return true
        }
    }

    func testDcotEvalOnDamagedInputs() throws {
        let fz = Fuzzer(seed: 4242)
        for t in targets {
            try fz.run(t.path, count: 40, prepare: t.prepare) { i in
                if t.path == checkpoint && i % 2 == 0 { try mutateCheckpointHeader(fz) }
                let o = evaluation(valList)
                if run("\(t.path) \(i)", naming: t.names, { _ = try Evaluation.run(o) }) { fz.errors += 1 }
            }
        }
        XCTAssertGreaterThan(fz.errors, fz.runs / 2)
        for t in targets {
            try fz.run(t.path, count: 4, prepare: t.prepare) { i in
                let args = ["--config", config, "--checkpoint", checkpoint, "--shards", shards, "--list", valList,
                            "--out", "\(work)/p.json", "--quiet"]
                checkOutcome(try runProgram("dcot-eval", args, timeout: 120), naming: t.names, "dcot-eval \(t.path) \(i)")
            }
        }
    }

    func testDcotPseudoOnDamagedInputs() throws {
        let fz = Fuzzer(seed: 4343)
        var targets = self.targets
        targets[2] = (unlabeledList, unlabeledList, { _ in })
        for (k, t) in targets.enumerated() {
            try fz.run(t.path, count: 24, prepare: t.prepare) { i in
                if t.path == checkpoint && i % 2 == 0 { try mutateCheckpointHeader(fz) }
                var o = PseudoLabelOptions()
                o.evaluation = evaluation(unlabeledList)
                o.out = "\(work)/pseudo-\(k)-\(i)"
                if run("\(t.path) \(i)", naming: t.names, { _ = try PseudoLabels.run(o) }) {
                    fz.errors += 1
                    XCTAssertFalse(FileManager.default.fileExists(atPath: "\(o.out)/manifest.json"), "a failed run leaves no manifest")
                }
            }
        }
        XCTAssertGreaterThan(fz.errors, fz.runs / 2)
        for (k, t) in targets.enumerated() {
            try fz.run(t.path, count: 3, prepare: t.prepare) { i in
                let args = ["--config", config, "--checkpoint", checkpoint, "--shards", shards, "--list", unlabeledList,
                            "--out", "\(work)/p-pseudo-\(k)-\(i)", "--quiet", "--png"]
                checkOutcome(try runProgram("dcot-pseudo", args, timeout: 120), naming: t.names, "dcot-pseudo \(t.path) \(i)")
            }
        }
    }
}
