// dcot-pseudo: pseudo-labels of an id list as shards (`<id>/label` U8 with pixels below the confidence
// threshold set to 255, `<id>/confidence` U8 = round(255 · max probability)) plus a manifest that
// records the checkpoints, the protocol, the threshold and a class histogram. dcot-train reads such a
// directory as the labels of those ids (self-training rounds chain through files).
import Foundation
import ImageIO
import Pipeline
import Shards
import Support

public struct PseudoLabelOptions: Sendable {
    public var evaluation = EvaluationOptions()
    public var out = ""
    public var threshold = 0.0
    public var png = false
    public var shardMB = 256.0
    /// ST++ selection: checkpoints of the first model's config in training order (the last is the
    /// reference), and the most stable fraction of the list written to reliable.txt.
    public var stability: [String] = []
    public var reliableFraction = 0.5
    public init() {}
}

public enum PseudoLabels {
    public static func run(_ o: PseudoLabelOptions) throws -> String {
        guard (0.0...1.0).contains(o.threshold) else {
            throw UserError("--threshold \(o.threshold)", "must be in [0, 1]", fix: "pass a confidence such as 0.95")
        }
        guard o.evaluation.mode != "center_crop" else {
            throw UserError("--mode center_crop", "labels only the centre of each image", fix: "use original or sliding_window for pseudo-labels")
        }
        var eo = o.evaluation
        eo.predictions = nil
        eo.overlays = nil
        let (inference, reader, ids, protocolInfo) = try Evaluation.prepare(eo)
        guard o.stability.isEmpty || o.stability.count >= 2 else {
            throw UserError("--stability \(o.stability[0])", "needs at least two checkpoints (earlier ones and the last)",
                            fix: "pass the teacher's snapshots in training order, e.g. snapshot-m1-it*.safetensors")
        }
        guard o.reliableFraction > 0 && o.reliableFraction <= 1 else {
            throw UserError("--reliable-fraction \(o.reliableFraction)", "must be in (0, 1]", fix: "ST++ keeps half: 0.5")
        }
        let snapshots = try o.stability.map { checkpoint -> Inference in
            var so = eo
            so.models = [(eo.models[0].config, checkpoint)]
            return try Evaluation.loadModels(so).0
        }
        var stabilities = [Double]()
        let protocolSummary = protocolInfo.summary
        try Prep.checkOutputDirectory(o.out)
        try makeDirectory(o.out)
        try? FileManager.default.removeItem(atPath: "\(o.out)/\(Manifest.fileName)")
        if o.png { try makeDirectory("\(o.out)/png") }
        let k = inference.classes
        var histogram = [Int64](repeating: 0, count: k + 1)
        var output = ShardAccumulator(directory: o.out, dataset: reader.manifest.dataset, targetBytes: Int(o.shardMB * 1e6))
        let progress = Progress(total: ids.count, label: "dcot-pseudo", quiet: eo.quiet)
        for id in ids {
            let s = try reader.sample(id)
            guard let image = s.image else { throw UserError(reader.directory, "sample '\(id)' has no image", fix: "rerun dcot-prep") }
            let n = image.width * image.height
            let prediction = try inference.predict(image: image, dct: s.dct)
            if !snapshots.isEmpty {
                let maps = try snapshots.map { try $0.predict(image: image, dct: s.dct).labels }
                stabilities.append(Reliability.stability(maps, classes: k))
            }
            var labels = prediction.labels
            let conf = prediction.confidence
            var confidence = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                confidence[i] = UInt8((min(max(conf[i], 0), 1) * 255).rounded())
                if Double(conf[i]) < o.threshold { labels[i] = 255 }
                histogram[labels[i] == 255 ? k : Int(labels[i])] += 1
            }
            let tensors = [SampleTensor(key: "label", dtype: .U8, shape: [image.height, image.width], bytes: labels),
                           SampleTensor(key: "confidence", dtype: .U8, shape: [image.height, image.width], bytes: confidence)]
            try output.add(EncodedSample(id: id, tensors: tensors),
                           Manifest.Sample(shard: "", offset: 0, length: 0, height: image.height, width: image.width, has_label: true,
                                           has_dct: false, source_sha256: reader.manifest.samples[id]?.source_sha256 ?? ""))
            if o.png {
                let lab = LabelImage(width: image.width, height: image.height, labels: labels)
                try AtomicFile.write(try PNG.writePalette(lab), to: "\(o.out)/png/\(id).png")
                try AtomicFile.write(try PNG.write(pixels: confidence, width: image.width, height: image.height, channels: 1),
                                     to: "\(o.out)/png/\(id)_confidence.png")
            }
            progress.advance()
        }
        try output.flush()
        progress.finish()
        var m = Manifest(dataset: reader.manifest.dataset, classes: reader.manifest.classes, sourceRoot: reader.manifest.source_root,
                         createdBy: CommandLine.arguments.joined(separator: " "), shards: output.shards,
                         samples: output.samples, inputsSHA256: nil)
        m.pseudo = .init(checkpoints: eo.models.map(\.checkpoint), configs: eo.models.map(\.config), protocol: protocolSummary,
                         threshold: o.threshold, classHistogram: histogram)
        try m.write(to: o.out)
        var selected = ""
        if !snapshots.isEmpty {
            let entries = try IdList.read(eo.list!, layout: DatasetLayout(kind: DatasetKind(rawValue: reader.manifest.dataset) ?? .generic,
                                                                          root: reader.manifest.source_root))
            let n = try Reliability.write(entries: entries, scores: stabilities, fraction: o.reliableFraction, to: o.out)
            selected = "; \(n) of \(ids.count) images reliable (ST++ stability over \(snapshots.count) checkpoints) → \(o.out)/reliable.txt"
        }
        let kept = histogram.dropLast().reduce(0, +), total = histogram.reduce(0, +)
        return String(format: "dcot-pseudo: %d images, %.1f%% of pixels above threshold %.2f (%@) → %@", ids.count,
                      total > 0 ? 100 * Double(kept) / Double(total) : 0, o.threshold, protocolSummary, o.out) + selected
    }
}
