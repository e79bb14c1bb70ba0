// Counter-based randomness for the renderer: every image owns a SplitMix64 stream keyed on
// (seed, split, index), and textures use stateless lattice hashes, so images render in any order.

/// SplitMix64's output function (Steele, Lea & Flood 2014): a strong 64-bit bit mixer.
@inline(__always)
func mix64(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// FNV-1a over UTF-8 bytes; only used to fold the split name into the image key.
func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    return hash
}

/// The key of one image: a pure function of (seed, split, index).
func imageKey(seed: UInt64, split: String, index: Int) -> UInt64 {
    let splitKey = mix64(fnv1a64(split) ^ 0x5EED_5EED_5EED_5EED)
    let indexKey = mix64(UInt64(bitPattern: Int64(index)) &+ 0x6A09_E667_F3BC_C909)
    return mix64(mix64(seed ^ splitKey) ^ indexKey)
}

/// Maps the top 24 bits of a hash to [0, 1).
@inline(__always)
func unitFloat(_ bits: UInt64) -> Float {
    Float(bits >> 40) * (1.0 / 16_777_216.0)
}

/// SplitMix64 generator: state advances by the golden-ratio increment, output is `mix64(state)`.
struct SplitMix64 {
    private var state: UInt64

    init(key: UInt64) { state = key }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix64(state)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Float { unitFloat(next()) }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unit() }

    /// Uniform integer in the range (modulo bias is below 2^-50 for our tiny ranges).
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func chance(_ probability: Float) -> Bool { unit() < probability }

    /// Approximate standard normal from one draw: the sum of four 16-bit uniforms (Irwin-Hall),
    /// rescaled to unit variance. Tails stop at ±3.5σ, which is fine for noise and jitter (and,
    /// unlike Box-Muller, needs no libm, see DetMath).
    mutating func fastNormal() -> Float {
        let bits = next()
        let sum = Float(bits & 0xFFFF) + Float((bits >> 16) & 0xFFFF)
            + Float((bits >> 32) & 0xFFFF) + Float(bits >> 48)
        return (sum * (1.0 / 65_536.0) - 2) * 1.732_050_8
    }

    /// Index drawn with probability proportional to `weights`.
    mutating func weighted(_ weights: [Float]) -> Int {
        var r = unit() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return i }
        }
        return weights.count - 1
    }

    /// A fresh key for a stateless sub-field (texture lattice), drawn from this stream.
    mutating func subKey() -> UInt64 { next() }
}

/// Value noise: random values on a square lattice of `cell` pixels, smoothstep-interpolated.
/// Stateless (a hash of key and lattice point), so any pixel can be evaluated independently.
struct ValueNoise {
    let key: UInt64
    let inverseCell: Float

    init(key: UInt64, cell: Float) {
        self.key = key
        inverseCell = 1 / max(cell, 1)
    }

    @inline(__always)
    private func lattice(_ ix: Int32, _ iy: Int32) -> Float {
        let packed = UInt64(UInt32(bitPattern: ix)) << 32 | UInt64(UInt32(bitPattern: iy))
        return unitFloat(mix64(key ^ packed))
    }

    /// Value in [0, 1) at pixel coordinates (x, y).
    @inline(__always)
    func value(_ x: Float, _ y: Float) -> Float {
        let fx = x * inverseCell, fy = y * inverseCell
        let x0 = fx.rounded(.down), y0 = fy.rounded(.down)
        var tx = fx - x0, ty = fy - y0
        tx = tx * tx * (3 - 2 * tx)
        ty = ty * ty * (3 - 2 * ty)
        let ix = Int32(x0), iy = Int32(y0)
        let v00 = lattice(ix, iy), v10 = lattice(ix &+ 1, iy)
        let v01 = lattice(ix, iy &+ 1), v11 = lattice(ix &+ 1, iy &+ 1)
        let top = v00 + (v10 - v00) * tx
        let bottom = v01 + (v11 - v01) * tx
        return top + (bottom - top) * ty
    }
}
