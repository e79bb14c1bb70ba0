// The run directory (DESIGN.md section 4): latest-m<k>.safetensors (weights, reference names),
// latest-m<k>.state.safetensors (optimiser state), then latest.json as the commit marker (written
// last, atomically, with every file's sha256); best-m<k>.{safetensors,json}; config.yaml;
// metrics.jsonl; done.json. Saving is a roll-forward journal: new files are written completely as
// `<name>.next`, then latest.json (the commit) names their checksums, then they are renamed into
// place. A kill before the commit leaves the previous state intact; a kill after it is completed by
// the next load, which finishes the renames. So latest.json always describes loadable files.
import Checkpoint
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Models
import NN
import Optim
import SafeTensors
import Support
import Tensor

public struct RunState: Codable, Sendable {
    public struct Best: Codable, Sendable { public var miou: Double; public var iteration: Int }
    public var format = "dcot-run-state"
    public var version = 1
    public var iteration: Int
    public var epoch: Int
    public var seed: UInt64
    /// Counter-based randomness has no state beyond (seed, iteration); kept for the format.
    public var rng: String = "counter"
    public var config_sha256: String
    public var split_sha256: String
    public var files: [String: String]
    public var best: [String: Best]
}

struct RunDirectory {
    let path: String

    var statePath: String { "\(path)/latest.json" }

    func exists() -> Bool { FileManager.default.fileExists(atPath: statePath) }

    /// The lock file of a running dcot-train (not a run file: latest.json does not list it).
    static let lockName = "train.lock"

    /// Creates the directory and locks it for this process (released on `release()` or exit, however
    /// the process ends); a second trainer on the same directory fails here, naming the first.
    func lock() throws -> DirectoryLock {
        try DirectoryLock(directory: path, name: RunDirectory.lockName, program: "dcot-train", flag: "--out")
    }

    func loadState() throws -> RunState {
        let bytes = try readFileBytes(statePath, what: "run state")
        let s: RunState
        do {
            s = try JSONDecoder().decode(RunState.self, from: Data(bytes))
        } catch {
            throw UserError(statePath, "is not a dcot-train run state (\(oneLine(error)))", fix: "start over with --fresh")
        }
        guard s.format == "dcot-run-state", s.version == 1 else {
            throw UserError(statePath, "is not a dcot-train run state (format \(s.format) version \(s.version))", fix: "start over with --fresh")
        }
        guard (0...InputChecks.maxIterations).contains(s.iteration), s.epoch >= 0 else {
            throw UserError(statePath, "iteration \(s.iteration), epoch \(s.epoch) are impossible", fix: "start over with --fresh")
        }
        return s
    }

