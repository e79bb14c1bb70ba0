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

    func loadState() throws -> RunState {
        let bytes = try readFileBytes(statePath, what: "run state")
        do {
            let s = try JSONDecoder().decode(RunState.self, from: Data(bytes))
            guard s.format == "dcot-run-state", s.version == 1 else { throw CocoaError(.coderInvalidValue) }
            return s
        } catch {
            throw UserError(statePath, "is not a dcot-train run state", fix: "start over with --fresh")
        }
    }

    /// Saves weights and optimiser state of every model, then the marker, then moves the files in.
    /// A teacher (Mean Teacher, CutMix-Seg) is the last model file, weights only.
    func save(models: [Segmentor], optimizers: [any Optimizer], teacher: Segmentor? = nil, iteration: Int, epoch: Int, seed: UInt64,
              configHash: String, splitHash: String, best: [String: RunState.Best]) throws {
        var files = [String: String]()
        if let teacher {
            let w = "latest-m\(models.count + 1).safetensors"
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
    func restore(models: [Segmentor], optimizers: [any Optimizer], teacher: Segmentor? = nil, state: RunState) throws {
        try completeMoves(state, verify: true)
        for (name, sha) in state.files {
            let actual = try SHA256.hex(ofFile: "\(path)/\(name)")
            guard actual == sha else {
                throw UserError("\(path)/\(name)", "does not match latest.json (checksum)", fix: "restart with --fresh")
            }
        }
        for (k, (m, opt)) in zip(models, optimizers).enumerated() {
            try Checkpoint.load(into: m, from: "\(path)/latest-m\(k + 1).safetensors")
            let st = try SafeTensorsFile(contentsOf: "\(path)/latest-m\(k + 1).state.safetensors")
            var named = [String: Tensor]()
            for n in st.names { named[n] = Tensor(shape: st.entry(n)!.shape, values: try st.floats(n)) }
            if let sgd = opt as? SGD { sgd.loadState(named) } else if let adamw = opt as? AdamW { adamw.loadState(named) }
        }
        if let teacher { try Checkpoint.load(into: teacher, from: "\(path)/latest-m\(models.count + 1).safetensors") }
    }

    func saveBest(_ model: Segmentor, k: Int, miou: Double, iteration: Int, protocol p: String) throws {
        try Checkpoint.save(model, to: "\(path)/best-m\(k + 1).safetensors", metadata: ["miou": String(miou), "iteration": String(iteration)])
        try writeJSON(["model": "m\(k + 1)", "miou": String(format: "%.4f", miou), "iteration": String(iteration), "protocol": p],
                      to: "\(path)/best-m\(k + 1).json")
    }

    func appendMetrics(_ line: String) throws {
        let p = "\(path)/metrics.jsonl"
        if !FileManager.default.fileExists(atPath: p) { FileManager.default.createFile(atPath: p, contents: nil) }
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
