// The resolved settings of a run: model configs (one per co-trained model), run-level keys taken from
// the first config (METHOD.md 5.1 / DESIGN.md 5), and command-line overrides.
import Foundation
import Models
import Support

/// supervised: one model on labels (SupOnly); cps: 2 or 3 models by cross pseudo supervision (diverse
/// or homogeneous CPS / 3-CPS); mt, cutmix: one student with an EMA teacher (Mean Teacher, CutMix-Seg).
public enum TrainMode: String, Sendable, CaseIterable {
    case supervised, cps, mt, cutmix

    /// Uses unlabeled data (a co-training loader: labeled + weak/strong unlabeled views).
    public var isSemiSupervised: Bool { self != .supervised }
    public var hasTeacher: Bool { self == .mt || self == .cutmix }
}

public struct TrainOptions: Sendable {
    public var configs: [String] = []
    public var shards = ""
    public var labeled = ""
    public var unlabeled: String?
    public var val: String?
    /// Pseudo-label shards (dcot-pseudo) giving the labels of the ids they contain; the first that
    /// has an id wins.
    public var pseudo: [String] = []
    /// Pseudo-labelled samples get the strong photometric augmentation (ST++'s re-training).
    public var strongPseudo = false
    public var out = ""
    public var mode: TrainMode?
    public var iterations: Int?
    public var epochs: Int?
    public var batchSize: Int?
    public var gpus: Int?
    public var crop: Int?
    public var threshold: Double?
    public var unsupWeight = 1.0
    /// Ramp the unsupervised weight up over this many iterations (0: constant, as the reference).
    public var unsupRampup = 0
    /// cps: each model keeps an EMA teacher (decay `emaDecay`), whose pseudo-labels teach its partners.
    public var emaTeachers = false
    /// cps: re-weight each model's weak probabilities towards the labeled set's class frequencies
    /// before taking pseudo-labels (CoTrainingStep.alignedArgmaxConfidence); not the reference's method.
    public var distributionAlignment = false
    /// The strong views' blur σ range [lo, hi], overriding the first config's `blur_sigma_range`.
    public var blurSigmaRange: [Double]?
    /// Mean Teacher / CutMix-Seg: the teacher's EMA decay and whether it warms up as min(1 − 1/(t+1), decay).
    public var emaDecay = 0.99
    public var emaWarmup = true
    public var pretrained: [Int: String] = [:]
    public var ownSchedules = false
    public var evalEvery: Int?
    public var valLimit: Int?
    public var saveEvery: Int?
    /// Save each model's weights K times, evenly over the schedule (ST++'s checkpoints for selection).
    public var snapshots = 0
    public var seed: UInt64?
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var resume = false
    public var fresh = false
    /// Start over (instead of refusing) when the run directory belongs to other configs or splits.
    public var restartIfChanged = false
    public var dryRun = false
    public var dryRunIterations = 3
    public var logEvery = 10
    public var quiet = false
    /// Stop (with a checkpoint) after this many iterations of the schedule, as if preempted.
    public var stopAfter: Int?
    public init() {}
}

/// Run-level values read from a config (the reference keeps them next to the model keys).
public struct RunKeys: Sendable, Equatable {
    public var dataset: String
    public var epochs: Int
    public var batchSize: Int
    public var cropSize: Int
    public var lr: Double
    public var lrMulti: Double
    public var optim: String
    public var ohem: Bool
    public var ohemThreshold: Float
    public var ohemMinKept: Int
    public var confThresh: Double

