// dcot-train's bad inputs (DESIGN.md section 6, issue 15): lists that cannot fill a batch, ids in two
// lists, out-of-range flags, foreign pseudo-labels, damaged resume state, and a second trainer on one
// run directory. Each is one error naming the list, line, id, flag or file, before anything is written.
import Foundation
import XCTest
import CoTraining
import Shards
import Support
import Tensor

final class TrainInputTests: XCTestCase {
    let f = TrainerFixture.shared

    /// Trainer.run's error as text (which must be a one-line UserError), or a failure if it ran.
    func trainError(_ o: TrainOptions, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try Trainer.run(o)
            XCTFail("trained without an error", file: file, line: line)
            return ""
        } catch {
            let text = "\(error)"
            XCTAssertTrue(error is UserError, "not a user error: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
            return text
        }
    }

    func list(_ name: String, _ lines: [String]) throws -> String {
        let path = "\(f.dir)/lists-\(name).txt"
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
        return path
    }

    func ids(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func testAListThatCannotFillOneGlobalBatchIsAnErrorNotACrash() throws {
        // The issue's case: 6 labeled ids, batch 8, supervised (the loader indexed an empty batch list).
        var o = f.options(["cnn-rgb"], out: "small-sup", iterations: 2)
        o.unlabeled = nil
        o.labeled = try list("six", Array(try ids("\(f.dir)/split/labeled.txt").prefix(6)))
        o.batchSize = 8
        XCTAssertEqual(trainError(o), "\(o.labeled): its 6 ids cannot fill one global batch of 1 x 8 = 8 (emulated GPUs x batch size; at least 8 ids); lower --batch-size or --gpus, or add labels")
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.out), "nothing is written")
        // W x B: 16 unlabeled ids cannot fill 4 GPUs x 5 (DistributedSampler pads each GPU's share, so 16 of 17 are missing one).
        var c = f.options(["cnn-rgb", "cnn-dct"], out: "small-cps", iterations: 2)
        c.gpus = 4
        c.batchSize = 5
        XCTAssertTrue(trainError(c).hasPrefix("\(f.dir)/split/unlabeled.txt: its 16 ids cannot fill one global batch of 4 x 5 = 20"))
        // Co-training repeats the labeled list to the unlabeled list's length: one labeled id is enough.
        var one = f.options(["cnn-rgb", "cnn-dct"], out: "one-label", iterations: 1)
        one.labeled = try list("one", Array(try ids("\(f.dir)/split/labeled.txt").prefix(1)))
        one.val = nil
        XCTAssertTrue(try Trainer.run(one).contains("finished 1 iterations"))
        var none = one
        none.labeled = try list("none", [])
        XCTAssertEqual(trainError(none), "\(none.labeled): has no ids; add labeled ids, one per line")
        var noUnlabeled = one
        noUnlabeled.unlabeled = nil
        XCTAssertTrue(trainError(noUnlabeled).hasPrefix("--unlabeled: co-training needs an unlabeled list"))
    }

    func testOverlappingDuplicateAndValidationIdsNameTheIdAndBothFiles() throws {
        let labeled = try ids("\(f.dir)/split/labeled.txt"), unlabeled = try ids("\(f.dir)/split/unlabeled.txt")
        var o = f.options(["cnn-rgb", "cnn-dct"], out: "overlap", iterations: 1)
        o.unlabeled = try list("overlap", Array(unlabeled.prefix(3)) + [labeled[4]] + Array(unlabeled.dropFirst(3)))
        let id = IdListID(labeled[4])
        XCTAssertEqual(trainError(o), "\(o.unlabeled!):4: id '\(id)' is also in \(o.labeled) (line 5); labeled and unlabeled lists must not overlap: remove it from one of them")
        o.unlabeled = try list("dup", unlabeled + [unlabeled[2]])
        XCTAssertTrue(trainError(o).hasPrefix("\(o.unlabeled!):17: duplicate id '\(IdListID(unlabeled[2]))' (first on line 3)"))
        o.unlabeled = "\(f.dir)/split/unlabeled.txt"
        o.val = try list("leak", ["val_00000", unlabeled[7]])
        XCTAssertEqual(trainError(o), "\(o.val!):2: validation id '\(IdListID(unlabeled[7]))' is also in \(o.unlabeled!) (line 8); evaluate on ids that are not trained on: remove it from one of the lists")
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.out))
    }

    func testIdsNotInTheShardsOrWithoutMasksNameTheListLine() throws {
        var o = f.options(["cnn-rgb"], out: "missing", iterations: 1)
        o.unlabeled = nil
        o.val = try list("val-missing", ["val_00000", "nope_1"])
        XCTAssertTrue(trainError(o).hasPrefix("\(o.val!):2: id 'nope_1' is not in these shards (\(f.dir)/shards)"))
        o.val = nil
        // A labeled id whose sample has no mask in the shards (an image-only line when they were prepped).
        let shards = "\(f.dir)/shards-no-mask"
        try? FileManager.default.removeItem(atPath: shards)
        try FileManager.default.copyItem(atPath: "\(f.dir)/shards", toPath: shards)
        var m = try Manifest.load(directory: shards)
        let id = IdListID(try ids("\(f.dir)/split/labeled.txt")[2])
        m.samples[id]!.has_label = false
        try m.write(to: shards)
        o.shards = shards
        XCTAssertTrue(trainError(o).hasPrefix("\(o.labeled):3: labeled id '\(id)' has no mask in the shards (\(shards))"))
    }

    /// The options ranks compare at start: per-rank ones left out, pretrained files in model order
    /// (a Dictionary prints in an order that differs between processes, which made two ranks with
    /// the same --pretrained flags disagree at random).
    /// A DCOT_GEMM value that is neither `native` nor `openblas` is named on stderr, and the program
    /// goes on with the machine's default GEMM.
    func testUnknownGemmChoiceIsNamed() throws {
        let run = try runProgram("dcot-bench", ["ops", "--filter", "no-such-op", "--runs", "1", "--threads", "1"], timeout: 120,
                                 environment: ["DCOT_GEMM": "fastest"])
        XCTAssertTrue(run.exited && run.status == 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("DCOT_GEMM: 'fastest' is neither native nor openblas"), run.stderr)
    }

    /// DCOT_WINOGRAD4_TRAINING: `1`, `0` and `large` choose both rules, neither, the 128-channel one;
    /// another value is named on stderr (here, from a program's start) and the default holds.
    func testWinograd4TrainingChoiceIsNamed() throws {
        for (value, on, small) in [(nil, true, true), ("1", true, true), ("0", false, false), ("large", true, false), ("off", true, true)] {
            let s = Conv.winograd4TrainingSetting(value)
            XCTAssertTrue(s.on == on && s.small == small && (s.warning != nil) == (value == "off"), "\(value ?? "unset"): \(s)")
        }
        let args = ["model", "--config", "\(packageRoot)/pipelines/configs/demo/cnn-rgb.yaml", "--batch", "2", "--crop", "32",
                    "--runs", "1", "--threads", "1", "--only", "inference", "--host-probe-ms", "0", "--json"]
        for (value, warned) in [("large", false), ("off", true)] {
            let run = try runProgram("dcot-bench", args, timeout: 120, environment: ["DCOT_WINOGRAD4_TRAINING": value])
            XCTAssertTrue(run.exited && run.status == 0, run.stderr)
            XCTAssertEqual(run.stderr.contains("DCOT_WINOGRAD4_TRAINING: '\(value)' is none of 0, 1, large"), warned, run.stderr)
        }
    }

    /// `dcot-bench host` probes the host; a bad flag is named, and one allowed CPU is a clear error.
    func testHostProbeProgram() throws {
        let ok = try runProgram("dcot-bench", ["host", "--ms", "10"], timeout: 60)
        XCTAssertTrue(ok.exited && (ok.status == 0 || ok.stderr.contains("this process may run on one CPU only")), ok.stderr)
        let bad = try runProgram("dcot-bench", ["host", "--ms", "0"], timeout: 60)
        XCTAssertTrue(bad.exited && bad.status != 0)
        XCTAssertTrue(bad.stderr.contains("--ms 0.0: must be in (0, 60000]"), bad.stderr)
        let model = try runProgram("dcot-bench", ["model", "--config", "\(packageRoot)/pipelines/configs/demo/mit.yaml",
                                                  "--batch", "2", "--crop", "32", "--runs", "1", "--host-probe-ms=-1"], timeout: 120)
        XCTAssertTrue(model.exited && model.status != 0)
        XCTAssertTrue(model.stderr.contains("--host-probe-ms -1.0: must not be negative"), model.stderr)
    }

    func testOptionsRanksCompareAreCanonical() {
        var a = TrainOptions(), b = TrainOptions()
        a.pretrained = [1: "rgb.safetensors", 2: "dct.safetensors", 3: "mit.safetensors"]
        for k in [3, 1, 2] { b.pretrained[k] = a.pretrained[k] }
        (a.threads, b.threads, b.logEvery, b.quiet) = (1, 2, 50, true)
        XCTAssertEqual(a.sharedByRanks, b.sharedByRanks)
        XCTAssertTrue(a.sharedByRanks.hasSuffix("pretrained: m1=rgb.safetensors,m2=dct.safetensors,m3=mit.safetensors"), a.sharedByRanks)
        b.seed = 7
        XCTAssertNotEqual(a.sharedByRanks, b.sharedByRanks)
    }

    func testFlagsOutOfRangeAreErrorsNamingTheFlag() throws {
        let base = f.options(["cnn-rgb"], out: "flags", iterations: 1)
        let cases: [(String, (inout TrainOptions) -> Void)] = [
            ("--iterations 0: must be in 1...1000000000", { $0.iterations = 0 }),
            ("--epochs -2: must be in 1...1000000", { $0.iterations = nil; $0.epochs = -2 }),
            ("--eval-every 0: must be at least 1", { $0.evalEvery = 0 }),
            ("--save-every 0: must be at least 1", { $0.saveEvery = 0 }),
            ("--val-limit -1: must be at least 0", { $0.valLimit = -1 }),
            ("--threads 0: must be in 1...1024", { $0.threads = 0 }),
            ("--crop 4: must be in 8...4096", { $0.crop = 4 }),
            ("--threshold nan: must be in 0.0...1.0", { $0.threshold = .nan }),
            ("--batch-size 5000: must be in 1...1024", { $0.batchSize = 5000 }),
        ]
        for (message, change) in cases {
            var o = base
            o.unlabeled = nil
            change(&o)
            XCTAssertTrue(trainError(o).hasPrefix(message), message)
        }
        // Run-level config keys: a whole number in range, else the key is named.
        let config = try String(contentsOfFile: "\(f.configs)/cnn-rgb.yaml", encoding: .utf8)
        for (from, to, message) in [("batch_size: 8", "batch_size: 1e300", "batch_size: '1e300' is not a whole number in 1...1024"),
                                    ("epochs: 20", "epochs: .nan", "epochs: '.nan' is not a whole number"),
                                    ("dataset: synth", "dataset: synth\ngpus: two", "gpus: 'two' is not a whole number"),
                                    ("lr: 0.002", "lr: -0.1", "lr: must not be negative")] {
            try AtomicFile.write(config.replacingOccurrences(of: from, with: to), to: "\(f.dir)/flags.yaml")
            var o = base
            o.unlabeled = nil
            o.batchSize = nil
            o.configs = ["\(f.dir)/flags.yaml"]
            XCTAssertTrue(trainError(o).hasPrefix("\(f.dir)/flags.yaml: \(message)"), message)
        }
    }

    /// --pseudo from another dataset or other shards: its class count and its samples' sizes must match.
    func testForeignPseudoLabelsAreRefused() throws {
        let dir = "\(f.dir)/pseudo-foreign"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: "\(f.dir)/shards", toPath: dir)
        var m = try Manifest.load(directory: dir)
        m.pseudo = .init(checkpoints: [], configs: [], protocol: "test", threshold: 0, classHistogram: [])
        let id = IdListID(try ids("\(f.dir)/split/labeled.txt")[0])
        m.samples[id]!.width += 1
        try m.write(to: dir)
        var o = f.options(["cnn-rgb"], out: "pseudo-foreign", iterations: 1)
        o.unlabeled = nil
        o.pseudo = [dir]
        XCTAssertTrue(trainError(o).hasPrefix("\(dir)/manifest.json: sample '\(id)' is \(m.samples[id]!.width)x"), "size")
        m.classes = ClassList(names: ["a", "b"], palette: [[0, 0, 0], [1, 1, 1]])
        try m.write(to: dir)
        XCTAssertEqual(trainError(o), "\(dir)/manifest.json: has 2 classes but the configs have nclass 3; make the pseudo-labels with a model of this dataset")
    }

    /// A damaged optimiser state that still matches latest.json's checksum (written by hand or by
    /// another tool) is refused before any of it reaches the update loops.
    func testResumeStateIsCheckedAgainstTheModel() throws {
        var o = f.options(["cnn-rgb"], out: "state", iterations: 3)
        o.unlabeled = nil
        o.stopAfter = 1
        _ = try Trainer.run(o)
        o.stopAfter = nil
        let run = "\(f.dir)/state", file = "\(run)/latest-m1.state.safetensors"
        let original = [UInt8](FileManager.default.contents(atPath: file)!)
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/latest.json"))) as! [String: Any]
        /// Writes an edited state file and commits its checksum in latest.json, as a consistent writer would.
        func commit(_ bytes: [UInt8], iteration: Int = 0) throws {
            try AtomicFile.write(bytes, to: file)
            var files = state["files"] as! [String: String]
            files["latest-m1.state.safetensors"] = try SHA256.hex(ofFile: file)
            state["files"] = files
            state["iteration"] = iteration
            try AtomicFile.write(Array(try JSONSerialization.data(withJSONObject: state)), to: "\(run)/latest.json")
        }
        // A moment whose shape is its parameter's, permuted (same byte count, so the file itself is valid).
        var name = ""
        try commit(try editSafeTensors(original) { header, _ in
            name = header.keys.sorted().first { key in
                let shape = (header[key] as? [String: Any])?["shape"] as? [Int] ?? []
                return key.hasPrefix("exp_avg.") && shape.reversed() != shape
            }!
            var entry = header[name] as! [String: Any]
            entry["shape"] = Array((entry["shape"] as! [Int]).reversed())
            header[name] = entry
        })
        XCTAssertTrue(trainError(o).hasPrefix("\(file): state '\(name)' is "), name)
        try commit(try editSafeTensors(original) { header, data in
            let begin = ((header["step"] as! [String: Any])["data_offsets"] as! [Int])[0]
            withUnsafeBytes(of: Float(-3).bitPattern.littleEndian) { data.replaceSubrange(begin..<(begin + 4), with: $0) }
        })
        XCTAssertTrue(trainError(o).hasPrefix("\(file): step [-3.0] is not a step count"))
        try commit(original, iteration: -7)
        XCTAssertTrue(trainError(o).hasPrefix("\(run)/latest.json: iteration -7"))
        try commit(original)
        XCTAssertTrue(try Trainer.run(o).contains("finished 3 iterations"))
    }

    /// Two trainers on one run directory: the second refuses at start, naming the first (pid, host),
    /// through a flock that dies with its holder; the lock file is not one of the run's files.
    func testASecondTrainerOnOneRunDirectoryRefusesUntilTheFirstDies() throws {
        let out = "\(f.dir)/locked"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "\(packageRoot)/.build/release/dcot-train")
        holder.arguments = ["--config", "\(f.configs)/cnn-rgb.yaml", "--shards", "\(f.dir)/shards", "--labeled", "\(f.dir)/split/labeled.txt",
                            "--out", out, "--iterations", "100000", "--save-every", "100000", "--crop", "32", "--batch-size", "2",
                            "--threads", "1", "--quiet"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let host = ProcessInfo.processInfo.hostName
        let expected = "pid \(holder.processIdentifier) on \(host)"
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOfFile: "\(out)/train.lock", encoding: .utf8))?.hasPrefix(expected) != true && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        var o = f.options(["cnn-rgb"], out: "locked", iterations: 100000)
        o.unlabeled = nil
        o.saveEvery = 100000
        o.val = nil
        XCTAssertEqual(trainError(o), "\(out)/train.lock: \(out) is in use by another dcot-train (\(expected)); wait for it to finish or stop it, or use another --out")
        // The program says the same in one line on stderr, and exits 1.
        let second = try runProgram("dcot-train", holder.arguments!, timeout: 60)
        XCTAssertEqual(second.status, 1)
        XCTAssertEqual(second.stderr, "error: \(out)/train.lock: \(out) is in use by another dcot-train (\(expected)); wait for it to finish or stop it, or use another --out\n")
        // kill -9: the kernel releases the flock and the next trainer takes the directory over.
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        o.stopAfter = 1
        XCTAssertTrue(try Trainer.run(o).contains("stopped after iteration 1"))
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/latest.json"))) as! [String: Any]
        XCTAssertEqual((state["files"] as! [String: String]).keys.sorted(), ["latest-m1.safetensors", "latest-m1.state.safetensors"])
    }
}

/// The id of a list line ("JPEGImages/x.jpg SegmentationClass/x.png" or a bare id).
func IdListID(_ line: String) -> String {
    let image = String(line.split(separator: " ")[0])
    return ((image as NSString).lastPathComponent as NSString).deletingPathExtension
}

/// A safetensors file with its JSON header and data section edited (no SafeTensors module needed).
func editSafeTensors(_ bytes: [UInt8], _ edit: (inout [String: Any], inout [UInt8]) -> Void) throws -> [UInt8] {
    let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
    var header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
    var data = Array(bytes[(8 + n)...])
    edit(&header, &data)
    var json = Array(try JSONSerialization.data(withJSONObject: header))
    while json.count % 8 != 0 { json.append(0x20) }
    return (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) } + json + data
}