    /// Starting over: removes what the previous run left (state, checkpoints, best models, snapshots,
    /// metrics, and the evaluations make wrote beside them), so that nothing of it, e.g. the EMA
    /// teachers' files of a run that had them, is read as this run's. The lock file stays.
    func removeResults() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let prefixes = ["latest", "best-m", "snapshot-m", "eval-m", "overlays-m"]
        for name in names where ["done.json", "metrics.jsonl", "eval.done"].contains(name) || prefixes.contains(where: name.hasPrefix) {
            try? FileManager.default.removeItem(atPath: "\(path)/\(name)")
        }
    }

    /// The files a state of `models` models and `teachers` EMA teachers must name: weights and
    /// optimiser state of each model, weights of each teacher.
    static func expectedFiles(models: Int, teachers: Int = 0) -> Set<String> {
        Set((1...max(1, models)).flatMap { ["latest-m\($0).safetensors", "latest-m\($0).state.safetensors"] })
            .union((0..<teachers).map { "latest-m\(models + 1 + $0).safetensors" })
    }

    /// Saves weights and optimiser state of every model, then the marker, then moves the files in.
    /// EMA teachers (Mean Teacher, CutMix-Seg: one; CPS with --ema-teachers: one per model) are the
    /// model files after the models', weights only.
    func save(models: [Segmentor], optimizers: [any Optimizer], teachers: [Segmentor] = [], iteration: Int, epoch: Int, seed: UInt64,
              configHash: String, splitHash: String, best: [String: RunState.Best]) throws {
        var files = [String: String]()
        for (j, teacher) in teachers.enumerated() {
            let w = "latest-m\(models.count + 1 + j).safetensors"
            try Checkpoint.save(teacher, to: "\(path)/\(w).next", metadata: ["iteration": String(iteration), "role": "ema-teacher"])
            files[w] = try SHA256.hex(ofFile: "\(path)/\(w).next")
        }
        for (k, (m, opt)) in zip(models, optimizers).enumerated() {
            let w = "latest-m\(k + 1).safetensors", st = "latest-m\(k + 1).state.safetensors"
            try Checkpoint.save(m, to: "\(path)/\(w).next", metadata: ["iteration": String(iteration)])
            var writer = SafeTensorsWriter(metadata: ["format": "dcot-optimizer", "iteration": String(iteration)])
            for (name, t) in opt.state() {
                writer.add(name, dtype: .F32, shape: t.shape, bytes: UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
            }
            try AtomicFile.write(writer.serialize(), to: "\(path)/\(st).next")
            files[w] = try SHA256.hex(ofFile: "\(path)/\(w).next")
            files[st] = try SHA256.hex(ofFile: "\(path)/\(st).next")
        }
        let state = RunState(iteration: iteration, epoch: epoch, seed: seed, config_sha256: configHash, split_sha256: splitHash,
                             files: files, best: best)
        try writeJSON(state, to: statePath) // the commit
        try completeMoves(state, verify: false)
    }

    /// Renames every committed `<name>.next` into place (idempotent; the roll-forward after a kill).
    /// With `verify`, a `.next` whose checksum is not the committed one belongs to a save that never
    /// committed and is deleted instead.
    func completeMoves(_ state: RunState, verify: Bool) throws {
        for name in state.files.keys.sorted() {
            let next = "\(path)/\(name).next"
            if FileManager.default.fileExists(atPath: next) {
                if verify, try SHA256.hex(ofFile: next) != state.files[name] {
                    try? FileManager.default.removeItem(atPath: next)
                    continue
                }
                guard rename(next, "\(path)/\(name)") == 0 else {
                    throw UserError(next, "cannot move into place (\(errnoText()))", fix: "check the run directory's permissions")
                }
            }
        }
        AtomicFile.syncDirectory(path)
    }

    /// Restores weights and optimiser state after checking every file against the marker.
    func restore(models: [Segmentor], optimizers: [any Optimizer], teachers: [Segmentor] = [], state: RunState) throws {
        guard Set(state.files.keys) == RunDirectory.expectedFiles(models: models.count, teachers: teachers.count) else {
            throw UserError(statePath, "names \(state.files.keys.sorted()), not the files of \(models.count) model(s)\(teachers.isEmpty ? "" : " and \(teachers.count) EMA teacher(s)")",
                            fix: "start over with --fresh")
        }
        try completeMoves(state, verify: true)
        for (name, sha) in state.files {
            let file = "\(path)/\(name)"
            guard FileManager.default.fileExists(atPath: file) else {
                throw UserError(file, "is missing (latest.json names it)", fix: "restart with --fresh")
            }
            guard try SHA256.hex(ofFile: file) == sha else {
                throw UserError(file, "does not match latest.json (checksum)", fix: "restart with --fresh")
            }
        }
        for (k, (m, opt)) in zip(models, optimizers).enumerated() {
            try Checkpoint.load(into: m, from: "\(path)/latest-m\(k + 1).safetensors")
            let file = "\(path)/latest-m\(k + 1).state.safetensors"
            let named: [String: Tensor]
            do { named = try optimizerState(file, opt) } catch let e as SafeTensorsError {
                throw UserError(file, "is not a readable optimiser state (\(e))", fix: "restart with --fresh")
            }
            if let sgd = opt as? SGD { sgd.loadState(named) } else if let adamw = opt as? AdamW { adamw.loadState(named) }
        }
        for (j, teacher) in teachers.enumerated() {
            try Checkpoint.load(into: teacher, from: "\(path)/latest-m\(models.count + 1 + j).safetensors")
        }
    }

    /// The state tensors of a file, each checked against the optimiser's parameters: the update
    /// loops index a state tensor by its parameter's element count, so a wrong shape must stop here.
    func optimizerState(_ file: String, _ opt: any Optimizer) throws -> [String: Tensor] {
        let st = try SafeTensorsFile(contentsOf: file)
        var shapes = [String: [Int]]()
        for g in opt.groups {
            for (n, p) in g.parameters { for prefix in ["momentum.", "exp_avg.", "exp_avg_sq."] { shapes[prefix + n] = p.shape } }
        }
        var named = [String: Tensor]()
        for e in st.header.entries {
            let values = try st.floats(e.name)
            if e.name == "step" {
                guard values.count == 1, let step = values.first, step >= 0, step <= Float(InputChecks.maxIterations), step == step.rounded() else {
                    throw UserError(file, "step \(values) is not a step count", fix: "restart with --fresh")
                }
            } else {
                guard let shape = shapes[e.name] else {
                    throw UserError(file, "has state '\(e.name)' for no parameter of this model", fix: "restart with --fresh")
                }
                guard e.shape == shape else {
                    throw UserError(file, "state '\(e.name)' is \(e.shape), its parameter is \(shape)", fix: "restart with --fresh")
                }
            }
            if let v = values.first(where: { !$0.isFinite }) {
                throw UserError(file, "state '\(e.name)' holds a non-finite value (\(v))", fix: "restart with --fresh")
            }
            // AdamW divides by the square root of its second moments.
            if e.name.hasPrefix("exp_avg_sq."), let v = values.first(where: { $0 < 0 }) {
                throw UserError(file, "state '\(e.name)' holds a negative second moment (\(v))", fix: "restart with --fresh")
            }
            named[e.name] = Tensor(shape: e.shape, values: values)
        }
        return named
    }

    func saveBest(_ model: Segmentor, k: Int, miou: Double, iteration: Int, protocol p: String) throws {
        try Checkpoint.save(model, to: "\(path)/best-m\(k + 1).safetensors", metadata: ["miou": String(miou), "iteration": String(iteration)])
        try writeJSON(["model": "m\(k + 1)", "miou": String(format: "%.4f", miou), "iteration": String(iteration), "protocol": p],
                      to: "\(path)/best-m\(k + 1).json")
    }

    func appendMetrics(_ line: String) throws {
        let p = "\(path)/metrics.jsonl"
        if !FileManager.default.fileExists(atPath: p) { _ = FileManager.default.createFile(atPath: p, contents: nil) }  // a failure: the guard below
        guard let h = FileHandle(forWritingAtPath: p) else { throw UserError(p, "cannot append", fix: "check permissions") }
        h.seekToEndOfFile()
        h.write(Data((line + "\n").utf8))
        try? h.synchronize()
        h.closeFile()
    }

    func writeJSON<T: Encodable>(_ value: T, to file: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try e.encode(value)) + [0x0A], to: file)
    }
}
