// Data-parallel replicas (the reference's GPUs): W replicas, of which this process runs `local`
// consecutive ones starting at global index `first`. Every batched tensor is replica-major: replica
// r's rows are the r-th of `local` equal contiguous chunks of the leading dimension. Every
// cross-replica sum (parameter gradients, SyncBN statistics, loss terms) is formed per replica and
// combined in replica order 0..<W, so results do not depend on how replicas map to processes.
import Foundation
import Tensor

/// Collective operations over the processes of one job (Open MPI in the programs; nil = one process).
/// Every call must be made by every rank in the same order; buffers are laid out by rank.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Every rank's `count` elements of `elementSize` bytes, concatenated in rank order into `output`.
    func allgather(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, count: Int, kind: ElementKind)
    /// Variable-size allgather: counts[q] elements from rank q, concatenated in rank order.
    func allgatherv(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, counts: [Int], kind: ElementKind)
    /// sendCounts[q] elements (consecutive in `input`, by destination) go to rank q; recvCounts[q]
    /// elements arrive from rank q, concatenated in rank order.
    func alltoallv(_ input: UnsafeRawPointer, sendCounts: [Int], _ output: UnsafeMutableRawPointer, recvCounts: [Int], kind: ElementKind)
    /// Rank `root`'s `count` elements into every rank's `buffer`.
    func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, kind: ElementKind, root: Int)
    /// Ends the whole job (every rank) with `code`.
    func abort(_ code: Int32) -> Never
}

public enum ElementKind: Sendable {
    case byte, float, double, int64
    public var size: Int {
        switch self { case .byte: 1; case .float: 4; case .double, .int64: 8 }
    }
}

public struct ReplicaLayout: Equatable, Sendable {
    /// W: data-parallel replicas of the run.
    public let total: Int
    /// Global index of this process's first replica.
    public let first: Int
    /// Replicas run by this process.
    public let local: Int
    public init(total: Int, first: Int, local: Int) {
        precondition(total >= 1 && local >= 1 && first >= 0 && first + local <= total)
        (self.total, self.first, self.local) = (total, first, local)
    }
    public static let single = ReplicaLayout(total: 1, first: 0, local: 1)
    public var range: Range<Int> { first..<(first + local) }
}

public enum Replicas {
    nonisolated(unsafe) public private(set) static var layout = ReplicaLayout.single
    /// The job's processes; nil when this process runs every replica.
    nonisolated(unsafe) public private(set) static var collective: (any Collective)?
    /// The replica whose gradient a pullback is replaying (see Tape), nil otherwise.
    nonisolated(unsafe) static var current: Int?
    /// Bytes this process sent and received in collectives (communication accounting).
    nonisolated(unsafe) public static var bytesMoved = 0
    /// Seconds spent in collectives (transfer and waiting for slower ranks).
    nonisolated(unsafe) public static var secondsInCollectives = 0.0
    /// Seconds of the gradient exchange alone, timed after the ranks met (no waiting in it).
    nonisolated(unsafe) public static var secondsExchangingGradients = 0.0

    /// Sets the layout for W replicas over the collective's ranks (or one process).
    public static func configure(total: Int, collective: (any Collective)?) {
        let ranks = collective?.size ?? 1, rank = collective?.rank ?? 0
        precondition(total % ranks == 0, "\(total) replicas over \(ranks) ranks")
        let local = total / ranks
        layout = ReplicaLayout(total: total, first: rank * local, local: local)
        BatchGroups.count = local
        self.collective = (collective?.size ?? 1) > 1 ? collective : nil
    }

    public static var local: Int { layout.local }
    public static var isDistributed: Bool { collective != nil }
    public static var rank: Int { collective?.rank ?? 0 }
    public static var ranks: Int { collective?.size ?? 1 }

    /// Rows [r·n/local, (r+1)·n/local) of a replica-major batch tensor (a copy; the tensor itself when local == 1).
    public static func chunk(_ t: Tensor, _ r: Int, of local: Int = Replicas.local) -> Tensor {
        if local == 1 { return t }
        let n = t.shape[0]
        precondition(n % local == 0, "batch of \(n) rows is not \(local) equal replica chunks")
        return ShapeKernel.slice(t, axis: 0, start: r * (n / local), length: n / local)
    }

