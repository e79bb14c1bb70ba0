// The raster being rendered: rgb [H, W, 3] Float in [0, 1] (row-major, interleaved) and a hard
// label map [H, W] UInt8. Pixel (x, y) has its centre at (x + 0.5, y + 0.5).

/// Label value for "ignore" (VOC's boundary band).
let ignoreLabel: UInt8 = 255

/// A shape filled with a texture, with a linear shading ramp, painted with class `label`.
struct Layer {
    var shape: Shape
    var texture: Texture
    var colours: ColourPair
    var shadeX: Float, shadeY: Float  // brightness change per pixel along x and y (lighting)
    var label: UInt8
}

struct Canvas {
    let width: Int, height: Int
    var rgb: [Float]
    var label: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        rgb = [Float](repeating: 0, count: width * height * 3)
        label = [UInt8](repeating: 0, count: width * height)
    }

    /// Background: a two-colour linear gradient plus two octaves of per-channel value noise.
    mutating func paintBackground(scale: Float, rng: inout SplitMix64) {
        let pair = ColourPair.sample(hue: rng.unit(), minimumContrast: 0.05, rng: &rng)
        let turns = rng.unit()
        let long = Float(max(width, height))
        let gx = DetMath.cosTurns(turns) / long, gy = DetMath.sinTurns(turns) / long
        let amplitude = rng.uniform(0.06, 0.2)
        // Per-channel coarse (24–48 px) and fine (6–12 px) octaves, at 128-px scale.
        func octave(_ lo: Float, _ hi: Float) -> ValueNoise {
            ValueNoise(key: rng.subKey(), cell: rng.uniform(lo, hi) * scale)
        }
        let (coarseR, coarseG, coarseB) = (octave(24, 48), octave(24, 48), octave(24, 48))
        let (fineR, fineG, fineB) = (octave(6, 12), octave(6, 12), octave(6, 12))
        let w = width, h = height
        rgb.withUnsafeMutableBufferPointer { px in
            for y in 0..<h {
                let fy = Float(y) + 0.5
                for x in 0..<w {
                    let fx = Float(x) + 0.5
                    let t = Texture.clamp01(0.5 + (fx - Float(w) / 2) * gx + (fy - Float(h) / 2) * gy)
                    let c = pair.a.mixed(with: pair.b, t)
                    let i = (y * w + x) * 3
                    px[i] = c.r + amplitude * (coarseR.value(fx, fy) + 0.5 * fineR.value(fx, fy) - 0.75)
                    px[i + 1] = c.g + amplitude * (coarseG.value(fx, fy) + 0.5 * fineG.value(fx, fy) - 0.75)
                    px[i + 2] = c.b + amplitude * (coarseB.value(fx, fy) + 0.5 * fineB.value(fx, fy) - 0.75)
                }
            }
        }
    }

    /// Paints a layer over everything before it: RGB by analytic coverage (clamp(0.5 - d, 0, 1),
    /// a 1-px anti-aliased edge), label by the pixel-centre inside test (d < 0), so later layers
    /// occlude earlier ones in both.
    mutating func paint(_ layer: Layer) {
        let s = layer.shape
        let x0 = max(0, Int((s.centreX - s.extent).rounded(.down)))
        let x1 = min(width - 1, Int((s.centreX + s.extent).rounded(.up)))
        let y0 = max(0, Int((s.centreY - s.extent).rounded(.down)))
        let y1 = min(height - 1, Int((s.centreY + s.extent).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let w = width
        let tex = layer.texture, a = layer.colours.a, b = layer.colours.b
        rgb.withUnsafeMutableBufferPointer { px in
            label.withUnsafeMutableBufferPointer { lab in
                for y in y0...y1 {
                    let dy = Float(y) + 0.5 - s.centreY
                    for x in x0...x1 {
                        let dx = Float(x) + 0.5 - s.centreX
                        let d = s.distance(dx, dy)
                        if d >= 0.5 { continue }
                        let coverage = min(0.5 - d, 1)
                        let t = tex.value(dx, dy)
                        let shade = 1 + layer.shadeX * dx + layer.shadeY * dy
                        let i = y * w + x
                        let r = (a.r + (b.r - a.r) * t) * shade
                        let g = (a.g + (b.g - a.g) * t) * shade
                        let bl = (a.b + (b.b - a.b) * t) * shade
                        px[3 * i] += (r - px[3 * i]) * coverage
                        px[3 * i + 1] += (g - px[3 * i + 1]) * coverage
                        px[3 * i + 2] += (bl - px[3 * i + 2]) * coverage
                        if d < 0 { lab[i] = layer.label }
                    }
                }
            }
        }
    }

    /// VOC-style ignore band: a pixel becomes 255 when a 4-neighbour has a different class, so
    /// every boundary between classes (object/background or object/object) gets a ~2-px band.
    mutating func markBoundaries() {
        let w = width, h = height
        let source = label
        label.withUnsafeMutableBufferPointer { lab in
            source.withUnsafeBufferPointer { src in
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x, c = src[i]
                        if (x > 0 && src[i - 1] != c) || (x + 1 < w && src[i + 1] != c)
                            || (y > 0 && src[i - w] != c) || (y + 1 < h && src[i + w] != c) {
                            lab[i] = ignoreLabel
                        }
                    }
                }
            }
        }
    }

    /// Global camera response: per-channel gain (colour cast), contrast and brightness.
    mutating func adjustColour(rng: inout SplitMix64) {
        let contrast = rng.uniform(0.8, 1.15), brightness = rng.uniform(-0.06, 0.06)
        let gains = (0..<3).map { _ in 1 + 0.06 * rng.fastNormal() }
        let n = width * height
        rgb.withUnsafeMutableBufferPointer { px in
            for i in 0..<n {
                for c in 0..<3 {
                    px[3 * i + c] = ((px[3 * i + c] - 0.5) * contrast + 0.5 + brightness) * gains[c]
                }
            }
        }
    }

    /// Separable Gaussian blur (edges clamped), radius ceil(2.5 sigma).
    mutating func blur(sigma: Float) {
        let radius = Int((2.5 * sigma).rounded(.up))
        guard radius >= 1 else { return }
        var kernel = (-radius...radius).map { DetMath.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let w = width, h = height
        var temp = [Float](repeating: 0, count: rgb.count)
        rgb.withUnsafeMutableBufferPointer { px in
            temp.withUnsafeMutableBufferPointer { tmp in
                kernel.withUnsafeBufferPointer { k in
                    for y in 0..<h {                     // horizontal: px → tmp
                        for x in 0..<w {
                            var r: Float = 0, g: Float = 0, b: Float = 0
                            for j in -radius...radius {
                                let xx = min(max(x + j, 0), w - 1)
                                let i = (y * w + xx) * 3, kk = k[j + radius]
                                r += kk * px[i]; g += kk * px[i + 1]; b += kk * px[i + 2]
                            }
                            let o = (y * w + x) * 3
                            tmp[o] = r; tmp[o + 1] = g; tmp[o + 2] = b
                        }
                    }
                    for y in 0..<h {                     // vertical: tmp → px
                        for x in 0..<w {
                            var r: Float = 0, g: Float = 0, b: Float = 0
                            for j in -radius...radius {
                                let yy = min(max(y + j, 0), h - 1)
                                let i = (yy * w + x) * 3, kk = k[j + radius]
                                r += kk * tmp[i]; g += kk * tmp[i + 1]; b += kk * tmp[i + 2]
                            }
                            let o = (y * w + x) * 3
                            px[o] = r; px[o + 1] = g; px[o + 2] = b
                        }
                    }
                }
            }
        }
    }

    /// Additive sensor noise: Gaussian per channel plus a shared (luminance) component.
    mutating func addNoise(sigma: Float, rng: inout SplitMix64) {
        guard sigma > 0 else { return }
        let n = width * height
        rgb.withUnsafeMutableBufferPointer { px in
            for i in 0..<n {
                let shared = 0.5 * sigma * rng.fastNormal()
                for c in 0..<3 { px[3 * i + c] += shared + sigma * rng.fastNormal() }
            }
        }
    }

    /// RGB as bytes, clamped and rounded.
    func bytes() -> [UInt8] {
        rgb.map { UInt8(min(max($0, 0), 1) * 255 + 0.5) }
    }
}
