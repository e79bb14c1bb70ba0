// dcot-split: labeled/unlabeled partitions of a train list. Labeled ids are the first n of one
// seeded permutation (of the base subset, or of the whole list), so for one seed the fractions
// are nested (1/32 ⊂ 1/16 ⊂ 1/8 ⊂ 1/4). Published partitions are imported and normalised.
import Foundation
import Support

public enum SplitSize: Sendable, Equatable {
    case count(Int)
    /// numerator/denominator of the list (or base) length, rounded up as the published splits are.
    case fraction(Int, Int)

    /// Parses "92", "1/16" or "1_16".
    public static func parse(fraction text: String) throws -> SplitSize {
        let parts = text.split(whereSeparator: { $0 == "/" || $0 == "_" })
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a > 0, b > 0, a <= b else {
            throw UserError("--fraction \(text)", "is not a fraction like 1/16", fix: "write N/D with 0 < N <= D")
        }
        return .fraction(a, b)
    }

    public func resolve(total: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .fraction(let a, let b): return (total * a + b - 1) / b
        }
    }
}

public struct SplitOptions: Sendable {
    public var list: String
    public var val: String?
    public var size: SplitSize?
    public var base: String?
    public var seed: UInt64 = 0
    public var importDirectory: String?
    public var out: String
    public var layout: DatasetLayout

    public init(list: String, out: String, layout: DatasetLayout) {
        self.list = list
        self.out = out
        self.layout = layout
    }
}

public struct SplitSummary: Sendable, CustomStringConvertible {
    public var labeled = 0
    public var unlabeled = 0
    public var total = 0
    public var out = ""
    public var imported: String?
    public var description: String {
        let how = imported.map { "imported from \($0)" } ?? "drawn"
        return "dcot-split: \(labeled) labeled + \(unlabeled) unlabeled of \(total) (\(how)) → \(out)/labeled.txt, \(out)/unlabeled.txt"
    }
}

public enum Split {
    public static func run(_ o: SplitOptions) throws -> SplitSummary {
        let train = try IdList.read(o.list, layout: o.layout)
        let val = try o.val.map { try IdList.read($0, layout: o.layout) } ?? []
        let labeled: [ListEntry], unlabeled: [ListEntry]
        var summary = SplitSummary()
        if let dir = o.importDirectory {
            (labeled, unlabeled) = try importPartition(dir, train: train, layout: o.layout)
            summary.imported = dir
        } else {
            guard let size = o.size else {
                throw UserError("dcot-split", "no partition size given", fix: "pass --labeled N or --fraction 1/16 (or --import DIR)")
            }
            labeled = try draw(train: train, size: size, base: o.base, seed: o.seed, layout: o.layout)
            let chosen = Set(labeled.map(\.id))
            unlabeled = train.filter { !chosen.contains($0.id) }
        }
        try check(labeled: labeled, unlabeled: unlabeled, train: train, val: val, trainPath: o.list, valPath: o.val)
        try makeDirectory(o.out)
        try IdList.write(labeled, to: "\(o.out)/labeled.txt")
        try IdList.write(unlabeled, to: "\(o.out)/unlabeled.txt")
        summary.labeled = labeled.count
        summary.unlabeled = unlabeled.count
        summary.total = train.count
        summary.out = o.out
        return summary
    }

    /// The first n ids of a seeded permutation of the base subset (or the whole train list).
    static func draw(train: [ListEntry], size: SplitSize, base: String?, seed: UInt64,
                     layout: DatasetLayout) throws -> [ListEntry] {
        var pool = train
        if let base {
            let byId = Dictionary(uniqueKeysWithValues: train.map { ($0.id, $0) })
            pool = try IdList.read(base, layout: layout).map { e in
                guard let t = byId[e.id] else {
                    throw UserError("\(base):\(e.line)", "id '\(e.id)' of the base subset is not in the train list",
                                    fix: "use a base subset of the train list")
                }
                return t
            }
        }
        let n = size.resolve(total: pool.count)
        guard n >= 1, n <= pool.count else {
            throw UserError(base ?? "dcot-split", "cannot draw \(n) labeled ids from \(pool.count)",
                            fix: "ask for between 1 and \(pool.count) labeled ids")
        }
        // Fisher-Yates with a keyed stream: the permutation depends only on the seed and the pool.
        var rng = SplitMix64(seed: seed, keys: stableHash("dcot-split"), UInt64(pool.count))
        var order = Array(pool.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.below(i + 1))
        }
        return order.prefix(n).map { pool[$0] }
    }

    /// Reads DIR/labeled.txt and DIR/unlabeled.txt (reference lines or bare ids); a missing
    /// unlabeled.txt means "every other train id".
    static func importPartition(_ dir: String, train: [ListEntry], layout: DatasetLayout) throws -> ([ListEntry], [ListEntry]) {
        let byId = Dictionary(uniqueKeysWithValues: train.map { ($0.id, $0) })
        func load(_ name: String) throws -> [ListEntry] {
            let path = "\(dir)/\(name)"
            return try IdList.read(path, layout: layout).map { e in
                guard let t = byId[e.id] else {
                    throw UserError("\(path):\(e.line)", "id '\(e.id)' is not in the train list",
                                    fix: "import the partition against the train list it was made from")
                }
                return t
            }
        }
        let labeled = try load("labeled.txt")
        if FileManager.default.fileExists(atPath: "\(dir)/unlabeled.txt") {
            return (labeled, try load("unlabeled.txt"))
        }
        let chosen = Set(labeled.map(\.id))
        return (labeled, train.filter { !chosen.contains($0.id) })
    }

    static func check(labeled: [ListEntry], unlabeled: [ListEntry], train: [ListEntry], val: [ListEntry],
                      trainPath: String, valPath: String?) throws {
        let labeledIds = Set(labeled.map(\.id))
        if let both = unlabeled.first(where: { labeledIds.contains($0.id) }) {
            throw UserError("unlabeled.txt:\(both.line)", "id '\(both.id)' is also in labeled.txt",
                            fix: "labeled and unlabeled lists must not overlap")
        }
        if labeled.contains(where: { $0.mask == nil }), let e = labeled.first(where: { $0.mask == nil }) {
            throw UserError("\(trainPath):\(e.line)", "labeled id '\(e.id)' has no mask",
                            fix: "labeled samples need a mask path (or a SegmentationClass/<id>.png under the root)")
        }
        let valIds = Set(val.map(\.id))
        if let leak = (labeled + unlabeled).first(where: { valIds.contains($0.id) }) {
            throw UserError(valPath ?? "val list", "validation id '\(leak.id)' is in the training partition",
                            fix: "remove validation images from the train list")
        }
    }
}
