// dcot-train's checks of its flags and lists (DESIGN.md section 6), run before any model is built or
// file written: every problem is one UserError naming the flag, or the list, line and id, and the
// fix. Users bring their own lists and published partitions, so nothing dcot-split guarantees is
// taken for granted here.
import Pipeline
import Shards
import Support

extension TrainOptions {
    /// Flag ranges: the schedule arithmetic (iterations, epochs x iterations per epoch, every-N
    /// divisions) must not overflow or divide by zero, and no run on one machine comes near them.
    func checkFlags() throws {
        func check<T: Comparable>(_ flag: String, _ value: T?, _ range: ClosedRange<T>, _ fix: String) throws {
            try checkFlag(flag, value, in: range, fix: fix)
        }
        try check("--iterations", iterations, 1...InputChecks.maxIterations, "give the schedule length in iterations")
        try check("--epochs", epochs, 1...RunKeys.maxEpochs, "give the schedule length in epochs")
        try check("--batch-size", batchSize, 1...RunKeys.maxBatch, "give the per-GPU batch (the reference's batch_size)")
        try check("--gpus", gpus, 1...RunKeys.maxBatch, "give the number of emulated GPUs")
        try check("--crop", crop, InputChecks.cropRange, "give the crop side in pixels (the reference: 321, 513, 769)")
        try check("--threshold", threshold, 0...1, "give a confidence between 0 and 1 (the reference's scripts: 0.0)")
        try check("--unsup-weight", unsupWeight, 0...1e6, "give a non-negative weight (default 1)")
        try check("--unsup-rampup", unsupRampup, 0...InputChecks.maxIterations, "give the ramp-up length in iterations (0: none)")
        try check("--eval-every", evalEvery, 1...Int.max, "evaluate every N >= 1 iterations (default: once per epoch)")
        try check("--save-every", saveEvery, 1...Int.max, "checkpoint every N >= 1 iterations (default: once per epoch)")
        try check("--val-limit", valLimit, 0...Int.max, "give how many validation ids to evaluate")
        try check("--threads", threads, threadRange, "give the number of threads (default: all cores)")
        try check("--dry-run-iterations", dryRunIterations, 1...10_000, "give how many iterations the dry run times (default 3)")
    }
}

public enum InputChecks {
    public static let maxIterations = 1_000_000_000
    /// Crop sides dcot-train accepts, in pixels (the config's crop_size has the same range).
    public static let cropRange = 8...4096