    public init(_ c: ModelConfig, source: String) throws {
        func num(_ k: String) throws -> Double? {
            guard let s = c.raw[k] else { return nil }
            guard let v = Double(s), v.isFinite else { throw UserError("\(source): \(k)", "'\(s)' is not a number", fix: "write a number") }
            return v
        }
        dataset = c.raw["dataset"] ?? "pascal"
        epochs = try RunKeys.count(c, "epochs", 1...RunKeys.maxEpochs, source: source) ?? 80
        batchSize = try RunKeys.count(c, "batch_size", 1...RunKeys.maxBatch, source: source) ?? 4
        guard let crop = c.cropSize else {
            throw UserError(source, "crop_size is missing", fix: "set crop_size (e.g. 321) or pass --crop")
        }
        cropSize = crop
        lr = try num("lr") ?? 0.002
        lrMulti = try num("lr_multi") ?? 1
        optim = c.raw["optim"] ?? "SGD"
        guard ["SGD", "AdamW"].contains(optim) else {
            throw UserError("\(source): optim", "'\(optim)' is not supported", fix: "use SGD or AdamW")
        }
        let criterion = c.raw["criterion"] ?? ""
        ohem = criterion.contains("OHEM")
        ohemThreshold = 0.7
        ohemMinKept = 100_000
        if ohem, let t = criterion.range(of: "thresh: ") {
            ohemThreshold = Float(criterion[t.upperBound...].prefix { "0123456789.".contains($0) }) ?? 0.7
        }
        if ohem, let m = criterion.range(of: "min_kept: ") {
            ohemMinKept = Int(criterion[m.upperBound...].prefix { $0.isNumber }) ?? 100_000
        }
        confThresh = try num("conf_thresh") ?? 0
        guard lr >= 0, lrMulti >= 0 else {
            throw UserError("\(source): \(lr < 0 ? "lr" : "lr_multi")", "must not be negative", fix: "write a learning rate (factor) of 0 or more")
        }
    }

    /// A whole-number run key in `range` (YAML may write it as 4 or 4.0), nil when absent.
    static func count(_ c: ModelConfig, _ k: String, _ range: ClosedRange<Int>, source: String) throws -> Int? {
        guard let text = c.raw[k] else { return nil }
        guard let v = Double(text), v == v.rounded(), let n = Int(exactly: v), range.contains(n) else {
            throw UserError("\(source): \(k)", "'\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)",
                            fix: "write \(k) as a whole number in that range")
        }
        return n
    }

    /// Bounds that keep the schedule arithmetic far from overflow; no real run comes near them.
    public static let maxEpochs = 1_000_000
    /// Per-GPU batch and emulated GPUs: at most this many each.
    public static let maxBatch = 1024
}

public struct RunSettings: Sendable {
    public var configs: [ModelConfig]
    public var configPaths: [String]
    public var run: RunKeys
    public var mode: TrainMode
    public var crop: Int
    public var batchPerRank: Int
    public var ranks: Int
    public var threshold: Double
    public var seed: UInt64
    /// The schedule length when given as iterations (part of the hash: the lr depends on it).
    public var totalIterations: Int?
    /// What else decides the run's outcome when not at its default: the unsupervised weight and
    /// the pretrained files' sha256 (so make's --restart-if-changed starts over when a pretrained
    /// file changes). Empty by default, which keeps the hashes of runs made before it existed.
    public var identity: String

