import Foundation
import XCTest
import Checkpoint
import ImageIO
import Metrics
import Models
import Pipeline
import Shards
import Support
import Synth

final class EvaluationTests: XCTestCase {
    static let tinyConfig = """
    dataset: pascal
    nclass: 6
    crop_size: 32
    backbone: resnet18
    width: 0.125
    head_channels: 16
    reduce_channels: 8
    replace_stride_with_dilation: [false, false, true]
    decode_head: DeepLabV3PlusHead
    dilations: [6, 12, 18]
    """

    func testEvaluateWritesMetricsPredictionsAndOverlays() throws {
        let dir = NSTemporaryDirectory() + "dcot-eval-\(UUID().uuidString)"
        try makeDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 6, size: 40, seed: 1), train: 1, val: 4,
                                                     out: "\(dir)/data", jobs: 2, quiet: true))
        var p = PrepOptions(dataset: .generic, root: "\(dir)/data", lists: ["\(dir)/data/val.txt"], out: "\(dir)/shards")
        p.quiet = true
        p.dct = true
        _ = try Prep.run(p, commandLine: "test")
        try AtomicFile.write(Self.tinyConfig, to: "\(dir)/tiny.yaml")
        let model = try Segmentor(config: try ModelConfig.load("\(dir)/tiny.yaml"), seed: 3)
        try Checkpoint.save(model, to: "\(dir)/tiny.safetensors")

        var o = EvaluationOptions()
        o.models = [("\(dir)/tiny.yaml", "\(dir)/tiny.safetensors")]
        o.shards = "\(dir)/shards"
        o.list = "\(dir)/data/val.txt"
        o.predictions = "\(dir)/pred"
        o.overlays = "\(dir)/overlays"
        o.out = "\(dir)/metrics.json"
        o.quiet = true
        let table = try Evaluation.run(o)
        XCTAssertTrue(table.contains("mIoU"), table)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/metrics.json"))) as! [String: Any]
        XCTAssertEqual(json["format"] as? String, "dcot-metrics")
        XCTAssertEqual(json["images"] as? Int, 4)
        let miou = json["miou"] as! Double
        XCTAssertTrue((0...100).contains(miou))
        XCTAssertEqual((json["protocol"] as? [String: Any])?["mode"] as? String, "original")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/pred").sorted(),
                       ["val_00000.png", "val_00001.png", "val_00002.png", "val_00003.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/overlays").count, 4)
        let predPNG = try LabelPNG.read(readFileBytes("\(dir)/pred/val_00000.png"))
        XCTAssertTrue(predPNG.labels.allSatisfy { $0 < 6 })

        // An ensemble of the same model twice scores the same; sliding window with a window covering
        // the image equals original mode.
        o.models = [o.models[0], o.models[0]]
        o.out = "\(dir)/ensemble.json"
        o.predictions = nil
        o.overlays = nil
        _ = try Evaluation.run(o)
        let ens = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/ensemble.json"))) as! [String: Any]
        XCTAssertEqual(ens["miou"] as! Double, miou, accuracy: 1e-9)
        o.models = [o.models[0]]
        o.mode = "sliding_window"
        o.crop = 64
        o.out = "\(dir)/sliding.json"
        _ = try Evaluation.run(o)
        let sl = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/sliding.json"))) as! [String: Any]
        XCTAssertEqual(sl["miou"] as! Double, miou, accuracy: 1e-6)

        // Bad input: an unknown mode, a checkpoint of another architecture, an id missing from the shards.
        o.mode = "tiled"
        XCTAssertThrowsError(try Evaluation.run(o)) { XCTAssertTrue("\($0)".contains("unknown evaluation mode"), "\($0)") }
        o.mode = "original"
        try AtomicFile.write(Self.tinyConfig.replacingOccurrences(of: "head_channels: 16", with: "head_channels: 24"),
                             to: "\(dir)/other.yaml")
        o.models = [("\(dir)/other.yaml", "\(dir)/tiny.safetensors")]
        XCTAssertThrowsError(try Evaluation.run(o)) {
            XCTAssertTrue("\($0)".contains("does not match \(dir)/other.yaml"), "\($0)")
            XCTAssertTrue("\($0)".contains("wrong"), "\($0)")
        }
        o.models = [("\(dir)/tiny.yaml", "\(dir)/tiny.safetensors")]
        try AtomicFile.write("val_00000\nnot_there\n", to: "\(dir)/missing.txt")
        o.list = "\(dir)/missing.txt"
        XCTAssertThrowsError(try Evaluation.run(o)) { XCTAssertTrue("\($0)".contains("'not_there' is not in these shards"), "\($0)") }
    }
}

final class PseudoLabelTests: XCTestCase {
    func testPseudoLabelShardsReadBackAsIndicesAndConfidences() throws {
        let dir = NSTemporaryDirectory() + "dcot-pseudo-\(UUID().uuidString)"
        try makeDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 6, size: 40, seed: 2), train: 3, val: 0,
                                                     out: "\(dir)/data", jobs: 2, quiet: true))
        var p = PrepOptions(dataset: .generic, root: "\(dir)/data", lists: ["\(dir)/data/train.txt"], out: "\(dir)/shards")
        p.quiet = true
        _ = try Prep.run(p, commandLine: "test")
        try AtomicFile.write(EvaluationTests.tinyConfig, to: "\(dir)/tiny.yaml")
        try Checkpoint.save(try Segmentor(config: try ModelConfig.load("\(dir)/tiny.yaml"), seed: 4), to: "\(dir)/tiny.safetensors")
        var o = PseudoLabelOptions()
        o.evaluation.models = [("\(dir)/tiny.yaml", "\(dir)/tiny.safetensors")]
        o.evaluation.shards = "\(dir)/shards"
        o.evaluation.list = "\(dir)/data/train.txt"
        o.evaluation.quiet = true
        o.out = "\(dir)/pseudo"
        o.threshold = 0.25
        o.png = true
        _ = try PseudoLabels.run(o)
        let reader = try ShardReader(directory: "\(dir)/pseudo")
        XCTAssertEqual(reader.manifest.pseudo?.threshold, 0.25)
        XCTAssertEqual(reader.manifest.pseudo?.class_histogram.count, 7)
        // Cross-check one sample against the evaluator's own probabilities.
        var eo = EvaluationOptions()
        eo.models = o.evaluation.models
        eo.shards = o.evaluation.shards
        eo.list = o.evaluation.list
        let (inference, images, _, _) = try Evaluation.prepare(eo)
        let image = try images.sample("train_00001").image!
        let probs = try inference.probabilities(image: image)
        let (labels, conf) = argmaxWithConfidence(probs, classes: 6, pixels: image.width * image.height)
        let s = try reader.sample("train_00001")
        for i in 0..<labels.count {
            XCTAssertEqual(s.confidence![i], UInt8((conf[i] * 255).rounded()))
            XCTAssertEqual(s.label!.labels[i], conf[i] < 0.25 ? 255 : labels[i])
        }
        XCTAssertEqual(try LabelPNG.read(readFileBytes("\(dir)/pseudo/png/train_00001.png")), s.label)
        XCTAssertEqual(try PNG.read(readFileBytes("\(dir)/pseudo/png/train_00001_confidence.png")).pixels, s.confidence)
    }
}