    /// Every replica's `perReplica` values ([local][k] here) as [W][k], in replica order.
    public static func gather(_ values: [Double]) -> [Double] {
        guard let c = collective else { return values }
        var out = [Double](repeating: 0, count: values.count * c.size)
        timed(bytes: values.count * 8 * 2 * (c.size - 1)) {
            values.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in
                c.allgather(i.baseAddress!, o.baseAddress!, count: values.count, kind: .double)
            } }
        }
        return out
    }

    /// Every rank's bytes (any length), in rank order.
    public static func gatherBytes(_ bytes: [UInt8]) -> [[UInt8]] {
        guard let c = collective else { return [bytes] }
        var n = Int64(bytes.count)
        var counts = [Int64](repeating: 0, count: c.size)
        withUnsafeBytes(of: &n) { i in counts.withUnsafeMutableBytes { o in c.allgather(i.baseAddress!, o.baseAddress!, count: 1, kind: .int64) } }
        var all = [UInt8](repeating: 0, count: Int(counts.reduce(0, +)))
        bytes.withUnsafeBytes { i in all.withUnsafeMutableBytes { o in
            c.allgatherv(i.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, o.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!,
                         counts: counts.map { Int($0) }, kind: .byte)
        } }
        var out = [[UInt8]](), at = 0
        for k in counts { out.append(Array(all[at..<(at + Int(k))])); at += Int(k) }
        return out
    }

    /// Per-replica partial sums [local][k] → Σ over all W replicas in replica order: [k].
    public static func sumInOrder(_ partials: [Double], width k: Int) -> [Double] {
        let all = gather(partials)
        var s = Array(all[0..<k])
        var r = 1
        while r * k < all.count {
            for i in 0..<k { s[i] += all[r * k + i] }
            r += 1
        }
        return s
    }

    static func timed(bytes: Int, _ body: () -> Void) {
        let t = DispatchTime.now().uptimeNanoseconds
        body()
        secondsInCollectives += Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9
        bytesMoved += bytes
    }
}

/// Accumulates a parameter-gradient contribution that is a sum over the batch rows of `batched`
/// (replica-major tensors with equal leading dimension): one partial per local replica, computed by
/// `partial` on that replica's rows, into the slot's per-replica buffers. A slot that is not per
/// replica (a plain differentiable input) gets the whole-batch value.
public func accumulatePerReplica(_ slot: GradSlot, _ batched: [Tensor], _ partial: ([Tensor]) -> Tensor) {
    let local = Replicas.local
    guard slot.perReplica, local > 1 else { slot.accumulate(partial(batched)); return }
    for r in 0..<local {
        let rows = batched.map { Replicas.chunk($0, r, of: local) }
        slot.accumulate(BatchGroups.one { partial(rows) }, replica: r)          // one replica's rows: one group
    }
}

/// After backward: each parameter's gradient becomes Σ over all W replicas of its per-replica
/// partials, summed in replica order (r = 0 first), identically on every rank. Slots are in a fixed
/// order shared by all ranks. Returns the bytes this rank sent and received.
@discardableResult
public func combineReplicaGradients(_ slots: [GradSlot]) -> Int {
    let local = Replicas.local
    let used = slots.filter { $0.grad != nil }
    guard let c = Replicas.collective else {
        guard local > 1 else { return 0 }
        for s in used { s.foldPartials() }
        return 0
    }
    let total = used.reduce(0) { $0 + $1.grad!.count }
    let ranks = c.size, me = c.rank
    _ = Replicas.gather([0])                 // meet first, so the exchange below is timed without waiting
    let t0 = DispatchTime.now().uptimeNanoseconds
    defer { Replicas.secondsExchangingGradients += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
    let bounds = (0...ranks).map { $0 * total / ranks }
    let send = Tensor(shape: [local * total])
    // Pack by destination q, then local replica r, then the elements of q's slice.
    var offsets = [Int](), o = 0
    for s in used { offsets.append(o); o += s.grad!.count }
    var sendAt = 0
    for q in 0..<ranks {
        let lo = bounds[q], hi = bounds[q + 1]
        for r in 0..<local {
            for (i, s) in used.enumerated() {
                let start = max(lo, offsets[i]), end = min(hi, offsets[i] + s.grad!.count)
                guard start < end else { continue }
                let src = s.partial(r)!.data + (start - offsets[i])
                (send.data + sendAt).update(from: src, count: end - start)
                sendAt += end - start
            }
        }
    }
    let mine = bounds[me + 1] - bounds[me]
    let recv = Tensor(shape: [max(1, local * ranks * mine)])
    let sendCounts = (0..<ranks).map { local * (bounds[$0 + 1] - bounds[$0]) }
    let recvCounts = [Int](repeating: local * mine, count: ranks)
    // Bytes that leave or reach this rank (its own slice stays).
    Replicas.timed(bytes: 4 * 2 * (sendCounts.reduce(0, +) - sendCounts[me])) {
        c.alltoallv(send.data, sendCounts: sendCounts, recv.data, recvCounts: recvCounts, kind: .float)
    }
    // recv is [W][mine] in replica order: sum r = 0, 1, ... as the single-process fold does.
    let summed = Tensor(shape: [max(1, mine)])
    if mine > 0 {
        summed.data.update(from: recv.data, count: mine)
        for r in 1..<(local * ranks) {
            let p = recv.data + r * mine, d = summed.data
            for i in 0..<mine { d[i] += p[i] }
        }
    }
    let full = Tensor(shape: [max(1, total)])
    let counts = (0..<ranks).map { bounds[$0 + 1] - bounds[$0] }
    Replicas.timed(bytes: 4 * (mine * (ranks - 1) + total - mine)) {
        c.allgatherv(summed.data, full.data, counts: counts, kind: .float)
    }
    for (i, s) in used.enumerated() { s.setCombined(full.data + offsets[i]) }
    return 4 * (2 * (sendCounts.reduce(0, +) - sendCounts[me]) + mine * (ranks - 1) + total - mine)
}
