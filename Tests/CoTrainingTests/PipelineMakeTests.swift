import Foundation
import XCTest
import Support

/// The short CI variant of pipelines/voc.mk: every stage through make on tiny sizes; a second make
/// is a no-op; touching a config reruns only the runs that use it.
final class PipelineMakeTests: XCTestCase {
    func make(_ args: [String], cwd: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["make", "--no-print-directory", "-f", "pipelines/voc.mk"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The repository root and a private copy of the demo configs (the tests touch them).
    func rootAndConfigs(_ name: String) throws -> (root: String, configs: String) {
        let f = TrainerFixture.shared
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let cfg = "\(f.dir)/\(name)"
        try makeDirectory(cfg)
        for c in ["cnn-rgb", "cnn-dct", "mit"] {
            try FileManager.default.copyItem(atPath: "\(f.configs)/\(c).yaml", toPath: "\(cfg)/\(c).yaml")
        }
        return (root, cfg)
    }

    func testEveryStageThroughMake() throws {
        let f = TrainerFixture.shared
        let (root, cfg) = try rootAndConfigs("mkconfigs")
        let vars = ["DATASET=generic", "VOC_ROOT=\(f.dir)/data", "TRAIN_LIST=\(f.dir)/data/train.txt",
                    "VAL_LIST=\(f.dir)/data/val.txt", "BASE_LIST=", "CROP=32", "GPUS=1", "BATCH=4", "ITERS=3", "CACHE=\(f.dir)/mk",
                    "SPLIT=8", "THREADS=2", "DEMO_CONFIGS=\(cfg)", "BIN=\(root)/.build/release"]
        for models in ["sup-cnn", "cnn+cnn-dct"] {
            let (code, log) = try make(["eval", "pseudo", "MODELS=\(models)"] + vars, cwd: root)
            XCTAssertEqual(code, 0, log)
            let run = "\(f.dir)/mk/runs/\(models)-8-crop32-s0"
            for file in ["done.json", "eval.done", "eval-m1.json", "pseudo/manifest.json", "latest.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/\(file)"), "\(models): \(file)\n\(log)")
            }
            // Up to date: make -q answers 0 and a second make runs nothing.
            XCTAssertEqual(try make(["-q", "eval", "pseudo", "MODELS=\(models)"] + vars, cwd: root).0, 0)
        }
        // Touch the DCT config: the co-training run is stale, the supervised one is not.
        Thread.sleep(forTimeInterval: 0.05)
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: "\(cfg)/cnn-dct.yaml")
        XCTAssertNotEqual(try make(["-q", "eval", "MODELS=cnn+cnn-dct"] + vars, cwd: root).0, 0)
        XCTAssertEqual(try make(["-q", "eval", "MODELS=sup-cnn"] + vars, cwd: root).0, 0)
        let (code, log) = try make(["eval", "MODELS=cnn+cnn-dct"] + vars, cwd: root)
        XCTAssertEqual(code, 0, log)
        XCTAssertTrue(log.contains("dcot-train"), log)
        XCTAssertEqual(try make(["-q", "eval", "MODELS=cnn+cnn-dct"] + vars, cwd: root).0, 0)
    }

    /// The demo target at tiny sizes: synthetic data, pretraining on disjoint classes, SupOnly and
    /// 2-cps runs from the pretrained backbones through the run targets, SupOnly with every label,
    /// and the report with its table, curves and overlays; a second make is a no-op; demo-check runs
    /// the same recipe on another dataset with the same pretrained backbones.
    func testDemoThroughMake() throws {
        let f = TrainerFixture.shared
        let (root, cfg) = try rootAndConfigs("democonfigs")
        let demo = "\(f.dir)/demo"
        let vars = ["DEMO=\(demo)", "DEMO_SETUP=true", "DEMO_CONFIGS=\(cfg)", "BIN=\(root)/.build/release", "THREADS=2",
                    "DEMO_TRAIN=24", "DEMO_VAL=4", "DEMO_SIZE=48", "DEMO_CROP=32", "DEMO_PRE_CROP=48", "DEMO_PRE_TRAIN=8", "DEMO_PRE_ITERS=2",
                    "DEMO_PRE_EVAL_EVERY=2", "DEMO_PRE_CROP_cnn-dct=40", "DEMO_PRE_ITERS_cnn-dct=2", "DEMO_ITERS=2", "DEMO_EVAL_EVERY=2", "DEMO_LABELS=16",
                    "DEMO_METHODS=sup-cnn cnn+cnn-dct"]
        let (code, log) = try make(["demo"] + vars, cwd: root)
        XCTAssertEqual(code, 0, log)
        for m in ["cnn", "cnn-dct"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(demo)/pretrain/\(m).safetensors"), log)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(demo)/pretrain/mit.safetensors"), "only the methods' models pretrain")
        let co = "\(demo)/runs/cnn+cnn-dct-16-crop32-s0"
        let header = try String(contentsOfFile: "\(co)/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(header.contains("\"eval\""), header)
        let report = try String(contentsOfFile: "\(demo)/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("| SupOnly (sup-cnn)"), report)
        XCTAssertTrue(report.contains("| 2-cps (cnn+cnn-dct)"), report)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(demo)/runs/sup-cnn-24-crop32-s0/eval.done"), "SupOnly with every label")
        XCTAssertTrue(log.contains("--classes 3 ") && log.contains("--classes 5 ") && log.contains("--class-offset 2 "), log)
        XCTAssertTrue(log.contains("--out \(demo)/pretrain/run-cnn --crop 48 --iterations 2 "), "shared pretraining crop (DEMO_PRE_CROP, not the runs' DEMO_CROP)\n\(log)")
        XCTAssertTrue(log.contains("--out \(demo)/pretrain/run-cnn-dct --crop 40 --iterations 2 "), "per-model pretraining crop\n\(log)")
        XCTAssertTrue(report.contains(".svg)"), report)
        XCTAssertTrue(report.contains("overlays-m1/"), report)
        XCTAssertTrue(log.contains("threshold 0.95"), "the demo co-trains with the confidence threshold\n\(log)")
        // The co-training runs keep EMA teachers (DEMO_CPS_FLAGS), which make evaluates as m3, m4; SupOnly does not.
        let coLine = log.split(separator: "\n").first { $0.contains("dcot-train") && $0.contains("--out \(co) ") } ?? ""
        XCTAssertTrue(coLine.contains("--ema-teachers --ema-decay 0.99"), String(coLine))
        let supLine = log.split(separator: "\n").first { $0.contains("dcot-train") && $0.contains("runs/sup-cnn-16-crop32-s0 ") } ?? ""
        XCTAssertFalse(supLine.isEmpty || supLine.contains("--ema-teachers"), String(supLine))
        for k in 1...4 { XCTAssertTrue(FileManager.default.fileExists(atPath: "\(co)/eval-m\(k).json"), "eval-m\(k).json") }
        XCTAssertEqual(try make(["-q", "demo"] + vars, cwd: root).0, 1, "demo is phony: -q answers 1")
        let again = try make(["demo"] + vars, cwd: root)
        XCTAssertEqual(again.0, 0, again.1)
        XCTAssertFalse(again.1.contains("release/dcot-train "), "a second make retrains nothing\n\(again.1)")
        // SEEDS adds runs and the report follows the list of runs both ways.
        let two = try make(["demo", "SEEDS=0 1"] + vars, cwd: root)
        XCTAssertEqual(two.0, 0, two.1)
        XCTAssertTrue(try String(contentsOfFile: "\(demo)/report.md", encoding: .utf8).contains("(2 per cell)"), two.1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(demo)/runs/sup-cnn-16-crop32-s1/eval.done"))
        let one = try make(["demo", "SEEDS=0"] + vars, cwd: root)
        XCTAssertEqual(one.0, 0, one.1)
        XCTAssertFalse(one.1.contains("release/dcot-train "), one.1)
        XCTAssertTrue(try String(contentsOfFile: "\(demo)/report.md", encoding: .utf8).contains("(1 per cell)"), one.1)
        // demo-check: another class offset, count and data seed; the demo's pretrained backbones.
        let check = try make(["demo-check", "DEMO_CHECKS=other", "DEMO_CHECK_other=DEMO_CLASSES=4 DEMO_OFFSET=12 DEMO_DATA_SEED=3"] + vars,
                             cwd: root)
        XCTAssertEqual(check.0, 0, check.1)
        XCTAssertFalse(check.1.contains("--out \(demo)/pretrain/run-"), "demo-check reuses the demo's pretraining\n\(check.1)")
        XCTAssertTrue(check.1.contains("--classes 4 ") && check.1.contains("--class-offset 12 "), check.1)
        let summary = try String(contentsOfFile: "\(demo)-check/summary.md", encoding: .utf8)
        XCTAssertTrue(summary.contains("## other") && summary.contains("| 2-cps (cnn+cnn-dct)"), summary)
        XCTAssertTrue(try String(contentsOfFile: "\(demo)-check/other/configs/cnn-rgb.yaml", encoding: .utf8).contains("nclass: 4"))
        // Changing one model's pretraining settings retrains that backbone (and the runs that start from it) only.
        let longer = try make(["demo"] + vars + ["DEMO_PRE_ITERS_cnn-dct=3"], cwd: root)
        XCTAssertEqual(longer.0, 0, longer.1)
        XCTAssertTrue(longer.1.contains("--out \(demo)/pretrain/run-cnn-dct --crop 40 --iterations 3 "), longer.1)
        XCTAssertFalse(longer.1.contains("--out \(demo)/pretrain/run-cnn "), longer.1)
        XCTAssertTrue(longer.1.contains("--out \(demo)/runs/cnn+cnn-dct-16-crop32-s0 "), longer.1)
        XCTAssertFalse(longer.1.contains("--out \(demo)/runs/sup-cnn-16-crop32-s0 "), longer.1)
        // Other co-training flags rerun the co-training runs only (recorded in $(DEMO)/cps.args).
        let plain = try make(["demo"] + vars + ["DEMO_PRE_ITERS_cnn-dct=3", "DEMO_CPS_FLAGS="], cwd: root)
        XCTAssertEqual(plain.0, 0, plain.1)
        XCTAssertTrue(plain.1.contains("--out \(demo)/runs/cnn+cnn-dct-16-crop32-s0 "), plain.1)
        XCTAssertFalse(plain.1.contains("--out \(demo)/runs/sup-cnn-16-crop32-s0 "), plain.1)
        XCTAssertFalse(plain.1.contains("--ema-teachers"), plain.1)
        for f in ["eval-m3.json", "best-m3.safetensors", "latest-m4.safetensors"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(co)/\(f)"), "starting over removes the teachers' \(f)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(co)/eval-m2.json"))
        // DEMO_PRE_SEED draws other stand-ins: both backbones retrain with the seed, and every run after them.
        let reseeded = try make(["demo"] + vars + ["DEMO_PRE_ITERS_cnn-dct=3", "DEMO_CPS_FLAGS=", "DEMO_PRE_SEED=5"], cwd: root)
        XCTAssertEqual(reseeded.0, 0, reseeded.1)
        XCTAssertTrue(reseeded.1.contains("--out \(demo)/pretrain/run-cnn --crop 48 --iterations 2 --seed 5 "), reseeded.1)
        XCTAssertTrue(reseeded.1.contains("--out \(demo)/pretrain/run-cnn-dct --crop 40 --iterations 3 --seed 5 "), reseeded.1)
        XCTAssertTrue(reseeded.1.contains("--out \(demo)/runs/sup-cnn-16-crop32-s0 "), reseeded.1)
        XCTAssertEqual(try String(contentsOfFile: "\(demo)/pretrain/cnn.args", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                       "--crop 48 --iterations 2 --seed 5")
    }
}

extension PipelineMakeTests {
    /// The batch make passes to dcot-train: SupOnly doubles the per-GPU batch (the reference README),
    /// co-training keeps it, SUP_BATCH_SCALE=1 turns the doubling off.
    func testSupervisedBaselineRunsAtDoubleBatch() throws {
        let f = TrainerFixture.shared
        let (root, cfg) = try rootAndConfigs("batchconfigs")
        let vars = ["DATASET=generic", "VOC_ROOT=\(f.dir)/data", "TRAIN_LIST=\(f.dir)/data/train.txt",
                    "VAL_LIST=\(f.dir)/data/val.txt", "BASE_LIST=", "CACHE=\(f.dir)/mkbatch", "SPLIT=8",
                    "DEMO_CONFIGS=\(cfg)", "BIN=\(root)/.build/release", "-B"]
        func batch(_ extra: [String]) throws -> String? {
            let (_, printed) = try make(["-n", "run"] + vars + extra, cwd: root)
            let log = printed.replacingOccurrences(of: "\\\n", with: " ")
            guard let line = log.split(separator: "\n").first(where: { $0.contains("release/dcot-train ") }) else { return nil }
            guard let r = line.range(of: "--batch-size ") else { return "none" }
            return String(line[r.upperBound...].prefix { $0.isNumber })
        }
        XCTAssertEqual(try batch(["MODELS=sup-cnn"]), "16") // demo config batch_size 8
        XCTAssertEqual(try batch(["MODELS=sup-cnn", "BATCH=2"]), "4")
        XCTAssertEqual(try batch(["MODELS=sup-cnn", "SUP_BATCH_SCALE=1"]), "8")
        XCTAssertEqual(try batch(["MODELS=cnn+cnn-dct"]), "none")
        XCTAssertEqual(try batch(["MODELS=cnn+cnn-dct", "BATCH=2"]), "2")
    }
}

extension PipelineMakeTests {
    static let methods = ["sup-cnn", "cnn+cnn", "cnn+cnn+cnn", "mt-cnn", "cutmix-cnn", "stpp-cnn", "cnn+cnn-dct", "cnn+cnn-dct+mit"]

    /// `make compare` runs every method of the paper's table at tiny sizes and writes one report whose
    /// rows carry the paper's names; each method's run, stopped half way (STOP_AFTER) and resumed by
    /// the next make, ends byte-identical to the straight run.
    func testEveryMethodThroughMakeAndResume() throws {
        let f = TrainerFixture.shared
        let (root, cfg) = try rootAndConfigs("methodconfigs")
        func vars(_ cache: String) -> [String] {
            ["DATASET=generic", "VOC_ROOT=\(f.dir)/data", "TRAIN_LIST=\(f.dir)/data/train.txt", "VAL_LIST=\(f.dir)/data/val.txt",
             "BASE_LIST=", "CROP=32", "GPUS=1", "BATCH=2", "ITERS=4", "EVAL_EVERY=2", "CACHE=\(f.dir)/\(cache)", "SPLIT=8",
             "THREADS=2", "TEACHER_THR=0.5", "DEMO_CONFIGS=\(cfg)", "BIN=\(root)/.build/release"]
        }
        let (code, log) = try make(["compare", "COMPARE_METHODS=\(Self.methods.joined(separator: " "))", "SEEDS=0"] + vars("mkmethods"),
                                   cwd: root)
        XCTAssertEqual(code, 0, log)
        let report = try String(contentsOfFile: "\(f.dir)/mkmethods/compare-8.md", encoding: .utf8)
        let rows = report.split(separator: "\n").filter { $0.hasPrefix("| ") }.map { String($0.split(separator: "|")[0]) }
        for name in ["SupOnly", "CPS", "3-CPS", "MT", "CutMix-Seg", "ST++", "2-cps", "3-cps"] {
            XCTAssertTrue(rows.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix(name + " (") }, "\(name) row\n\(report)")
        }
        let runs = "\(f.dir)/mkmethods/runs"
        // The EMA teacher is evaluated as m2; ST++ left its stages, its selection and two pseudo-label sets.
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(runs)/mt-cnn-8-crop32-s0/eval-m2.json"))
        XCTAssertTrue(log.contains("--mode cutmix"), log)
        let st = "\(runs)/stpp-cnn-8-crop32-s0-stages"
        for file in ["teacher/snapshot-m1-it2.safetensors", "teacher/snapshot-m1-it4.safetensors", "select/reliability.tsv",
                     "select/reliable.txt", "relabel/manifest.json", "round1/done.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(st)/\(file)"), "\(file)\n\(log)")
        }
        let unlabeled = try String(contentsOfFile: "\(f.dir)/mkmethods/splits/8-s0/unlabeled.txt", encoding: .utf8).split(separator: "\n").count
        let reliable = try String(contentsOfFile: "\(st)/select/reliable.txt", encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(reliable, unlabeled / 2, "ST++ keeps the more stable half")
        XCTAssertEqual(try make(["-q", "compare", "COMPARE_METHODS=\(Self.methods.joined(separator: " "))"] + vars("mkmethods"),
                                cwd: root).0, 1, "compare is phony")

        for m in Self.methods {
            let stop = try make(["run", "MODELS=\(m)", "STOP_AFTER=2"] + vars("mkresume"), cwd: root)
            XCTAssertEqual(stop.0, 0, stop.1)
            XCTAssertTrue(stop.1.contains("stopped after iteration 2"), "\(m)\n\(stop.1)")
            let rest = try make(["run", "MODELS=\(m)"] + vars("mkresume"), cwd: root)
            XCTAssertEqual(rest.0, 0, rest.1)
            let name = "\(m)-8-crop32-s0"
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(runs)/\(name)").filter { $0.hasPrefix("latest-m") }
            XCTAssertFalse(files.isEmpty)
            for file in files {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(runs)/\(name)/\(file)")),
                               try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/mkresume/runs/\(name)/\(file)")), "\(m): \(file)")
            }
        }
    }
}
