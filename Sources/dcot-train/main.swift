// dcot-train: the supervised baseline, diverse or homogeneous cross pseudo supervision (2-/3-cps, CPS,
// 3-CPS), and the teacher-student baselines Mean Teacher and CutMix-Seg.
import ArgumentParser
import Cluster
import CoTraining
import Foundation
import Support

struct DcotTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-train",
        abstract: "Train one model (supervised), co-train two or three (cps), or a student with an EMA teacher (mt, cutmix).",
        discussion: "Rerunning with the same --out resumes from latest.json; --fresh starts over. Exit code 3: non-finite loss.")

    @Option(name: .customLong("config"), help: "Model config YAML (repeatable: 1 = supervised, 2-3 = cps; slot order matters).")
    var configs: [String] = []
    @Option(help: "Shard directory (dcot-prep output).") var shards: String
    @Option(help: "labeled.txt") var labeled: String
    @Option(help: "unlabeled.txt (cps)") var unlabeled: String?
    @Option(help: "Validation list.") var val: String?
    @Option(help: "Pseudo-label shards (dcot-pseudo output): labels for the ids they contain (self-training rounds; repeatable, the first that has an id wins).") var pseudo: [String] = []
    @Flag(name: .customLong("strong-pseudo"), help: "Pseudo-labelled samples also get the strong photometric augmentation (ST++).") var strongPseudo = false
    @Option(help: "Run directory.") var out: String
    @Option(help: "supervised | cps | mt (Mean Teacher) | cutmix (CutMix-Seg) (default: supervised for one config, cps for more)") var mode: String?
    @Option(help: "Total iterations (overrides epochs).") var iterations: Int?
    @Option(help: "Epochs (one epoch = one pass over the unlabeled set; labeled set when supervised).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Samples per emulated GPU per list (the reference's batch_size).") var batchSize: Int?
    @Option(help: "Data-parallel replicas W, the reference's GPUs (global batch = W x batch size; CutMix within groups of batch size; SyncBN over all W). Under mpirun/srun with R ranks (R divides W) each rank runs W/R of them; results do not depend on R.") var gpus: Int?
    @Option(help: "Crop size in pixels.") var crop: Int?
    @Option(help: "Pseudo-label confidence threshold (the reference's scripts use 0.0).") var threshold: Double?
    @Option(name: .customLong("unsup-weight"), help: "Weight of the unsupervised (CPS or consistency) loss.") var unsupWeight: Double = 1
    @Flag(name: .customLong("distribution-alignment"), help: "cps: re-weight each model's weak probabilities towards the labeled set's class frequencies before taking its pseudo-labels (ReMixMatch's distribution alignment; not in the reference). Against co-training drifting to one class.") var distributionAlignment = false
    @Option(name: .customLong("blur-sigma-range"), help: "lo,hi: the strong views' Gaussian blur sigma range in pixels (overrides the config's blur_sigma_range; the reference: 0.1,2.0 for 321-px crops; 0,0 never blurs).") var blurSigmaRange: String?
    @Option(name: .customLong("unsup-rampup"), help: "Ramp the unsupervised weight up over N iterations as exp(-5(1-t/N)^2) (Laine & Aila; not in the reference, which keeps it constant; 0 = off).") var unsupRampup: Int = 0
    @Flag(name: .customLong("ema-teachers"), help: "cps: every model keeps an EMA teacher (--ema-decay, --ema-warmup), and the partners learn from the teacher's pseudo-labels instead of the model's own (not in the reference). Saved and evaluated as m<n+k>.") var emaTeachers = false
    @Option(name: .customLong("ema-decay"), help: "mt/cutmix, cps --ema-teachers: the teachers' EMA decay (French et al.: 0.99).") var emaDecay: Double = 0.99
    @Flag(name: .customLong("ema-warmup"), inversion: .prefixedNo, help: "mt/cutmix, cps --ema-teachers: warm the decay up as min(1 - 1/(t+1), decay).") var emaWarmup = true
    @Option(name: .customLong("pretrained"), help: "m<k>=FILE: pretrained backbone for model k (repeatable).") var pretrained: [String] = []
    @Flag(name: .customLong("own-schedules"), help: "Each model uses its own config's lr (the reference drives all with model 1's).") var ownSchedules = false
    @Option(name: .customLong("eval-every"), help: "Evaluate every N iterations (default: once per epoch).") var evalEvery: Int?
    @Option(name: .customLong("val-limit"), help: "Evaluate on the first N validation ids only.") var valLimit: Int?
    @Option(name: .customLong("save-every"), help: "Checkpoint every N iterations (default: once per epoch).") var saveEvery: Int?
    @Option(help: "Also save every model's weights K times, evenly over the schedule (snapshot-m<k>-it<N>.safetensors; ST++ uses 3).") var snapshots: Int = 0
    @Option(help: "Random seed.") var seed: UInt64?
    @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("log-every"), help: "Log every N iterations.") var logEvery: Int = 10
    @Option(name: .customLong("stop-after"), help: "Stop with a checkpoint once N iterations of the schedule are done (a time-boxed job); rerun to continue.") var stopAfter: Int?
    @Flag(help: "Require an existing run to resume.") var resume = false
    @Flag(help: "Start over even if the run directory has a checkpoint.") var fresh = false
    @Flag(name: .customLong("restart-if-changed"), help: "Start over when the run directory was made with other configs or splits (for make).") var restartIfChanged = false
    @Flag(name: .customLong("dry-run"), help: "Run a few iterations (--dry-run-iterations) and save nothing; print s/iteration, peak memory (per rank), communication and the projected time of the run.") var dryRun = false
    @Option(name: .customLong("dry-run-iterations"), help: "Iterations a dry run times (the first is warm-up, not counted).") var dryRunIterations = 3
    @Flag(help: "Less output.") var quiet = false

    func run() throws {
        // One rank of an mpirun/srun job, or (without a launcher) the only process.
        let world = MPIWorld.fromLauncher(program: "dcot-train")
        Job.run(world) {
            var o = TrainOptions()
            o.configs = configs
            o.shards = shards
            o.labeled = labeled
            o.unlabeled = unlabeled
            o.val = val
            o.pseudo = pseudo
            o.strongPseudo = strongPseudo
            o.out = out
            if let mode {
                guard let m = TrainMode(rawValue: mode) else {
                    throw UserError("--mode \(mode)", "unknown mode", fix: "use one of \(TrainMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                o.mode = m
            }
            o.iterations = iterations
            o.epochs = epochs
            o.batchSize = batchSize
            o.gpus = gpus
            o.crop = crop
            o.threshold = threshold
            o.unsupWeight = unsupWeight
            o.distributionAlignment = distributionAlignment
            o.unsupRampup = unsupRampup
            o.emaTeachers = emaTeachers
            if let b = blurSigmaRange {
                let v = b.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard v.count == 2, let lo = v[0], let hi = v[1] else {
                    throw UserError("--blur-sigma-range \(b)", "expected two numbers lo,hi", fix: "e.g. --blur-sigma-range 0.03,0.6")
                }
                o.blurSigmaRange = [lo, hi]
            }
            o.emaDecay = emaDecay
            o.emaWarmup = emaWarmup
            for p in pretrained {
                let parts = p.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].hasPrefix("m"), let k = Int(parts[0].dropFirst()), (1...3).contains(k) else {
                    throw UserError("--pretrained \(p)", "expected m<k>=FILE with k in 1...3", fix: "e.g. --pretrained m1=resnet50.safetensors")
                }
                o.pretrained[k] = String(parts[1])
            }
            o.ownSchedules = ownSchedules
            o.evalEvery = evalEvery
            o.valLimit = valLimit
            o.saveEvery = saveEvery
            o.snapshots = snapshots
            o.seed = seed
            o.threads = threads
            o.logEvery = logEvery
            o.resume = resume
            o.stopAfter = stopAfter
            o.fresh = fresh
            o.restartIfChanged = restartIfChanged
            o.dryRun = dryRun
            o.dryRunIterations = dryRunIterations
            o.quiet = quiet
            do {
                let summary = try Trainer.run(o, collective: world)
                if (world?.rank ?? 0) == 0 { print(summary) }
            } catch let e as TrainingDiverged {
                printError("error: \(e.message)")
                Foundation.exit(Trainer.nonFiniteExitCode)
            }
        }
    }
}

DcotTrain.main()
