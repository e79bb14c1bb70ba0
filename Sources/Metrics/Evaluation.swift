// dcot-eval's entry point: load one or more (config, checkpoint) models, run the inference protocol
// over a shard list (or a folder of new images), accumulate the confusion matrix, write metrics.json,
// prediction PNGs (VOC colour map or Cityscapes labelIds) and overlay panels.
import Checkpoint
import Autograd
import Foundation
import ImageIO
import Models
import NN
import Pipeline
import Shards
import Support
import Tensor

public struct EvaluationOptions: Sendable {
    public var models: [(config: String, checkpoint: String)] = []
    public var shards: String?
    public var list: String?
    public var images: String?
    public var mode = "original"
    public var crop: Int?
    public var cropDCT: Int?
    public var flip = false
    public var scales: [Double] = [1.0]
    public var predictions: String?
    public var overlays: String?
    public var out: String?
    public var cityscapesExport = false
    public var quiet = false

    public init() {}
}

extension EvaluationOptions {
    /// Pairs repeated --config and --checkpoint flags, in order.
    public static func pairModels(configs: [String], checkpoints: [String], program: String) throws -> [(config: String, checkpoint: String)] {
        guard configs.count == checkpoints.count, !configs.isEmpty else {
            throw UserError(program, "got \(configs.count) --config and \(checkpoints.count) --checkpoint",
                            fix: "give one --checkpoint per --config, in the same order")
        }
        return Array(zip(configs, checkpoints)).map { (config: $0.0, checkpoint: $0.1) }
    }

    /// "0.75,1.0,1.25" → [0.75, 1.0, 1.25].
    public static func parseScales(_ text: String) throws -> [Double] {
        guard text.contains(where: { $0 != "," }) else {
            throw UserError("--scales \(text)", "names no scale", fix: "write e.g. 1.0 or 0.75,1.0,1.25")
        }
        return try text.split(separator: ",").map { s in
            guard let v = Double(s), v > 0, v <= maxScale else {
                throw UserError("--scales \(text)", "'\(s)' is not a scale in (0, \(Int(maxScale))]", fix: "write e.g. 0.75,1.0,1.25")
            }
            return v
        }
    }

    /// The largest test scale (the reference's multi-scale tests go to 2).
    public static let maxScale = 4.0
    /// Window sides in pixels (the stride int(2/3 · window) must be at least 1) and on the DCT grid.
    public static let windowRange = 8...4096, dctWindowRange = 2...1024

    /// The window flags (scales are checked when parsed).
    func checkWindows() throws {
        try checkFlag("--crop", crop, in: EvaluationOptions.windowRange, fix: "give the window side in pixels (Cityscapes: 769)")
        try checkFlag("--crop-dct", cropDCT, in: EvaluationOptions.dctWindowRange, fix: "give the window side on the DCT grid (Cityscapes: 193)")
    }
}

