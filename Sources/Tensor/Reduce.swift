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
}
