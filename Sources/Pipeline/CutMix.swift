// CutMix as the reference does it (METHOD.md section 2.4): a box drawn on the n x n DCT grid with
// probability 0.5 (area U(0.02, 0.4)·n², aspect U(0.3, 1/0.3), redrawn until it fits), nearest-resized
// to the pixel crop; samples are mixed with a permutation of their per-GPU group.
import Support

public struct CutMixBox: Sendable, Equatable {
    /// Grid side n.
    public let size: Int
    /// nil when no box was drawn (probability 0.5).
    public let rect: (x: Int, y: Int, w: Int, h: Int)?

    public init(size: Int, rect: (x: Int, y: Int, w: Int, h: Int)?) {
        self.size = size
        self.rect = rect
    }

    public static func == (a: CutMixBox, b: CutMixBox) -> Bool {
        a.size == b.size && a.rect?.x == b.rect?.x && a.rect?.y == b.rect?.y && a.rect?.w == b.rect?.w && a.rect?.h == b.rect?.h
    }

    public static let probability = 0.5
    public static let areaRange = 0.02...0.4
    public static let ratioRange = 0.3...(1 / 0.3)

    /// Draws a box on an n x n grid.
    public static func draw(size n: Int, rng: inout SplitMix64) -> CutMixBox {
        // random.random() > p → no box
        if rng.unit() > probability { return CutMixBox(size: n, rect: nil) }
        let area = (areaRange.lowerBound + rng.unit() * (areaRange.upperBound - areaRange.lowerBound)) * Double(n * n)
        while true {
            let ratio = ratioRange.lowerBound + rng.unit() * (ratioRange.upperBound - ratioRange.lowerBound)
            let w = Int((area / ratio).squareRoot()), h = Int((area * ratio).squareRoot())
            let x = rng.below(n), y = rng.below(n)
            if x + w <= n && y + h <= n { return CutMixBox(size: n, rect: (x, y, w, h)) }
        }
    }

    /// The n x n mask (1 inside the box).
    public var grid: [UInt8] {
        var m = [UInt8](repeating: 0, count: size * size)
        if let r = rect { for y in r.y..<(r.y + r.h) { for x in r.x..<(r.x + r.w) { m[y * size + x] = 1 } } }
        return m
    }

    /// The mask nearest-resized to s x s pixels as PyTorch does: source = min(floor(dst · (n/s)), n-1)
    /// in Float32.
    public func pixels(_ s: Int) -> [UInt8] {
        let g = grid
        let scale = Float(size) / Float(s)
        let src = (0..<s).map { min(Int((Float($0) * scale).rounded(.down)), size - 1) }
        var m = [UInt8](repeating: 0, count: s * s)
        for y in 0..<s { for x in 0..<s { m[y * s + x] = g[src[y] * size + src[x]] } }
        return m
    }
}

public enum CutMix {
    /// Partner of every sample: a random permutation within each group of `groupSize` consecutive
    /// samples (the reference permutes its per-GPU batch; a sample may draw itself).
    public static func partners(batch: Int, groupSize: Int, rng: inout SplitMix64) -> [Int] {
        precondition(groupSize >= 1 && batch % groupSize == 0, "the batch must be whole groups")
        var out = [Int]()
        for g in stride(from: 0, to: batch, by: groupSize) {
            var p = Array(g..<(g + groupSize))
            for i in stride(from: p.count - 1, to: 0, by: -1) { p.swapAt(i, rng.below(i + 1)) }
            out += p
        }
        return out
    }

    /// out[b] = where(mask[b], x[partner[b]], x[b]) for per-sample planes of `plane` elements with
    /// `channels` channels sharing one mask of `plane` elements; reads only the unmixed input.
    public static func mix<T>(_ x: [T], masks: [[UInt8]], partners: [Int], channels: Int, plane: Int) -> [T] {
        var out = x
        let per = channels * plane
        for (b, p) in partners.enumerated() where p != b {
            let m = masks[b]
            for c in 0..<channels {
                for i in 0..<plane where m[i] != 0 { out[b * per + c * plane + i] = x[p * per + c * plane + i] }
            }
        }
        return out
    }
}
