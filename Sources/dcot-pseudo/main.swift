// dcot-pseudo: pseudo-label shards (label + confidence) from one model or an ensemble.
import ArgumentParser
import Metrics
import Support
import Tensor

struct DcotPseudo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-pseudo",
        abstract: "Dump pseudo-labels of an id list as shards (+ PNGs with --png) for self-training rounds.")

    @Option(name: .customLong("config"), help: "Model config YAML (repeatable, paired with --checkpoint).")
    var configs: [String] = []
    @Option(name: .customLong("checkpoint"), help: "Checkpoint .safetensors (repeatable).")
    var checkpoints: [String] = []
    @Option(help: "Shard directory holding the images.")
    var shards: String
    @Option(help: "Id list to label (e.g. unlabeled.txt).")
    var list: String
    @Option(help: "Output directory (pseudo-label shards + manifest.json).")
    var out: String
    @Option(help: "Pixels whose confidence is below this become 255 (ignore).")
    var threshold: Double = 0
    @Option(help: "original | center_crop | sliding_window")
    var mode: String = "original"
    @Option(help: "Window size for sliding_window / center_crop.")
    var crop: Int?
    @Option(name: .customLong("crop-dct"), help: "DCT-grid window for sliding_window (default: crop_size_dct or ceil(crop/4)).")
    var cropDCT: Int?
    @Flag(help: "Horizontal-flip test-time augmentation.")
    var flip = false
    @Option(help: "Comma-separated test scales.")
    var scales: String = "1.0"
    @Option(help: "ST++ reliable-image selection: the teacher's checkpoints in training order (repeatable, at least two; the last is the reference). Writes reliability.tsv, reliable.txt and unreliable.txt to OUT.")
    var stability: [String] = []
    @Option(name: .customLong("reliable-fraction"), help: "With --stability: the most stable fraction written to reliable.txt (ST++: 0.5).")
    var reliableFraction: Double = 0.5
    @Flag(help: "Also write palette PNGs and confidence PNGs to OUT/png.")
    var png = false
    @Option(help: "Threads (default: all cores).")
    var threads: Int = Parallel.threads
    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        runReportingErrors {
            var o = PseudoLabelOptions()
            o.evaluation.models = try EvaluationOptions.pairModels(configs: configs, checkpoints: checkpoints, program: "dcot-pseudo")
            o.evaluation.shards = shards
            o.evaluation.list = list
            o.evaluation.mode = mode
            o.evaluation.crop = crop
            o.evaluation.cropDCT = cropDCT
            o.evaluation.flip = flip
            o.evaluation.scales = try EvaluationOptions.parseScales(scales)
            o.evaluation.quiet = quiet
            o.out = out
            o.threshold = threshold
            o.png = png
            o.stability = stability
            o.reliableFraction = reliableFraction
            try checkFlag("--threads", threads, in: threadRange, fix: "give the number of threads (default: all cores)")
            Parallel.setThreads(threads)
            print(try PseudoLabels.run(o))
        }
    }
}

DcotPseudo.main()
