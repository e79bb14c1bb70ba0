// Outlines as signed distance functions in pixels (negative inside), evaluated at offsets
// (x, y) from the shape centre. Distances are exact or first-order approximations: they only
// drive the 1-px analytic anti-aliasing of the RGB and the inside test of the hard label.

/// Outline families. The first five are object shapes (a class is a shape *and* a texture, see
/// `ClassCatalog`); annulus, bar and crescent only appear as background clutter.
enum ShapeKind: Int, CaseIterable {
    case ellipse, rectangle, triangle, star, cross
    case annulus, bar, crescent

    static let objectShapes: [ShapeKind] = [.ellipse, .rectangle, .triangle, .star, .cross]
    static let clutterShapes: [ShapeKind] = [.annulus, .bar, .crescent]

    var name: String {
        switch self {
        case .ellipse: return "ellipse"
        case .rectangle: return "rectangle"
        case .triangle: return "triangle"
        case .star: return "star"
        case .cross: return "cross"
        case .annulus: return "annulus"
        case .bar: return "bar"
        case .crescent: return "crescent"
        }
    }
}

/// One placed outline. `a`, `b`, `p0`, `p1` are kind-specific sizes (documented in `sample`).
struct Shape {
    var kind: ShapeKind
    var centreX: Float, centreY: Float
    var cosR: Float, sinR: Float          // rotation of the local frame
    var a: Float, b: Float
    var p0: Float = 0, p1: Float = 0
    // Triangle only: vertices (local, CCW) and outward unit edge normals, lanes 0...2 (SIMD
    // rather than arrays keeps reference counting out of the per-pixel loop).
    var vertexX = SIMD4<Float>(), vertexY = SIMD4<Float>()
    var normalX = SIMD4<Float>(), normalY = SIMD4<Float>()
    var extent: Float                     // radius of a circle containing the shape

    /// Draws a shape of `kind` with outer radius about `radius` pixels, random rotation and
    /// aspect, centred at (cx, cy).
    static func sample(_ kind: ShapeKind, cx: Float, cy: Float, radius r: Float,
                       rng: inout SplitMix64) -> Shape {
        let turns = rng.unit()
        var s = Shape(kind: kind, centreX: cx, centreY: cy,
                      cosR: DetMath.cosTurns(turns), sinR: DetMath.sinTurns(turns),
                      a: r, b: r, extent: r + 1)
        switch kind {
        case .ellipse:                                   // a, b: semi-axes
            s.b = r * rng.uniform(0.5, 0.95)
        case .rectangle:                                 // a, b: half sides; p0: corner radius
            s.a = r * rng.uniform(0.72, 0.92)
            s.b = s.a * rng.uniform(0.45, 1.0)
            s.p0 = s.b * rng.uniform(0, 0.2)
            s.extent = (s.a * s.a + s.b * s.b).squareRoot() + 1
        case .triangle:                                  // jittered, roughly equilateral
            let base = rng.unit()
            for k in 0..<3 {
                let t = base + Float(k) / 3 + rng.uniform(-0.05, 0.05)  // turns
                let rr = r * rng.uniform(0.85, 1.1)
                s.vertexX[k] = rr * DetMath.cosTurns(t)
                s.vertexY[k] = rr * DetMath.sinTurns(t)
            }
            for k in 0..<3 {
                let j = (k + 1) % 3
                let dx = s.vertexX[j] - s.vertexX[k], dy = s.vertexY[j] - s.vertexY[k]
                let len = max((dx * dx + dy * dy).squareRoot(), 1e-6)
                s.normalX[k] = dy / len                  // outward for CCW vertex order
                s.normalY[k] = -dx / len
            }
            s.extent = r * 1.1 + 1
        case .star:                                      // p0: inner/outer ratio, p1: points
            s.p0 = rng.uniform(0.38, 0.55)
            s.p1 = Float(rng.int(5...6))
            s.b = rng.uniform(0.8, 1.0)                  // squash along local y
        case .cross:                                     // a, p0: arm half-lengths; b: half-width
            s.b = r * rng.uniform(0.25, 0.38)
            s.p0 = r * rng.uniform(0.7, 1.0)
            s.extent = r * 1.42 + 1
        case .annulus:                                   // a, b: outer semi-axes; p0: hole ratio
            s.b = r * rng.uniform(0.6, 1.0)
            s.p0 = rng.uniform(0.45, 0.7)
        case .bar:                                       // long thin box: clutter, not a rectangle
            s.b = r * rng.uniform(0.07, 0.16)
        case .crescent:                                  // disc minus offset disc (p0: offset, p1: radius)
            s.p0 = r * rng.uniform(0.35, 0.6)
            s.p1 = r * rng.uniform(0.8, 1.0)
        }
        return s
    }

