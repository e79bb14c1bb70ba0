// Scene composition for one image: textured background, clutter, 1–4 objects painted in order
// (later layers occlude earlier ones, labels included), ignore band, then camera effects.
// Sizes are stated for a 128-px image and scale with `size`.

enum Scene {
    /// Probabilities of 1, 2, 3, 4 objects per image.
    static let objectCountWeights: [Float] = [0.2, 0.35, 0.3, 0.15]
    /// Clutter patches per image; some are painted in front of the objects (occluders).
    static let clutterCount = 3...7
    static let clutterInFrontProbability: Float = 0.3
    /// Object radius as a fraction of the long side.
    static let objectRadius: (Float, Float) = (0.11, 0.26)
    static let clutterRadius: (Float, Float) = (0.06, 0.22)
    /// Share of objects whose hue leans towards their class hue (the rest is uniform).
    static let classHueProbability: Float = 0.35

    static func render(classes: Int, offset: Int = 0, decoys: Bool = true, size: Int, rng: inout SplitMix64) -> SynthSample {
        // VOC-like framing: long side = size, the other 0.75–1.0 of it, mostly landscape.
        let short = Int((Float(size) * rng.uniform(0.75, 1.0)).rounded())
        let landscape = rng.chance(0.65)
        let width = landscape ? size : short, height = landscape ? short : size
        let scale = Float(size) / 128
        var canvas = Canvas(width: width, height: height)
        canvas.paintBackground(scale: scale, rng: &rng)

        let objectCount = 1 + rng.weighted(objectCountWeights)
        var behind = [Layer](), inFront = [Layer]()
        var decoyCount = 0
        for _ in 0..<rng.int(clutterCount) {
            let (layer, decoy) = clutter(classes: classes, offset: offset, decoys: decoys, size: size, width: width,
                                         height: height, rng: &rng)
            if decoy { decoyCount += 1 }
            if rng.chance(clutterInFrontProbability) { inFront.append(layer) } else { behind.append(layer) }
        }
        var objects = [Layer]()
        for _ in 0..<objectCount {
            objects.append(object(classes: classes, offset: offset, size: size, width: width, height: height, rng: &rng))
        }
        for layer in behind + objects + inFront { canvas.paint(layer) }
        canvas.markBoundaries()

        // Camera: colour response, optical blur (30% sharp), sensor noise; JPEG is the writer's.
        canvas.adjustColour(rng: &rng)
        if !rng.chance(0.3) { canvas.blur(sigma: rng.uniform(0.4, 1.1) * scale) }
        canvas.addNoise(sigma: rng.uniform(0.004, 0.04), rng: &rng)
        let quality = rng.int(60...95)
        return SynthSample(width: width, height: height, rgb: canvas.bytes(), label: canvas.label,
                           jpegQuality: quality, decoys: decoyCount)
    }

    /// An object of a uniformly drawn class: its class's shape and texture with random size,
    /// aspect, rotation, pattern frequency/orientation/phase, colours and shading.
    static func object(classes: Int, offset: Int, size: Int, width: Int, height: Int,
                       rng: inout SplitMix64) -> Layer {
        let cls = rng.int(1...(classes - 1))
        let (shapeKind, textureKind) = ClassCatalog.combo(cls + offset)
        let radius = rng.uniform(objectRadius.0, objectRadius.1) * Float(size)
        let hue = rng.chance(classHueProbability)
            ? ClassCatalog.preferredHue(cls + offset) + rng.uniform(-0.06, 0.06) : rng.unit()
        return layer(shapeKind, textureKind, radius: radius, hue: hue, contrast: 1, label: UInt8(cls),
                     size: size, width: width, height: height, rng: &rng)
    }

    /// Background clutter (label 0), built so that neither cue alone means "object":
    ///  - 45%: an object shape with a clutter texture (flat, shaded, blotchy, ringed), or a faint
    ///    (10–25% contrast) object texture, or, when K < 21 and `decoys`, a "decoy" with the
    ///    full-contrast shape/texture pair of a catalogue class this dataset does not have (without
    ///    decoys that share goes to the faint textures); the Bool says whether it is a decoy;
    ///  - 55%: a clutter shape (annulus, bar, crescent) with an object texture half the time.
    static func clutter(classes: Int, offset: Int, decoys: Bool, size: Int, width: Int, height: Int,
                        rng: inout SplitMix64) -> (Layer, Bool) {
        let radius = rng.uniform(clutterRadius.0, clutterRadius.1) * Float(size)
        var shapeKind: ShapeKind, textureKind: TextureKind
        var contrast: Float = 1
        var decoy = false
        if rng.chance(0.45) {
            let roll = rng.unit()
            if decoys && classes < ClassCatalog.maxClasses && roll < 0.12 {
                decoy = true
                let draw = rng.int(classes...(ClassCatalog.maxClasses - 1))
                (shapeKind, textureKind) = ClassCatalog.combo(ClassCatalog.decoy(draw, classes: classes, offset: offset))
            } else if roll < 0.35 {
                shapeKind = ShapeKind.objectShapes[rng.int(0...4)]
                textureKind = TextureKind.objectTextures[rng.int(0...3)]
                contrast = rng.uniform(0.1, 0.25)
            } else {
                shapeKind = ShapeKind.objectShapes[rng.int(0...4)]
                textureKind = TextureKind.clutterTextures[rng.int(0...3)]
            }
        } else {
            shapeKind = ShapeKind.clutterShapes[rng.int(0...2)]
            textureKind = rng.chance(0.5) ? TextureKind.objectTextures[rng.int(0...3)]
                                          : TextureKind.clutterTextures[rng.int(0...3)]
        }
        return (layer(shapeKind, textureKind, radius: radius, hue: rng.unit(), contrast: contrast, label: 0,
                      size: size, width: width, height: height, rng: &rng), decoy)
    }

    /// Places a shape (centre anywhere in the middle 80%, so objects may be cut by the frame),
    /// samples its texture and colours, and a lighting ramp of up to ±30% across it.
    static func layer(_ shapeKind: ShapeKind, _ textureKind: TextureKind, radius: Float, hue: Float,
                      contrast: Float, label: UInt8, size: Int, width: Int, height: Int,
                      rng: inout SplitMix64) -> Layer {
        let scale = Float(size) / 128
        let cx = rng.uniform(0.1, 0.9) * Float(width), cy = rng.uniform(0.1, 0.9) * Float(height)
        let shape = Shape.sample(shapeKind, cx: cx, cy: cy, radius: radius, rng: &rng)
        let texture = Texture.sample(textureKind, scale: scale, extent: shape.extent, rng: &rng)
        var colours = ColourPair.sample(hue: hue, rng: &rng)
        if contrast < 1 { colours = colours.weakened(contrast) }
        let strength = rng.uniform(0, 0.3) / shape.extent, turns = rng.unit()
        return Layer(shape: shape, texture: texture, colours: colours,
                     shadeX: strength * DetMath.cosTurns(turns), shadeY: strength * DetMath.sinTurns(turns),
                     label: label)
    }
}
