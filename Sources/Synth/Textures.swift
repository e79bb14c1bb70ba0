// Fill patterns: a scalar field t(x, y) in [0, 1] at offsets from the shape centre, which
// mixes a shape's two colours (t = 0 → colour A, t = 1 → colour B). Edges are soft (about one
// pixel) so the RGB does not alias; frequencies are in pixels and scale with the image size.

/// Texture families. The first four are object textures (a class is a texture *and* a shape,
/// see `ClassCatalog`); flat, gradient, blotch and rings only decorate background clutter.
enum TextureKind: Int, CaseIterable {
    case stripes, checker, dots, speckle
    case flat, gradient, blotch, rings

    static let objectTextures: [TextureKind] = [.stripes, .checker, .dots, .speckle]
    static let clutterTextures: [TextureKind] = [.flat, .gradient, .blotch, .rings]

    /// Adjective used in class names ("striped-ellipse").
    var adjective: String {
        switch self {
        case .stripes: return "striped"
        case .checker: return "checkered"
        case .dots: return "dotted"
        case .speckle: return "speckled"
        case .flat: return "plain"
        case .gradient: return "shaded"
        case .blotch: return "blotchy"
        case .rings: return "ringed"
        }
    }
}

/// One texture instance: random period, orientation and phase (intra-class variation).
struct Texture {
    var kind: TextureKind
    var cosT: Float, sinT: Float     // orientation of the pattern (independent of the outline)
    var inversePeriod: Float         // cycles per pixel
    var period: Float
    var phaseU: Float, phaseV: Float // in cycles
    var dotRadius: Float             // dots: radius in periods
    var offsetX: Float, offsetY: Float // rings: centre offset; gradient: unused
    var span: Float                  // gradient: half-length of the ramp in pixels
    var noise: ValueNoise            // speckle, blotch

    /// `scale` = image size / 128, so a pattern covers the same fraction of every image size.
    /// Periods never drop below 3 px, where the pattern would alias away.
    static func sample(_ kind: TextureKind, scale: Float, extent: Float,
                       rng: inout SplitMix64) -> Texture {
        let turns = rng.uniform(0, 0.5)                            // patterns are 180°-symmetric
        let period: Float
        switch kind {
        case .stripes: period = rng.uniform(5.0, 9.0) * scale       // stripes of 2.5–4.5 px
        case .checker: period = rng.uniform(7.0, 12.0) * scale     // squares of 3.5–6 px
        case .dots: period = rng.uniform(5.0, 9.0) * scale        // sparse: 13–28% ink
        case .speckle: period = rng.uniform(2.2, 3.6) * scale      // noise cell, not a period
        case .blotch: period = rng.uniform(8.0, 15.0) * scale      // noise cell
        case .rings: period = rng.uniform(10.0, 16.0) * scale      // coarser than class stripes
        case .flat, .gradient: period = 8 * scale
        }
        let p = max(period, kind == .speckle ? 2 : 3)
        return Texture(kind: kind, cosT: DetMath.cosTurns(turns), sinT: DetMath.sinTurns(turns),
                       inversePeriod: 1 / p, period: p,
                       phaseU: rng.unit(), phaseV: rng.unit(),
                       dotRadius: rng.uniform(0.2, 0.3),
                       offsetX: rng.uniform(-0.5, 0.5) * extent, offsetY: rng.uniform(-0.5, 0.5) * extent,
                       span: max(extent, 1),
                       noise: ValueNoise(key: rng.subKey(), cell: p))
    }

    /// Pattern value in [0, 1] at offset (x, y) from the shape centre.
    @inline(__always)
    func value(_ x: Float, _ y: Float) -> Float {
        let u = cosT * x + sinT * y
        switch kind {
        case .stripes:
            return 0.5 + 0.5 * squareWave(u * inversePeriod + phaseU)
        case .checker:
            // Product of two square waves: crisp squares. (A product of sines would saturate
            // only at cell centres and, once blurred, look like dots.)
            let v = -sinT * x + cosT * y
            return 0.5 + 0.5 * squareWave(u * inversePeriod + phaseU)
                * squareWave(v * inversePeriod + phaseV)
        case .dots:
            let v = -sinT * x + cosT * y
            let fu = u * inversePeriod + phaseU, fv = v * inversePeriod + phaseV
            let du = fu - fu.rounded(), dv = fv - fv.rounded()
            let d = (du * du + dv * dv).squareRoot()
            return Texture.clamp01((dotRadius - d) * period + 0.5)  // 1-px soft edge
        case .speckle:
            return Texture.clamp01((noise.value(x, y) - 0.5) * 3 + 0.5)
        case .flat:
            return 0
        case .gradient:
            return Texture.clamp01(0.5 + 0.5 * u / span)
        case .blotch:
            return noise.value(x, y)
        case .rings:
            let dx = x - offsetX, dy = y - offsetY
            let r = (dx * dx + dy * dy).squareRoot()
            return 0.5 + 0.5 * DetMath.sinTurns(r * inversePeriod + phaseU)
        }
    }

    /// Square wave in [-1, 1] with about one-pixel transitions: a sine steepened by
    /// period / (π · 1 px) (its zero-crossing slope becomes 2 per pixel) and clipped.
    @inline(__always)
    func squareWave(_ cycles: Float) -> Float {
        let s = DetMath.sinTurns(cycles) * max(1, period * (1 / Float.pi))
        return min(max(s, -1), 1)
    }

    @inline(__always)
    static func clamp01(_ v: Float) -> Float { min(max(v, 0), 1) }
}
