// Reductions over raw buffers: SIMD Float partial sums (fixed association order, so results do
// not depend on thread count), finished in Double by callers that feed statistics.

public enum Reduce {
    @inlinable
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        let raw = UnsafeRawPointer(p)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i &+ 16 <= n {
            a0 += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            a1 += raw.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            i &+= 16
        }
        var t = (a0 + a1).sum()
        while i < n { t += p[i]; i &+= 1 }
        return t
    }

    @inlinable
    public static func dot(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Float {
        let rp = UnsafeRawPointer(p), rq = UnsafeRawPointer(q)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i &+ 16 <= n {
            a0 += rp.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
                * rq.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            a1 += rp.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
                * rq.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            i &+= 16
        }
        var t = (a0 + a1).sum()
        while i < n { t += p[i] * q[i]; i &+= 1 }
        return t
    }

    /// Sum of (p[i] - m)^2.
    @inlinable
    public static func sumSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ m: Float) -> Float {
        let raw = UnsafeRawPointer(p)
        let mv = SIMD8<Float>(repeating: m)
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i &+ 16 <= n {
            let d0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) - mv
            let d1 = raw.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self) - mv
            a0 += d0 * d0; a1 += d1 * d1
            i &+= 16
        }
        var t = (a0 + a1).sum()
        while i < n { let d = p[i] - m; t += d * d; i &+= 1 }
        return t
    }

    /// Rows per block of `columnSums`: a fixed partition, so the sums do not depend on the thread count.
    public static let columnBlockRows = 256

    /// Σ over rows of x [rows, cols] (a linear layer's bias gradient): Float partials per block of
    /// `columnBlockRows` rows (SIMD over columns), blocks added in order in Double.
    /// `columns`: only these columns' sums (the same bits as theirs in the whole; rows are still
    /// `cols` apart).
    public static func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, columns: Range<Int>? = nil) -> [Float] {
        let first = x + (columns?.lowerBound ?? 0), width = columns?.count ?? cols
        let nb = (rows + columnBlockRows - 1) / columnBlockRows
        let part = UnsafeMutablePointer<Float>.allocate(capacity: max(1, nb * width))
        defer { part.deallocate() }
        nonisolated(unsafe) let pp = part
        Parallel.blocks(nb) { b in
            let out = pp + b &* width
            out.update(repeating: 0, count: width)
            for r in (b &* columnBlockRows)..<min(rows, (b &+ 1) &* columnBlockRows) {
                let row = first + r &* cols
                var j = 0
                while j &+ 8 <= width {
                    let v = UnsafeRawPointer(out + j).loadUnaligned(as: SIMD8<Float>.self)
                        + UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(out + j).storeBytes(of: v, as: SIMD8<Float>.self)
                    j &+= 8
                }
                while j < width { out[j] += row[j]; j &+= 1 }
            }
        }
        var total = [Double](repeating: 0, count: width)
        for b in 0..<nb { for j in 0..<width { total[j] += Double(part[b &* width &+ j]) } }
        return total.map { Float($0) }
    }
}