public enum Evaluation {
    /// Cityscapes trainId → labelId for benchmark submissions.
    public static let cityscapesLabelIds: [UInt8] = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]

    /// Loads the models and the protocol; with --shards/--list also the reader and the ids.
    public static func prepare(_ o: EvaluationOptions) throws -> (Inference, ShardReader, [String], EvaluationProtocol) {
        let (inference, _, protocolInfo) = try loadModels(o)
        guard let shardDir = o.shards, let listPath = o.list else {
            throw UserError("dcot-eval", "give --shards DIR --list FILE (or --images DIR)", fix: "see --help")
        }
        let reader = try ShardReader(directory: shardDir)
        guard reader.manifest.classes.count == inference.classes else {
            throw UserError("\(shardDir)/\(Manifest.fileName)", "has \(reader.manifest.classes.count) classes but \(o.models.map(\.config).joined(separator: ", ")) predict \(inference.classes)",
                            fix: "use a config for this dataset")
        }
        let entries = try IdList.read(listPath, layout: DatasetLayout(kind: DatasetKind(rawValue: reader.manifest.dataset) ?? .generic,
                                                                      root: reader.manifest.source_root))
        if let e = entries.first(where: { !reader.contains($0.id) }) {
            throw UserError("\(listPath):\(e.line)", "id '\(e.id)' is not in these shards (\(shardDir))",
                            fix: "run dcot-prep over a list that contains it, or fix the line")
        }
        return (inference, reader, entries.map(\.id), protocolInfo)
    }

    static func loadModels(_ o: EvaluationOptions) throws -> (Inference, [ModelConfig], EvaluationProtocol) {
        guard !o.models.isEmpty else {
            throw UserError("dcot-eval", "no model given", fix: "pass --config C.yaml --checkpoint C.safetensors")
        }
        try o.checkWindows()
        var configs = [ModelConfig]()
        var models = [ProbabilityModel]()
        for (configPath, checkpoint) in o.models {
            let c = try ModelConfig.load(configPath)
            let s = try RandomInit.skipping { try Segmentor(config: c) }      // the strict load below sets every parameter
            do {
                try Checkpoint.load(into: s, from: checkpoint)
            } catch let e as CheckpointMismatch {
                throw UserError(checkpoint, "does not match \(configPath) (\(e.description))",
                                fix: "pair each --checkpoint with the --config it was trained with")
            }
            configs.append(c)
            models.append(SegmentorModel(s))
        }
        guard Set(models.map(\.classes)).count == 1 else {
            throw UserError("dcot-eval", "the models predict different class counts \(models.map(\.classes))",
                            fix: "ensemble only models of one dataset")
        }
        let mode = try inferenceMode(o, configs[0])
        let protocolInfo = EvaluationProtocol(
            mode: mode.name, window: windowOf(mode), stride: windowOf(mode).map(InferenceMode.stride), scales: o.scales,
            flip: o.flip, models: o.models.map { .init(config: $0.config, checkpoint: $0.checkpoint) })
        return (Inference(models: models, options: InferenceOptions(mode: mode, scales: o.scales, flip: o.flip)), configs, protocolInfo)
    }

    /// Runs the evaluation; returns the printed summary (table or prediction count).
    public static func run(_ o: EvaluationOptions) throws -> String {
        for dir in [o.predictions, o.overlays].compactMap({ $0 }) { try makeDirectory(dir) }
        if let folder = o.images { return try predictFolder(folder, try loadModels(o).0, o) }
        let (inference, reader, ids, protocolInfo) = try prepare(o)
        let listPath = o.list ?? ""
        let classNames = reader.manifest.classes.names
        let palette = reader.manifest.classes.palette.flatMap { $0.map { UInt8(clamping: $0) } }
        var matrix = ConfusionMatrix(classes: inference.classes)
        // Under mpirun/srun each rank takes every R-th id; the matrices sum exactly (Int64).
        let mine = itemsForThisRank(ids)
        let progress = Progress(total: mine.count, label: "dcot-eval", quiet: o.quiet || Replicas.rank != 0)
        for id in mine {
            let s = try reader.sample(id)
            guard let image = s.image, let label = s.label else {
                throw UserError("\(listPath)", "sample '\(id)' has no label in the shards",
                                fix: "evaluate labelled samples, or use --images DIR to only predict")
            }
            let p = try inference.predict(image: image, dct: s.dct)
            let gt = p.scored(label)
            matrix.add(prediction: p.labels, target: gt.labels)
            try writeOutputs(id: id, pred: p.labelImage, gt: gt, image: p.scored(image), palette: palette, o)
            progress.advance()
        }
        progress.finish()
        matrix = matrix.summedOverRanks()
        if let out = o.out, Replicas.rank == 0 {
            try EvaluationReport(matrix: matrix, classNames: classNames, protocol: protocolInfo).write(to: out)
        }
        return EvaluationReport.table(matrix, classNames: classNames, protocol: protocolInfo)
    }

    static func inferenceMode(_ o: EvaluationOptions, _ c: ModelConfig) throws -> InferenceMode {
        let crop = o.crop ?? c.cropSize
        switch o.mode {
        case "original": return .original
        case "center_crop", "sliding_window":
            guard let crop else {
                throw UserError("--mode \(o.mode)", "needs a window size", fix: "pass --crop S (or set crop_size in the config)")
            }
            if o.mode == "center_crop" { return .centerCrop(crop) }
            return .slidingWindow(window: crop, dctWindow: o.cropDCT ?? c.cropSizeDct ?? (crop + 3) / 4)
        default:
            throw UserError("--mode \(o.mode)", "unknown evaluation mode", fix: "use original, center_crop or sliding_window")
        }
    }

    static func windowOf(_ m: InferenceMode) -> Int? {
        switch m {
        case .original: return nil
        case .centerCrop(let s): return s
        case .slidingWindow(let w, _): return w
        }
    }

    static func writeOutputs(id: String, pred: LabelImage, gt: LabelImage?, image: RGBImage, palette: [UInt8],
                             _ o: EvaluationOptions) throws {
        if let dir = o.predictions {
            if o.cityscapesExport {
                let ids = pred.labels.map { $0 < cityscapesLabelIds.count ? cityscapesLabelIds[Int($0)] : 0 }
                try AtomicFile.write(try PNG.write(pixels: ids, width: pred.width, height: pred.height, channels: 1),
                                     to: "\(dir)/\(id)_leftImg8bit.png")
            } else {
                var full = palette
                if full.count < 256 * 3 { full += VOCPalette.rgb[full.count...] }
                try AtomicFile.write(try PNG.writePalette(pred, palette: full), to: "\(dir)/\(id).png")
            }
        }
        if let dir = o.overlays {
            try AtomicFile.write(try overlayPanel(image: image, gt: gt, pred: pred, palette: palette), to: "\(dir)/\(id).png")
        }
    }

    /// image | ground truth | prediction side by side (ignore pixels white), as an RGB PNG.
    static func overlayPanel(image: RGBImage, gt: LabelImage?, pred: LabelImage, palette: [UInt8]) throws -> [UInt8] {
        let w = image.width, h = image.height
        let panels = gt == nil ? 2 : 3
        var px = [UInt8](repeating: 255, count: w * panels * h * 3)
        func colour(_ v: UInt8) -> (UInt8, UInt8, UInt8) {
            let i = Int(v)
            if v == 255 || 3 * i + 2 >= palette.count { return (255, 255, 255) }
            return (palette[3 * i], palette[3 * i + 1], palette[3 * i + 2])
        }
        for y in 0..<h {
            for x in 0..<w {
                let src = (y * w + x) * 3, row = y * w * panels
                for c in 0..<3 { px[(row + x) * 3 + c] = image.pixels[src + c] }
                var p = 1
                if let gt {
                    let (r, g, b) = colour(gt.labels[y * w + x])
                    px[(row + w + x) * 3] = r; px[(row + w + x) * 3 + 1] = g; px[(row + w + x) * 3 + 2] = b
                    p = 2
                }
                let (r, g, b) = colour(pred.labels[y * w + x])
                let o = (row + p * w + x) * 3
                px[o] = r; px[o + 1] = g; px[o + 2] = b
            }
        }
        return try PNG.write(pixels: px, width: w * panels, height: h, channels: 3)
    }

    /// --images DIR: predict every JPEG/PNG in a folder (no labels, no prep).
    static func predictFolder(_ folder: String, _ inference: Inference, _ o: EvaluationOptions) throws -> String {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !files.isEmpty else { throw UserError(folder, "contains no .jpg or .png images", fix: "point --images at a folder of images") }
        guard o.predictions != nil || o.overlays != nil else {
            throw UserError("--images", "nothing to write", fix: "add --predictions DIR and/or --overlays DIR")
        }
        let codec = JPEGCodec()
        for f in files {
            let path = "\(folder)/\(f)"
            let image = try SampleDecoding.image(try readFileBytes(path, what: "image"), path: path, codec: codec)
            let p = try inference.predict(image: image)
            try writeOutputs(id: IdList.id(ofImagePath: f), pred: p.labelImage, gt: nil, image: p.scored(image),
                             palette: VOCPalette.rgb, o)
        }
        return "dcot-eval: predicted \(files.count) images from \(folder)"
    }
}
