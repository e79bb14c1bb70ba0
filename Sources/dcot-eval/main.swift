// dcot-eval: mIoU (dataset-level, as the reference), per-class IoU, predictions and overlays.
import ArgumentParser
import Metrics
import Support
import Tensor

struct DcotEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-eval",
        abstract: "Evaluate one model or an ensemble (mean of softmax) on a shard list, or predict a folder of images.")

    @Option(name: .customLong("config"), help: "Model config YAML (repeatable, paired in order with --checkpoint).")
    var configs: [String] = []
    @Option(name: .customLong("checkpoint"), help: "Checkpoint .safetensors (repeatable).")
    var checkpoints: [String] = []
    @Option(help: "Shard directory (dcot-prep output).")
    var shards: String?
    @Option(help: "Id list to evaluate (e.g. val.txt).")
    var list: String?
    @Option(help: "Predict every image in this folder instead (no labels, no prep).")
    var images: String?
    @Option(help: "original | center_crop | sliding_window")
    var mode: String = "original"
    @Option(help: "Window / crop size in pixels (default: the config's crop_size).")
    var crop: Int?
    @Option(name: .customLong("crop-dct"), help: "DCT-grid window for sliding_window (default: crop_size_dct or ceil(crop/4)).")
    var cropDCT: Int?
    @Flag(help: "Horizontal-flip test-time augmentation.")
    var flip = false
    @Option(help: "Comma-separated test scales, e.g. 0.75,1.0,1.25.")
    var scales: String = "1.0"
    @Option(help: "Write prediction PNGs here (<id>.png, VOC colour map).")
    var predictions: String?
    @Option(help: "Write image | ground truth | prediction panels here.")
    var overlays: String?
    @Flag(name: .customLong("cityscapes-export"), help: "Write predictions as Cityscapes labelIds named <id>_leftImg8bit.png.")
    var cityscapesExport = false
    @Option(help: "metrics.json path.")
    var out: String?
    @Option(help: "Threads (default: all cores).")
    var threads: Int = Parallel.threads
    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        runReportingErrors {
            var o = EvaluationOptions()
            o.models = try EvaluationOptions.pairModels(configs: configs, checkpoints: checkpoints, program: "dcot-eval")
            o.shards = shards
            o.list = list
            o.images = images
            o.mode = mode
            o.crop = crop
            o.cropDCT = cropDCT
            o.flip = flip
            o.scales = try EvaluationOptions.parseScales(scales)
            o.predictions = predictions
            o.overlays = overlays
            o.cityscapesExport = cityscapesExport
            o.out = out
            o.quiet = quiet
            try checkFlag("--threads", threads, in: threadRange, fix: "give the number of threads (default: all cores)")
            Parallel.setThreads(threads)
            print(try Evaluation.run(o))
        }
    }
}

DcotEval.main()