    /// The lists against each other, the shards and the batch: every id is in the shards, labeled
    /// ids have masks, no id is in two lists, validation ids are not trained on, and the list that
    /// sets the epoch fills one global batch (W x B). With --pseudo, its labels fit these shards.
    static func lists(_ o: TrainOptions, _ settings: RunSettings, reader: ShardReader) throws {
        let layout = DatasetLayout(kind: DatasetKind(rawValue: reader.manifest.dataset) ?? .generic, root: reader.manifest.source_root)
        let labeled = try IdList.read(o.labeled, layout: layout)
        let unlabeled = try o.unlabeled.map { try IdList.read($0, layout: layout) }
        let val = try o.val.map { try IdList.read($0, layout: layout) } ?? []
        let shardManifest = "\(reader.directory)/\(Manifest.fileName)"
        let nclass = settings.configs[0].nclass
        guard reader.manifest.classes.count == nclass else {
            throw UserError(shardManifest, "has \(reader.manifest.classes.count) classes but \(settings.configPaths[0]) has nclass \(nclass)",
                            fix: "set nclass to the dataset's class count, or pass the shards of that config's dataset")
        }
        for (path, entries) in [(o.labeled, labeled), (o.unlabeled ?? "", unlabeled ?? []), (o.val ?? "", val)] {
            if let e = entries.first(where: { !reader.contains($0.id) }) {
                throw UserError("\(path):\(e.line)", "id '\(e.id)' is not in these shards (\(reader.directory))",
                                fix: "run dcot-prep over a list that contains it, or fix the line")
            }
        }
        guard !labeled.isEmpty else {
            throw UserError(o.labeled, "has no ids", fix: "add labeled ids, one per line")
        }
        if let unlabeled {
            let first = Dictionary(labeled.map { ($0.id, $0.line) }, uniquingKeysWith: min)
            if let e = unlabeled.first(where: { first[$0.id] != nil }) {
                throw UserError("\(o.unlabeled!):\(e.line)", "id '\(e.id)' is also in \(o.labeled) (line \(first[e.id]!))",
                                fix: "labeled and unlabeled lists must not overlap: remove it from one of them")
            }
        }
        let training = [(o.labeled, labeled)] + (unlabeled.map { [(o.unlabeled!, $0)] } ?? [])
        for (path, entries) in training {
            let lines = Dictionary(entries.map { ($0.id, $0.line) }, uniquingKeysWith: min)
            if let e = val.first(where: { lines[$0.id] != nil }) {
                throw UserError("\(o.val!):\(e.line)", "validation id '\(e.id)' is also in \(path) (line \(lines[e.id]!))",
                                fix: "evaluate on ids that are not trained on: remove it from one of the lists")
            }
        }
        let pseudo = try o.pseudo.map { try checkPseudo($0, reader: reader, nclass: nclass, training: training.flatMap(\.1)) }
        if let e = labeled.first(where: { id in reader.manifest.samples[id.id]?.has_label != true && !pseudo.contains { $0.samples[id.id] != nil } }) {
            throw UserError("\(o.labeled):\(e.line)", "labeled id '\(e.id)' has no mask in the shards (\(reader.directory))",
                            fix: "prep the labeled list with its masks (IMAGE MASK lines), or label it with --pseudo")
        }
        // The list that sets the epoch must fill one global batch; in co-training the labeled list is
        // repeated to the unlabeled list's length (EpochPlan), so one labeled id is enough.
        let plan = EpochPlan(batchPerRank: settings.batchPerRank, ranks: settings.ranks, seed: settings.seed)
        let (path, count, what): (String, Int, String)
        switch settings.mode {
        case .supervised: (path, count, what) = (o.labeled, labeled.count, "add labels")
        case .cps, .mt, .cutmix:
            guard let unlabeled, let unlabeledPath = o.unlabeled else {
                throw UserError("--unlabeled", "co-training needs an unlabeled list", fix: "pass --unlabeled FILE, or train one model (supervised)")
            }
            (path, count, what) = (unlabeledPath, unlabeled.count, "add unlabeled ids")
        }
        if plan.iterationsPerEpoch(samples: count) == 0 {
            let (w, b) = (settings.ranks, settings.batchPerRank)
            throw UserError(path, "its \(count) ids cannot fill one global batch of \(w) x \(b) = \(w * b) (emulated GPUs x batch size; at least \(w * (b - 1) + 1) ids)",
                            fix: "lower --batch-size or --gpus, or \(what)")
        }
    }

    /// A --pseudo directory: a dcot-pseudo output for this dataset whose samples have the sizes of
    /// the same ids in the training shards (their labels replace the shards' labels pixel for pixel).
    static func checkPseudo(_ dir: String, reader: ShardReader, nclass: Int, training: [ListEntry]) throws -> Manifest {
        let pseudo = try Manifest.load(directory: dir)
        let path = "\(dir)/\(Manifest.fileName)"
        guard pseudo.pseudo != nil else {
            throw UserError(path, "is not a pseudo-label directory", fix: "pass a dcot-pseudo output to --pseudo")
        }
        guard pseudo.classes.count == nclass else {
            throw UserError(path, "has \(pseudo.classes.count) classes but the configs have nclass \(nclass)",
                            fix: "make the pseudo-labels with a model of this dataset")
        }
        for e in training {
            guard let p = pseudo.samples[e.id], let s = reader.manifest.samples[e.id] else { continue }
            guard p.height == s.height, p.width == s.width else {
                throw UserError(path, "sample '\(e.id)' is \(p.width)x\(p.height) but \(reader.directory)/\(Manifest.fileName) has it as \(s.width)x\(s.height)",
                                fix: "make the pseudo-labels from these shards (dcot-pseudo --shards \(reader.directory))")
            }
        }
        return pseudo
    }
}
