// The run directory (DESIGN.md section 4): latest-m<k>.safetensors (weights, reference names),
// latest-m<k>.state.safetensors (optimiser state), then latest.json as the commit marker (written
// last, atomically, with every file's sha256); best-m<k>.{safetensors,json}; config.yaml;
// metrics.jsonl; done.json. A kill at any moment leaves the previous latest.json pointing at files
// that still match it, because every file is replaced atomically before the marker moves.
import Checkpoint
import Foundation
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

    /// Saves weights and optimiser state of every model, then the marker.
    func save(models: [Segmentor], optimizers: [any Optimizer], iteration: Int, epoch: Int, seed: UInt64,
              configHash: String, splitHash: String, best: [String: RunState.Best]) throws {
        var files = [String: String]()
        for (k, (m, opt)) in zip(models, optimizers).enumerated() {
            let w = "latest-m\(k + 1).safetensors", st = "latest-m\(k + 1).state.safetensors"
            try Checkpoint.save(m, to: "\(path)/\(w)", metadata: ["iteration": String(iteration)])
            var writer = SafeTensorsWriter(metadata: ["format": "dcot-optimizer", "iteration": String(iteration)])
            for (name, t) in opt.state() {
                writer.add(name, dtype: .F32, shape: t.shape, bytes: UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
            }
            try AtomicFile.write(writer.serialize(), to: "\(path)/\(st)")
            files[w] = try SHA256.hex(ofFile: "\(path)/\(w)")
            files[st] = try SHA256.hex(ofFile: "\(path)/\(st)")
        }
        let state = RunState(iteration: iteration, epoch: epoch, seed: seed, config_sha256: configHash, split_sha256: splitHash,
                             files: files, best: best)
        try writeJSON(state, to: statePath)
    }

    /// Restores weights and optimiser state after checking every file against the marker.
    func restore(models: [Segmentor], optimizers: [any Optimizer], state: RunState) throws {
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
            guard let sgd = opt as? SGD else {
                throw UserError(path, "resuming an AdamW run is not supported yet", fix: "use SGD (the reference optimiser) or --fresh")
            }
            sgd.loadState(named)
        }
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
