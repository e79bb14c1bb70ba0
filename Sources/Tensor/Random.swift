// Counter-based randomness (SplitMix64 finaliser keyed by seed): value i of stream `seed` is a pure
// function of (seed, i), so masks do not depend on thread count or call order. No global state.
import Foundation

public enum Random {
    @inlinable
    public static func bits(seed: UInt64, counter: UInt64) -> UInt64 {
        var z = seed &+ (counter &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable
    public static func uniform(seed: UInt64, counter: UInt64) -> Float {
        Float(bits(seed: seed, counter: counter) >> 40) * (1.0 / 16_777_216.0)
    }

    public static func normal(seed: UInt64, counter: UInt64) -> Float {
        let u1 = (Double(bits(seed: seed, counter: 2 &* counter) >> 11) + 0.5) / 9_007_199_254_740_992.0
        let u2 = Double(bits(seed: seed, counter: 2 &* counter &+ 1) >> 11) / 9_007_199_254_740_992.0
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A derived seed for a sub-stream (e.g. one per layer), so streams never overlap.
    public static func derive(_ seed: UInt64, _ tag: UInt64) -> UInt64 { bits(seed: seed ^ 0x5DEE_CE66_D, counter: tag) }
}