    public init(_ o: TrainOptions) throws {
        guard (1...3).contains(o.configs.count) else {
            throw UserError("dcot-train", "got \(o.configs.count) --config", fix: "give one (supervised) or two or three (cps)")
        }
        configPaths = o.configs
        configs = try o.configs.map { try ModelConfig.load($0) }
        var keys = try RunKeys(configs[0], source: o.configs[0])
        if let c = o.crop { keys.cropSize = c }
        run = keys
        mode = o.mode ?? (o.configs.count == 1 ? .supervised : .cps)
        if mode == .supervised && o.configs.count != 1 {
            throw UserError("--mode supervised", "takes one --config", fix: "drop the extra configs or use --mode cps")
        }
        if mode == .cps && o.configs.count < 2 {
            throw UserError("--mode cps", "needs two or three --config", fix: "add the models to co-train")
        }
        if mode.hasTeacher && o.configs.count != 1 {
            throw UserError("--mode \(mode.rawValue)", "takes one --config (the student; the teacher is its EMA)", fix: "drop the extra configs")
        }
        guard (0..<1).contains(o.emaDecay) else {
            throw UserError("--ema-decay \(o.emaDecay)", "must be in [0, 1)", fix: "e.g. 0.99 (French et al.)")
        }
        for (i, c) in configs.enumerated().dropFirst() where c.cropSize != nil && c.cropSize != configs[0].cropSize && o.crop == nil {
            throw UserError(o.configs[i], "crop_size \(c.cropSize!) differs from \(o.configs[0])'s \(configs[0].cropSize ?? 0)",
                            fix: "use one crop size for all models (or pass --crop)")
        }
        let loaded = configs
        if let i = loaded.indices.first(where: { loaded[$0].nclass != loaded[0].nclass }) {
            throw UserError(o.configs[i], "nclass \(loaded[i].nclass) differs from \(o.configs[0])'s \(loaded[0].nclass)",
                            fix: "co-train models of one dataset")
        }
        crop = keys.cropSize
        batchPerRank = o.batchSize ?? keys.batchSize
        ranks = try o.gpus ?? RunKeys.count(configs[0], "gpus", 1...RunKeys.maxBatch, source: o.configs[0]) ?? 1
        threshold = o.threshold ?? 0
        totalIterations = o.iterations ?? o.epochs.map { -$0 }
        seed = o.seed ?? configs[0].seed ?? 0
        identity = o.unsupWeight == 1 ? "" : "uw=\(o.unsupWeight)"
        if o.strongPseudo { identity += "|strong-pseudo" }
        if o.unsupRampup > 0 { identity += "|rampup=\(o.unsupRampup)" }
        if let b = o.blurSigmaRange {
            guard b.count == 2, ModelConfig.isBlurSigmaRange(b[0], b[1]) else {
                throw UserError("--blur-sigma-range", "expected two numbers lo,hi with 0 <= lo <= hi <= 50",
                                fix: "e.g. --blur-sigma-range 0.1,2.0 (the reference's), or 0,0 for no blur")
            }
            configs[0].blurSigmaRange = b
            identity += "|blur=\(b[0]),\(b[1])"
        }
        if o.distributionAlignment {
            guard mode == .cps else {
                throw UserError("--distribution-alignment", "applies to co-training (--mode cps) only, not \(mode.rawValue)",
                                fix: "drop the flag, or train two or three models with --mode cps")
            }
            identity += "|distribution-alignment"
        }
        if mode.hasTeacher { identity += "|ema=\(o.emaDecay),\(o.emaWarmup)" }
        if o.emaTeachers {
            guard mode == .cps else {
                throw UserError("--ema-teachers", "applies to co-training (--mode cps) only, not \(mode.rawValue)",
                                fix: "drop the flag (mt and cutmix have their teacher already), or use --mode cps")
            }
            identity += "|ema-teachers=\(o.emaDecay),\(o.emaWarmup)"
        }
        for k in o.pretrained.keys.sorted() {
            let path = o.pretrained[k]!
            guard FileManager.default.fileExists(atPath: path) else {
                throw UserError("--pretrained m\(k)=\(path)", "file not found", fix: "convert the weights first (Scripts/torch2safetensors.py) or fix the path")
            }
            identity += "|m\(k)=\(try SHA256.hex(ofFile: path))"
        }
        guard batchPerRank >= 1, ranks >= 1 else {
            throw UserError("dcot-train", "batch size and --gpus must be positive", fix: "check --batch-size / --gpus")
        }
        try o.checkFlags()
    }

    /// sha256 over the resolved configs (for resume checks).
    public var configHash: String {
        var h = SHA256()
        for c in configs {
            // Canonical form: every key of the YAML, sorted (dictionary order is not stable).
            h.update(Array(c.raw.keys.sorted().map { "\($0)=\(c.raw[$0]!)" }.joined(separator: ";").utf8))
        }
        h.update(Array("\(run)|\(mode)|\(crop)|\(batchPerRank)|\(ranks)|\(threshold)|\(seed)|\(totalIterations ?? 0)".utf8))
        if !identity.isEmpty { h.update(Array(identity.utf8)) }
        return h.finalize()
    }
}
