// Public API of the procedural segmentation dataset behind dcot-synth: one sample is
// rgb [H, W, 3] UInt8 + label [H, W] UInt8 (0 = background, 1..K-1 objects, 255 = ignore band),
// a pure function of (config, split, index).

/// What to render. `classes` counts background, so K = 6 means five object classes.
public struct SynthConfig: Sendable, Equatable {
    /// K, background included: 2...21 (20 = five object shapes × four object textures).
    public var classes: Int
    /// Long side in pixels; the short side is 0.75–1.0 of it. Patterns scale with it (128 = 1×).
    public var size: Int
    public var seed: UInt64
    /// Object class c draws the catalogue's class c + classOffset, so a dataset with an offset has
    /// object classes disjoint from one without (a stand-in for pretraining on other classes, as
    /// ImageNet is for VOC). 0 (the default) keeps the catalogue's first K - 1 classes.
    public var classOffset: Int
    /// Background clutter may wear the full-contrast shape and texture of a catalogue class the
    /// dataset does not have ("decoys", labelled background: what makes an object is the pair, not
    /// either cue). False leaves them out, so a pretraining set does not teach that other datasets'
    /// classes are background (`dcot-synth --no-decoys`).
    public var decoys: Bool

    public init(classes: Int = 6, size: Int = 128, seed: UInt64 = 0, classOffset: Int = 0, decoys: Bool = true) {
        self.classes = classes
        self.size = size
        self.seed = seed
        self.classOffset = classOffset
        self.decoys = decoys
    }
}

/// One rendered image and its label map.
public struct SynthSample: Sendable {
    public let width: Int
    public let height: Int
    /// [height, width, 3], row-major, interleaved RGB.
    public let rgb: [UInt8]
    /// [height, width]: 0 = background, 1..<classes = objects, 255 = ignore (class boundaries).
    public let label: [UInt8]
    /// JPEG quality the writer should encode this image with (60...95): compression artefacts
    /// are part of the augmentation, so they vary per image and are deterministic too.
    public let jpegQuality: Int
    /// Clutter layers painted as decoys (other catalogue classes, labelled background).
    public let decoys: Int

    public init(width: Int, height: Int, rgb: [UInt8], label: [UInt8], jpegQuality: Int, decoys: Int = 0) {
        precondition(rgb.count == width * height * 3 && label.count == width * height)
        self.width = width
        self.height = height
        self.rgb = rgb
        self.label = label
        self.jpegQuality = jpegQuality
        self.decoys = decoys
    }
}

public enum SynthRenderer {
    /// Most classes supported (background + 20 object classes).
    public static let maxClasses = ClassCatalog.maxClasses

    /// Renders image `index` of `split` ("train", "val", or any other name: the split only keys
    /// the random stream). Thread-safe and order-independent: no global state.
    public static func render(_ config: SynthConfig, split: String, index: Int) -> SynthSample {
        precondition((2...maxClasses).contains(config.classes),
                     "classes must be in 2...\(maxClasses), got \(config.classes)")
        precondition(config.size >= 16, "size must be at least 16, got \(config.size)")
        precondition(config.classOffset >= 0 && config.classes + config.classOffset <= maxClasses,
                     "classes + classOffset must be at most \(maxClasses)")
        var rng = SplitMix64(key: imageKey(seed: config.seed, split: split, index: index))
        return Scene.render(classes: config.classes, offset: config.classOffset, decoys: config.decoys, size: config.size, rng: &rng)
    }

    /// The catalogue class (1...20) a decoy draw in classes...20 paints: always one that is not
    /// an object class of a dataset with `classes` and `offset`.
    public static func decoyClass(draw: Int, classes: Int, offset: Int) -> Int {
        ClassCatalog.decoy(draw, classes: classes, offset: offset)
    }

    /// Class names for a K-class dataset: "background", then "<texture>-<shape>" such as
    /// "striped-ellipse", "checkered-rectangle", "dotted-triangle", "speckled-star".
    public static func classNames(count: Int, offset: Int = 0) -> [String] {
        precondition((1...maxClasses).contains(count + offset), "count + offset must be in 1...\(maxClasses), got \(count + offset)")
        return (0..<count).map { ClassCatalog.name($0 == 0 ? 0 : $0 + offset) }
    }
}
