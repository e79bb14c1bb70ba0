// The class catalogue: object class c ≥ 1 is one (shape, texture) pair, and colours are drawn
// from distributions that overlap across classes, so only shape *and* texture identify a class.

enum ClassCatalog {
    /// Most classes a dataset can have: background + every (object shape, object texture) pair.
    static let maxClasses = 1 + ShapeKind.objectShapes.count * TextureKind.objectTextures.count

    /// (shape, texture) of object class `c` in 1..<maxClasses. Pairs are enumerated along
    /// diagonals (class k-1: shape k mod 5, texture (k mod 5 + k div 5) mod 4), so the first
    /// classes already share textures (striped-ellipse, striped-cross) and, from class 6 on,
    /// shapes: neither cue alone separates them.
    static func combo(_ c: Int) -> (shape: ShapeKind, texture: TextureKind) {
        precondition(c >= 1 && c < maxClasses, "object class \(c) out of 1..<\(maxClasses)")
        let k = c - 1
        let shapes = ShapeKind.objectShapes, textures = TextureKind.objectTextures
        let s = k % shapes.count
        let t = (s + k / shapes.count) % textures.count
        return (shapes[s], textures[t])
    }

    /// The catalogue class a decoy draw in classes...maxClasses-1 stands for: one of the classes
    /// outside the dataset's 1 + offset ..< classes + offset, one to one (the draw itself when
    /// offset is 0, so datasets without an offset render as before offsets existed).
    static func decoy(_ draw: Int, classes: Int, offset: Int) -> Int {
        guard offset > 0 else { return draw }
        let k = draw - classes + 1
        return k <= offset ? k : k + classes - 1
    }

    static func name(_ c: Int) -> String {
        if c == 0 { return "background" }
        let (shape, texture) = combo(c)
        return "\(texture.adjective)-\(shape.name)"
    }

    /// Hue each class leans towards in a minority of instances (a weak, realistic colour prior,
    /// like "sky is often blue"); golden-ratio spacing keeps the leanings apart.
    static func preferredHue(_ c: Int) -> Float {
        let h = Float(c) * 0.618_034
        return h - h.rounded(.down)
    }
}

/// An RGB colour in [0, 1] (linear mixing is good enough for a synthetic dataset).
struct Colour {
    var r: Float, g: Float, b: Float

    /// HSV → RGB with hue in turns (any real; wrapped), saturation and value in [0, 1].
    static func hsv(_ hue: Float, _ saturation: Float, _ value: Float) -> Colour {
        let h6 = (hue - hue.rounded(.down)) * 6
        let sector = min(Int(h6), 5)
        let f = h6 - Float(sector)
        let p = value * (1 - saturation)
        let q = value * (1 - saturation * f)
        let t = value * (1 - saturation * (1 - f))
        switch sector {
        case 0: return Colour(r: value, g: t, b: p)
        case 1: return Colour(r: q, g: value, b: p)
        case 2: return Colour(r: p, g: value, b: t)
        case 3: return Colour(r: p, g: q, b: value)
        case 4: return Colour(r: t, g: p, b: value)
        default: return Colour(r: value, g: p, b: q)
        }
    }

    func mixed(with other: Colour, _ t: Float) -> Colour {
        Colour(r: r + (other.r - r) * t, g: g + (other.g - g) * t, b: b + (other.b - b) * t)
    }
}

/// The two colours of a textured region.
struct ColourPair {
    var a: Colour, b: Colour

    /// A pair whose values differ by at least `minimumContrast` so the texture stays visible;
    /// the second hue is near the first half the time (tone-on-tone) and free otherwise.
    /// Every class and the background draw from this same distribution; only `hue` may lean.
    static func sample(hue: Float, minimumContrast: Float = 0.3, rng: inout SplitMix64) -> ColourPair {
        let vA = rng.uniform(0.15, 0.95)
        let delta = rng.uniform(minimumContrast, minimumContrast + 0.25)
        let vB = vA > 0.55 ? vA - delta : vA + delta
        let hueB = rng.chance(0.5) ? hue + rng.uniform(-0.08, 0.08) : rng.unit()
        let a = Colour.hsv(hue, rng.uniform(0.1, 0.85), vA)
        let b = Colour.hsv(hueB, rng.uniform(0.1, 0.85), min(max(vB, 0.03), 1))
        // Randomise which colour is the "ink" so dark-on-light and light-on-dark both occur.
        return rng.chance(0.5) ? ColourPair(a: a, b: b) : ColourPair(a: b, b: a)
    }

    /// Shrinks the pair towards its mean: a faint version of a pattern (background decoys).
    func weakened(_ contrast: Float) -> ColourPair {
        let mid = a.mixed(with: b, 0.5)
        return ColourPair(a: mid.mixed(with: a, contrast), b: mid.mixed(with: b, contrast))
    }
}
