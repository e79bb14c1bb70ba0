// What the processes of one multi-process run must agree on (Replicas.collective): at start the dcot
// build, configs, split, shards and options; at resume the state rank 0 read from the run directory
// (broadcast, so other machines need the shards but not the run directory); at every save the
// parameters themselves (a hash). Every check raises the same AllRanksError on every rank.
import Autograd
import Foundation
import Models
import NN
import Optim
import Support
import Tensor

enum RankAgreement {
    /// Every rank's 32-byte digests, compared with rank 0's; the error names the first field and rank that differ.
    static func check(_ fields: [(name: String, sha256: String)], fix: String) throws {
        guard let c = Replicas.collective else { return }
        let mine = fields.flatMap { hexBytes($0.sha256) }
        var all = [UInt8](repeating: 0, count: mine.count * c.size)
        mine.withUnsafeBytes { i in all.withUnsafeMutableBytes { o in c.allgather(i.baseAddress!, o.baseAddress!, count: mine.count, kind: .byte) } }
        for q in 1..<c.size {
            for (f, field) in fields.enumerated() {
                let a = all[(f * 32)..<(f * 32 + 32)], b = all[(q * mine.count + f * 32)..<(q * mine.count + f * 32 + 32)]
                if !a.elementsEqual(b) {
                    throw AllRanksError("rank \(q) of \(c.size) runs with other \(field.name) than rank 0 (sha256 \(hexString(b).prefix(12)) vs \(hexString(a).prefix(12))); \(fix)")
                }
            }
        }
    }

    static func hexBytes(_ s: String) -> [UInt8] {
        var out = [UInt8](), chars = Array(s.utf8)
        var i = 0
        while i + 1 < chars.count && out.count < 32 { out.append(UInt8(strtoul(String(decoding: chars[i...(i + 1)], as: UTF8.self), nil, 16))); i += 2 }
        return out + [UInt8](repeating: 0, count: 32 - out.count)
    }

    static func hexString<C: Collection>(_ b: C) -> String where C.Element == UInt8 { b.map { String(format: "%02x", $0) }.joined() }

    /// sha256 of this executable (the dcot build every rank must share).
    static func buildHash() -> String {
        (try? SHA256.hex(ofFile: "/proc/self/exe")) ?? String(repeating: "0", count: 64)
    }

    /// sha256 over every tensor of the modules (weights and buffers, in state_dict order).
    static func parameterHash(_ modules: [any Module]) -> String {
        var h = SHA256()
        for m in modules {
            for (_, p) in m.namedParameters() { h.update(UnsafeRawBufferPointer(start: p.value.data, count: p.value.count * 4)) }
        }
        return h.finalize()
    }

    /// Rank 0's bytes on every rank.
    static func broadcast(_ bytes: [UInt8]) -> [UInt8] {
        guard let c = Replicas.collective else { return bytes }
        var n = Int64(bytes.count)
        c.broadcast(&n, count: 1, kind: .int64, root: 0)
        var out = c.rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(n))
        if n > 0 { out.withUnsafeMutableBytes { c.broadcast($0.baseAddress!, count: Int(n), kind: .byte, root: 0) } }
        return out
    }

    /// Rank 0's model tensors and optimiser state on every rank (after rank 0 restored a checkpoint).
    static func broadcastState(models: [any Module], optimizers: [any Optimizer], teachers: [any Module]) {
        guard let c = Replicas.collective else { return }
        defer { Parameter.valuesChanged() }
        for m in models + teachers {
            for (_, p) in m.namedParameters() { c.broadcast(p.value.data, count: p.value.count, kind: .float, root: 0) }
        }
        for opt in optimizers {
            // Names and shapes first (other ranks have no state yet), then the values.
            let state = c.rank == 0 ? opt.state() : []
            let header = broadcast(Array(state.map { "\($0.0)\t\($0.1.shape.map(String.init).joined(separator: ","))" }
                .joined(separator: "\n").utf8))
            let entries = String(decoding: header, as: UTF8.self).split(separator: "\n").map { line -> (String, [Int]) in
                let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? parts[1].split(separator: ",").compactMap { Int($0) } : [])
            }
            var named = [String: Tensor]()
            for (i, (name, shape)) in entries.enumerated() {
                let t = c.rank == 0 ? state[i].1 : Tensor(shape: shape)
                c.broadcast(t.data, count: t.count, kind: .float, root: 0)
                named[name] = t
            }
            if c.rank != 0 {
                if let sgd = opt as? SGD { sgd.loadState(named) } else if let adamw = opt as? AdamW { adamw.loadState(named) }
            }
        }
    }
}

extension TrainOptions {
    /// The options every rank must share, as text that is the same in every process: the per-rank
    /// ones (threads, logging) left out, and the pretrained files in model order (a Dictionary's
    /// order differs from process to process).
    public var sharedByRanks: String {
        var shared = self
        (shared.threads, shared.quiet, shared.logEvery, shared.pretrained) = (0, false, 0, [:])
        let files = pretrained.sorted { $0.key < $1.key }.map { "m\($0.key)=\($0.value)" }
        return String(describing: shared) + " pretrained: " + files.joined(separator: ",")
    }
}
