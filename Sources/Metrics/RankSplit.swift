// Evaluation over the processes of a job (Replicas.collective): each rank takes every R-th image of
// a list, and confusion matrices are summed exactly (Int64), so metrics do not depend on R.
import Autograd

extension ConfusionMatrix {
    /// This matrix summed over every rank (itself in one process).
    public func summedOverRanks() -> ConfusionMatrix {
        guard let c = Replicas.collective else { return self }
        let mine = counts + outsideTargets + [Int64(images)]
        var all = [Int64](repeating: 0, count: mine.count * c.size)
        mine.withUnsafeBytes { i in all.withUnsafeMutableBytes { o in c.allgather(i.baseAddress!, o.baseAddress!, count: mine.count, kind: .int64) } }
        var out = ConfusionMatrix(classes: classes)
        for q in 0..<c.size {
            let part = all[(q * mine.count)..<((q + 1) * mine.count)]
            out.counts = zip(out.counts, part.prefix(counts.count)).map { $0 + $1 }
            out.outsideTargets = zip(out.outsideTargets, part.dropFirst(counts.count).prefix(classes)).map { $0 + $1 }
            out.images += Int(part.last!)
        }
        return out
    }
}

/// The items this rank handles: every R-th, starting at its rank (all of them in one process).
public func itemsForThisRank<T>(_ items: [T]) -> [T] {
    let r = Replicas.rank, n = Replicas.ranks
    guard n > 1 else { return items }
    return items.enumerated().filter { $0.offset % n == r }.map(\.element)
}
