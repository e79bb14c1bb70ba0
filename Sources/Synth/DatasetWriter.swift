// Writes a rendered dataset in the VOC layout: JPEGImages/<id>.jpg, SegmentationClass/<id>.png
// (VOC palette), train.txt and val.txt in the reference line format, and classes.json.
import Foundation
import ImageIO
import Support

public struct SynthWriteOptions: Sendable {
    public var config: SynthConfig
    public var train: Int
    public var val: Int
    public var out: String
    public var jobs: Int
    public var quiet: Bool

    public init(config: SynthConfig, train: Int, val: Int, out: String, jobs: Int = ParallelWork.cores, quiet: Bool = false) {
        self.config = config
        self.train = train
        self.val = val
        self.out = out
        self.jobs = jobs
        self.quiet = quiet
    }
}

public struct SynthWriteSummary: Sendable, CustomStringConvertible {
    public var train = 0
    public var val = 0
    public var classes = 0
    public var out = ""
    public var seconds = 0.0
    public var description: String {
        String(format: "dcot-synth: %d train + %d val images, %d classes (background included), %.1f s → %@",
               train, val, classes, seconds, out)
    }
}

public enum SynthDataset {
    public static func sampleId(split: String, index: Int) -> String { String(format: "%@_%05d", split, index) }

    public static func write(_ o: SynthWriteOptions) throws -> SynthWriteSummary {
        guard (2...SynthRenderer.maxClasses).contains(o.config.classes) else {
            throw UserError("--classes \(o.config.classes)", "must be between 2 and \(SynthRenderer.maxClasses) (background included)",
                            fix: "choose a class count in that range")
        }
        guard o.config.classOffset >= 0, o.config.classes + o.config.classOffset <= SynthRenderer.maxClasses else {
            throw UserError("--class-offset \(o.config.classOffset)",
                            "with --classes \(o.config.classes) it must be between 0 and \(SynthRenderer.maxClasses - o.config.classes)",
                            fix: "lower --class-offset or --classes (the catalogue has \(SynthRenderer.maxClasses - 1) object classes)")
        }
        guard o.config.size >= 32, o.config.size <= 4096 else {
            throw UserError("--size \(o.config.size)", "must be between 32 and 4096", fix: "choose another size")
        }
        guard o.train >= 1, o.val >= 0 else {
            throw UserError("dcot-synth", "--train must be at least 1 and --val at least 0", fix: "pass positive counts")
        }
        try checkOutput(o.out)
        let start = Date()
        try makeDirectory("\(o.out)/JPEGImages")
        try makeDirectory("\(o.out)/SegmentationClass")
        let jobs = [(split: "train", count: o.train), (split: "val", count: o.val)]
            .flatMap { j in (0..<j.count).map { (j.split, $0) } }
        let progress = Progress(total: jobs.count, label: "dcot-synth", quiet: o.quiet)
        let lines = try ParallelWork.map(jobs.count, jobs: o.jobs) { i -> String in
            let (split, index) = jobs[i]
            let sample = SynthRenderer.render(o.config, split: split, index: index)
            let id = sampleId(split: split, index: index)
            let codec = JPEGCodec()
            let jpeg = try codec.encode(RGBImage(width: sample.width, height: sample.height, pixels: sample.rgb),
                                        quality: sample.jpegQuality, subsampling: .s420)
            let png = try PNG.writePalette(LabelImage(width: sample.width, height: sample.height, labels: sample.label))
            try AtomicFile.write(jpeg, to: "\(o.out)/JPEGImages/\(id).jpg")
            try AtomicFile.write(png, to: "\(o.out)/SegmentationClass/\(id).png")
            progress.advance()
            return "JPEGImages/\(id).jpg SegmentationClass/\(id).png"
        }
        progress.finish()
        try AtomicFile.write(lines.prefix(o.train).joined(separator: "\n") + "\n", to: "\(o.out)/train.txt")
        try AtomicFile.write(lines.suffix(o.val).joined(separator: "\n") + (o.val > 0 ? "\n" : ""), to: "\(o.out)/val.txt")
        try AtomicFile.write(classesJSON(o.config.classes, offset: o.config.classOffset), to: "\(o.out)/classes.json")
        try AtomicFile.write(settingsJSON(o), to: "\(o.out)/synth.json")
        var s = SynthWriteSummary()
        s.train = o.train
        s.val = o.val
        s.classes = o.config.classes
        s.out = o.out
        s.seconds = Date().timeIntervalSince(start)
        return s
    }

    /// synth.json (format dcot-synth): every setting the images depend on, so a dataset says how it
    /// was made (the demo's check datasets and pretraining sets differ only in these).
    static func settingsJSON(_ o: SynthWriteOptions) -> String {
        let c = o.config
        return """
        {
          "format": "dcot-synth",
          "version": 1,
          "classes": \(c.classes),
          "class_offset": \(c.classOffset),
          "size": \(c.size),
          "seed": \(c.seed),
          "decoys": \(c.decoys),
          "train": \(o.train),
          "val": \(o.val)
        }

        """
    }

    /// classes.json (format dcot-classes): names and the VOC colours of indices 0..K-1.
    public static func classesJSON(_ count: Int, offset: Int = 0) -> String {
        let names = SynthRenderer.classNames(count: count, offset: offset)
        let pal = VOCPalette.rgb
        let palette = (0..<count).map { "[\(pal[3 * $0]), \(pal[3 * $0 + 1]), \(pal[3 * $0 + 2])]" }
        return """
        {
          "format": "dcot-classes",
          "version": 1,
          "names": [\(names.map { "\"\($0)\"" }.joined(separator: ", "))],
          "palette": [\(palette.joined(separator: ", "))],
          "ignore_index": 255
        }

        """
    }

    /// A new or empty directory, or an earlier dcot-synth output (recognised by its classes.json).
    static func checkOutput(_ out: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw UserError(out, "exists and is not a directory", fix: "choose another --out") }
        let contents = (try? fm.contentsOfDirectory(atPath: out)) ?? []
        if contents.isEmpty { return }
        let classes = "\(out)/classes.json"
        if let data = fm.contents(atPath: classes), let text = String(data: data, encoding: .utf8),
           text.contains("\"dcot-classes\""), fm.fileExists(atPath: "\(out)/JPEGImages") {
            return
        }
        throw UserError(out, "is not empty and is not a dcot-synth dataset",
                        fix: "choose a new or empty --out directory; dcot-synth only overwrites its own output")
    }
}