    /// Signed distance in pixels at offset (x, y) from the centre; negative inside.
    @inline(__always)
    func distance(_ x: Float, _ y: Float) -> Float {
        let lx = cosR * x + sinR * y
        let ly = -sinR * x + cosR * y
        switch kind {
        case .ellipse:
            return Shape.ellipse(lx, ly, a, b)
        case .rectangle:
            return Shape.box(lx, ly, a, b, rounding: p0)
        case .triangle:
            // Max of edge half-plane distances: exact along edges, slightly short near corners.
            let e = (lx - vertexX) * normalX + (ly - vertexY) * normalY
            return max(e[0], max(e[1], e[2]))
        case .star:
            return Shape.star(lx, ly / b, outer: a, innerRatio: p0, points: p1) * b
        case .cross:
            return min(Shape.box(lx, ly, a, b, rounding: 0), Shape.box(lx, ly, b, p0, rounding: 0))
        case .annulus:
            let outer = Shape.ellipse(lx, ly, a, b)
            let inner = Shape.ellipse(lx, ly, a * p0, b * p0)
            return max(outer, -inner)
        case .bar:
            return Shape.box(lx, ly, a, b, rounding: 0)
        case .crescent:
            let disc = (lx * lx + ly * ly).squareRoot() - a
            let bx = lx - p0
            let cut = (bx * bx + ly * ly).squareRoot() - p1
            return max(disc, -cut)
        }
    }

    /// Ellipse distance, Quilez's first-order approximation (exact on the boundary's normal).
    @inline(__always)
    static func ellipse(_ x: Float, _ y: Float, _ a: Float, _ b: Float) -> Float {
        let qx = x / a, qy = y / b
        let k0 = (qx * qx + qy * qy).squareRoot()
        let k1 = ((qx / a) * (qx / a) + (qy / b) * (qy / b)).squareRoot()
        if k1 < 1e-9 { return -min(a, b) }
        return k0 * (k0 - 1) / k1
    }

    /// Exact distance to an axis-aligned box with half sides (a, b) and rounded corners.
    @inline(__always)
    static func box(_ x: Float, _ y: Float, _ a: Float, _ b: Float, rounding: Float) -> Float {
        let qx = abs(x) - (a - rounding), qy = abs(y) - (b - rounding)
        let ox = max(qx, 0), oy = max(qy, 0)
        return (ox * ox + oy * oy).squareRoot() + min(max(qx, qy), 0) - rounding
    }

    /// Polar star: radius(θ) = outer·(inner + (1-inner)·h^1.5), h = (1+cos(nθ))/2, which gives
    /// pointed tips and round valleys. Distance = radial gap over the gradient norm.
    /// cos(nθ), sin(nθ) come from (x + iy)^n / r^n, avoiding atan2 (see DetMath).
    @inline(__always)
    static func star(_ x: Float, _ y: Float, outer: Float, innerRatio: Float, points: Float) -> Float {
        let r = (x * x + y * y).squareRoot()
        if r < 1e-6 { return -outer * innerRatio }
        let c = x / r, s = y / r
        var cn: Float = 1, sn: Float = 0
        for _ in 0..<Int(points) { (cn, sn) = (cn * c - sn * s, cn * s + sn * c) }
        let h = max(0.5 + 0.5 * cn, 0)
        let sh = h.squareRoot()
        let radius = outer * (innerRatio + (1 - innerRatio) * h * sh)
        let slope = outer * (1 - innerRatio) * 1.5 * sh * (-0.5 * sn) * points   // d radius / dθ
        let tangent = slope / max(r, 1)
        return (r - radius) / (1 + tangent * tangent).squareRoot()
    }
}
