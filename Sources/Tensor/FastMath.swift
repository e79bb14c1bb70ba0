// SIMD8 exp and erf for the softmax, cross-entropy and GELU kernels (libm's scalar expf/erff made
// GELU on 2x256x81x81 take 54 ms). exp: Cephes expf (range reduction by ln 2 in two parts, degree-5
// polynomial, |rel err| ~1e-7); erf: Abramowitz-Stegun 7.1.26 (|abs err| <= 1.5e-7), the formula
// PyTorch's own vectorised CPU erf uses. SSE2-only operations (default x86-64 target).
import CNative

public enum FastMath {
    /// e^x for x <= 88 (results below 2^-126 flush to 0). No float clamp: the exponent is
    /// clamped in integer arithmetic (mask comparisons cost more than the whole polynomial here).
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        // n = round(x / ln 2) with the 1.5 * 2^23 trick; its integer sits in the low mantissa bits.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = v * 1.44269504088896341 + magic
        let n = t - magic
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let x = v - n * 0.693359375 + n * 2.12194440e-4                       // |x| <= ln 2 / 2
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * x + 1.3981999507e-3
        p = p * x + 8.3334519073e-3
        p = p * x + 4.1665795894e-2
        p = p * x + 1.6666665459e-1
        p = p * x + 5.0000001201e-1
        let y = p * (x * x) + x + 1
        // Biased exponent e = n + 127, clamped to [0, 254] without comparisons: e <= 0 gives 2^n = 0.
        var e = ni &+ 127
        e = e & ~(e &>> 31)
        let d = e &- 254
        e = 254 &+ (d & (d &>> 31))
        return y * unsafeBitCast(e &<< 23, to: SIMD8<Float>.self)
    }

    /// erf(x) = sign(x) (1 - (p1 t + ... + p5 t^5) e^{-x^2}), t = 1 / (1 + 0.3275911 |x|).
    @inlinable @inline(__always)
    public static func erf(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let signBits = unsafeBitCast(v, to: SIMD8<UInt32>.self) & 0x8000_0000
        let a = unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
        let t = 1 / (a * 0.3275911 + 1)
        var r = SIMD8<Float>(repeating: 1.061405429)
        r = r * t - 1.453152027
        r = r * t + 1.421413741
        r = r * t - 0.284496736
        r = r * t + 0.254829592
        let e = 1 - r * t * exp(-(a * a))
        return unsafeBitCast(unsafeBitCast(e, to: SIMD8<UInt32>.self) | signBits, to: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD8<Float> {
        if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        var v = SIMD8<Float>()
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    @inlinable @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self); return }
        for i in 0..<count { p[i] = v[i] }
    }

    /// dst[i] = f(src[i]) for i in 0..<n, eight at a time.
    @inlinable @inline(__always)
    public static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                           _ f: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        while i < n {
            let k = min(8, n &- i)
            store(f(load(src + i, k)), dst + i, k)
            i &+= 8
        }
    }

    /// Scalar conveniences (lane 0 of the vector versions).
    @inlinable public static func exp(_ x: Float) -> Float { exp(SIMD8(repeating: x))[0] }
    @inlinable public static func erf(_ x: Float) -> Float { erf(SIMD8(repeating: x))[0] }

    /// GELU, erf form (PyTorch's approximate='none'): 0.5 x (1 + erf(x / √2)), the one formula of the
    /// Swift paths (Elementwise.gelu and the depthwise conv's fused GELU give the same bits).
    @inlinable public static func gelu(_ v: SIMD8<Float>) -> SIMD8<Float> { 0.5 * v * (1 + erf(v * 0.70710678118654752)) }
    @inlinable public static func gelu(_ x: Float) -> Float { gelu(SIMD8(repeating: x))[0] }
}

/// The instruction set of CNative's vector kernels (simd_kernels.c: GELU, attention softmax rows),
/// chosen from the CPU's flags: 2 AVX-512, 1 AVX2 + FMA, 0 none (the SIMD8 Swift paths here run).
/// The same formulas on every path; FMA contraction makes their last bits differ, so a machine
/// gives the same bits run to run and at any thread count, not the same bits as another ISA.
public enum VectorISA {
    public static var level: Int { Int(cn_simd_level()) }
    /// The best level this CPU supports.
    public static var supported: Int { Int(cn_simd_supported()) }
    /// Uses at most `level` (tests run every path the CPU has; 0 forces the Swift paths).
    public static func cap(_ level: Int) { cn_simd_cap_level(Int32(level)) }
}
