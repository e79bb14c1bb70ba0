// dcot-train's entry point: the supervised baseline or n-model cross pseudo supervision, with the
// reference's schedule, periodic evaluation, atomic checkpoints, resume, and SIGTERM/SIGINT saves.
import Autograd
import Checkpoint
import Foundation
import ImageIO
import Metrics
import Models
import NN
import Optim
import Pipeline
import Shards
import Support
import Tensor

nonisolated(unsafe) var stopSignal: Int32 = 0

/// A non-finite loss: the run stops (dcot-train exits with code 3) and keeps its last good checkpoint.
public struct TrainingDiverged: Error, CustomStringConvertible {
    public let iteration: Int
    public let message: String
    public var description: String { message }
}

public enum Trainer {
    /// Exit code for a non-finite loss.
    public static let nonFiniteExitCode: Int32 = 3

    /// Trains in this process, or as one rank of a multi-process job over `collective` (Open MPI):
    /// the W replicas split evenly over the ranks, rank 0 alone touches the run directory, and every
    /// number is identical for any rank count (Replicas.swift).
    public static func run(_ o: TrainOptions, collective: (any Collective)? = nil) throws -> String {
        let settings = try RunSettings(o)
        let ranks = collective?.size ?? 1
        guard settings.ranks % ranks == 0 else {
            throw AllRanksError("--gpus \(settings.ranks) replicas do not split over \(ranks) ranks; start a number of ranks that divides --gpus")
        }
        Replicas.configure(total: settings.ranks, collective: collective)
        defer { Replicas.configure(total: 1, collective: nil) }
        let writer = Replicas.rank == 0          // only rank 0 touches the run directory
        let quiet = o.quiet || !writer
        Parallel.setThreads(o.threads)
        let reader = try ShardReader(directory: o.shards)
        let layout = DatasetLayout(kind: DatasetKind(rawValue: reader.manifest.dataset) ?? .generic, root: reader.manifest.source_root)
        let labeled = try IdList.read(o.labeled, layout: layout).map(\.id)
        let unlabeled = try o.unlabeled.map { try IdList.read($0, layout: layout).map(\.id) } ?? []
        let val = try o.val.map { try IdList.read($0, layout: layout).map(\.id) } ?? []
        try InputChecks.lists(o, settings, reader: reader)
        let runLock = writer ? try RunDirectory(path: o.out).lock() : nil   // the job holds it through rank 0
        defer { runLock?.release() }
        let models = try settings.configs.enumerated().map { k, c -> Segmentor in
            let m = try Segmentor(config: c, seed: settings.seed &+ UInt64(k) &* 1000)
            if let p = o.pretrained[k + 1] {
                try Checkpoint.loadPretrainedBackbone(m.backbone, from: p)
            } else if o.logEvery > 0 && !quiet {
                printError(Checkpoint.randomBackboneWarning(backbone: c.backbone))
            }
            m.train(true)
            return m
        }
        // EMA teachers: Mean Teacher / CutMix-Seg have one, of the student; CPS with --ema-teachers one
        // per model. Each starts as a copy of its model and stays in eval mode.
        let teachers: [Segmentor] = try (settings.mode.hasTeacher ? [0] : o.emaTeachers ? Array(models.indices) : []).map { k in
            let t = try Segmentor(config: settings.configs[k], seed: settings.seed)
            CoTrainingStep.copyState(from: models[k], to: t)
            t.train(false)
            return t
        }
        let teacher = settings.mode.hasTeacher ? teachers.first : nil
        guard reader.manifest.classes.count == settings.configs[0].nclass else {
            throw UserError(o.configs[0], "nclass \(settings.configs[0].nclass) but the shards have \(reader.manifest.classes.count) classes",
                            fix: "set nclass to the dataset's class count")
        }
        let needRGB = models.contains { $0.domain == .rgb }, needDCT = models.contains { $0.domain == .dct }
        let plan = EpochPlan(batchPerRank: settings.batchPerRank, ranks: settings.ranks, seed: settings.seed)
        let pseudoReaders = try o.pseudo.map { try ShardReader(directory: $0) }
        for p in pseudoReaders where p.manifest.pseudo == nil {
            throw UserError("\(p.directory)/manifest.json", "is not a pseudo-label directory", fix: "pass a dcot-pseudo output to --pseudo")
        }
        let semi = settings.mode.isSemiSupervised
        let loader = try Loader(reader: reader, labeled: labeled, unlabeled: semi ? unlabeled : [],
                                plan: plan, maker: ViewMaker(crop: settings.crop, withDCT: needDCT, seed: settings.seed,
                                                             scaleRange: settings.configs[0].scaleRange.map { ($0[0], $0[1]) } ?? Augment.ratioRange,
                                                             blurSigmaRange: settings.configs[0].blurSigmaRange.map { ($0[0], $0[1]) } ?? Augment.blurSigmaRange),
                                mode: semi ? .coTraining : .supervised, jobs: max(1, o.threads),
                                labelReaders: pseudoReaders, strongPseudo: o.strongPseudo, replicas: Replicas.layout.range)
        let perEpoch = max(1, loader.iterationsPerEpoch)
        let total = o.dryRun ? o.dryRunIterations : (o.iterations ?? (o.epochs ?? settings.run.epochs) * perEpoch)
        // Parameter groups: backbone at lr, the rest at lr · lr_multi; model 1's schedule for all
        // unless --own-schedules.
        let optimizers: [any Optimizer] = try models.enumerated().map { k, m in
            let keys = o.ownSchedules ? try RunKeys(settings.configs[k], source: o.configs[k]) : settings.run
            let g = m.parameterGroups()
            let groups = [ParamGroup(g.backbone, lr: Float(keys.lr)), ParamGroup(g.head, lr: Float(keys.lr * keys.lrMulti))]
            return keys.optim == "AdamW" ? AdamW(groups) : SGD(groups)
        }
        let baseLRs = models.indices.map { k in optimizers[k].groups.map { Double($0.lr) } }
        let dir = RunDirectory(path: o.out)
        if writer { try makeDirectory(o.out) }
        let pseudoHash: String = pseudoReaders.map { $0.manifest.shards.map(\.sha256).joined() }.joined(separator: ",")
        let splitText: String = labeled.joined(separator: "\n") + "|" + unlabeled.joined(separator: "\n") + "|" + pseudoHash
        let splitHash = SHA256.hex(of: Array(splitText.utf8))
        try RankAgreement.check([("dcot builds", RankAgreement.buildHash()), ("configs", settings.configHash), ("splits", splitHash),
                                 ("shards", SHA256.hex(of: Array(reader.manifest.shards.map(\.sha256).joined().utf8))),
                                 ("options", SHA256.hex(of: Array(o.sharedByRanks.utf8)))],
                                fix: "give every rank the same dcot build, files and flags")
        var start = 0
        var best = [String: RunState.Best]()
        var lastMIoU = [String: Double]()
        var fresh = o.fresh
        if writer && dir.exists() && !fresh && o.restartIfChanged, let state = try? dir.loadState(),
           state.config_sha256 != settings.configHash || state.split_sha256 != splitHash {
            if !quiet { printError("dcot-train: configs or splits changed since \(dir.statePath) was written; starting over") }
            fresh = true
        }
        if writer && dir.exists() && !fresh {
            let state = try dir.loadState()
            guard state.config_sha256 == settings.configHash, state.split_sha256 == splitHash else {
                throw UserError(dir.statePath, "was written by a run with other configs or splits; dcot-train refuses to mix them",
                                fix: "use another --out, or --fresh to start this one over")
            }
            try dir.restore(models: models, optimizers: optimizers, teachers: teachers, state: state)
            start = state.iteration + 1
            best = state.best
        } else if o.resume && writer {
            throw UserError(dir.statePath, "not found: nothing to resume", fix: "drop --resume to start a new run")
        }
        if Replicas.isDistributed {
            // Rank 0's decision and state on every rank.
            let header = RankAgreement.broadcast(writer ? Array(try JSONEncoder().encode(ResumePoint(start: start, best: best))) : [])
            let point = try JSONDecoder().decode(ResumePoint.self, from: Data(header))
            (start, best) = (point.start, point.best)
            if start > 0 { RankAgreement.broadcastState(models: models, optimizers: optimizers, teachers: teachers) }
        }
        if fresh && writer { RunDirectory(path: o.out).removeResults() }
        if writer { try AtomicFile.write(settings.configPaths.map { "# \($0)\n" + ((try? String(contentsOfFile: $0, encoding: .utf8)) ?? "") }
            .joined(separator: "\n---\n"), to: "\(o.out)/config.yaml") }

        let header = """
        dcot-train: \(settings.mode.rawValue) with \(models.count) model(s): \(settings.configs.map { "\($0.backbone) (\($0.isDCT ? "DCT" : "RGB"))" }.joined(separator: ", "))\(teachers.isEmpty ? "" : " + \(teachers.count == 1 ? "an EMA teacher" : "an EMA teacher each, whose pseudo-labels teach the partners") (decay \(o.emaDecay)\(o.emaWarmup ? ", warm-up" : ""))")
          data: \(labeled.count) labeled, \(unlabeled.count) unlabeled, \(val.count) val; crop \(settings.crop); batch \(settings.batchPerRank) x \(settings.ranks) emulated GPU(s) per list
          augmentation: scale \(loader.maker.scaleRange), strong blur σ \(loader.maker.blurSigmaRange)\(settings.configs[0].scaleRange == nil && settings.configs[0].blurSigmaRange == nil ? " (the reference's)" : "")
          schedule: \(total) iterations (\(perEpoch)/epoch), lr \(settings.run.lr) (head x\(settings.run.lrMulti)), poly 0.9, \(settings.run.optim); threshold \(settings.threshold); unsup weight \(o.unsupWeight)\(o.unsupRampup > 0 ? " (ramped up over \(o.unsupRampup) iterations)" : "")
          \(Replicas.isDistributed ? "ranks \(Replicas.ranks) x \(Replicas.local) replica(s), " : "")threads \(o.threads), seed \(settings.seed), config \(settings.configHash.prefix(12)), split \(splitHash.prefix(12)), manifest \(reader.manifest.shards.first?.sha256.prefix(12) ?? "-"), dcot \(gitCommit())
          \(start > 0 ? "resuming at iteration \(start)" : "starting fresh") → \(o.out)
        """
        if !quiet { printError(header) }

        let prior = o.distributionAlignment ? try labeledClassFrequencies(reader: reader, ids: labeled, classes: settings.configs[0].nclass, list: o.labeled) : nil
        if let prior, !quiet {
            printError("  distribution alignment: pseudo-labels pulled towards the labeled class frequencies [\(prior.map { String(format: "%.4f", $0) }.joined(separator: ", "))]")
        }
        var step = CoTrainingStep(models: models, ranks: settings.ranks, threshold: settings.threshold, unsupWeight: o.unsupWeight,
                                  ohem: settings.run.ohem ? (settings.run.ohemThreshold, settings.run.ohemMinKept) : nil, teacher: teacher,
                                  prior: prior, partnerTeachers: o.emaTeachers ? teachers : nil)
        // Every model dcot-train evaluates and checkpoints: m1..mn, then the teachers.
        let evaluated = models + teachers
        signal(SIGTERM) { _ in stopSignal = SIGTERM }
        signal(SIGINT) { _ in stopSignal = SIGINT }
        let saveEvery = o.saveEvery ?? perEpoch
        let evalEvery = o.evalEvery ?? perEpoch
        let gradientSlots = models.flatMap { $0.trainableParameters().compactMap(\.1.variable.slot) }
        loader.start(at: start)
        defer { loader.stop() }
        let t0 = Date()
        var stepTimes = [Double]()
        var it = start
        while it < total {
            let factor = CoTrainingStep.learningRateFactor(iteration: it, total: total, coTraining: semi)
            for (k, opt) in optimizers.enumerated() { for (g, group) in opt.groups.enumerated() { group.lr = Float(baseLRs[k][g] * factor) } }
            step.unsupWeight = CoTrainingStep.rampedUnsupWeight(o.unsupWeight, iteration: it, rampup: o.unsupRampup)
            let batch = try loader.next()
            let ts = Date()
            let x = StepInputs(batch, needRGB: needRGB, needDCT: needDCT, crop: settings.crop, cutmix: settings.mode != .mt)
            for opt in optimizers { opt.zeroGrad() }
            Tape.reset()
            let losses = step.run(x, seed: Random.derive(settings.seed, UInt64(it)))
            if let bad = losses.nonFiniteReplica ?? (losses.total.isFinite ? nil : 0) {
                let owner = bad / Replicas.local
                let ids = owner == Replicas.rank ? "; labeled \(batch.labeledIDs), unlabeled \(batch.unlabeledIDs)" : ""
                let message = "iteration \(it + 1): non-finite loss (sup \(losses.supervised), unsup \(losses.unsupervised)) from replica \(bad)\(Replicas.isDistributed ? " (rank \(owner))" : "")\(ids); the last good checkpoint in \(o.out) is kept; lower the learning rate"
                if Replicas.isDistributed { throw AllRanksError(message, exitCode: nonFiniteExitCode) }
                throw TrainingDiverged(iteration: it, message: message)
            }
            combineReplicaGradients(gradientSlots)
            for opt in optimizers { opt.step() }
            for (k, t) in teachers.enumerated() {
                CoTrainingStep.emaUpdate(teacher: t, student: models[k],
                                         decay: CoTrainingStep.emaDecay(step: it + 1, decay: o.emaDecay, warmup: o.emaWarmup))
            }
            Tape.reset()
            stepTimes.append(Date().timeIntervalSince(ts))
            if stepTimes.count == 1 && total - start > 1 {  // the dry run reports steady state: counters restart after the warm-up step
                (Replicas.secondsInCollectives, Replicas.secondsExchangingGradients, Replicas.bytesMoved) = (0, 0, 0)
            }
            let epoch = it / perEpoch
            if it % max(1, o.logEvery) == 0 || it == total - 1 {
                let elapsed = Date().timeIntervalSince(t0), done = it - start + 1
                let rate = Double(done) / max(elapsed, 1e-9)
                let terms = models.indices.map { k in
                    String(format: "m%d sup %.3f%@", k + 1, losses.supervised[k],
                           k < losses.unsupervised.count ? String(format: " unsup %.3f", losses.unsupervised[k]) : "")
                }.joined(separator: " | ")
                if !quiet {
                    printError(String(format: "it %d/%d ep %d lr %.5f | %@ | agree %.3f | %.2f it/s ETA %@ | data wait %.3fs",
                                      it + 1, total, epoch, baseLRs[0][0] * factor, terms, losses.agreement, rate,
                                      formatDuration(Double(total - it - 1) / rate), batch.waitSeconds))
                }
                let lossJSON = models.indices.map { k in
                    "\"m\(k + 1)\": {\"sup\": \(losses.supervised[k]), \"unsup\": \(k < losses.unsupervised.count ? losses.unsupervised[k] : 0)}"
                }.joined(separator: ", ")
                if writer { try dir.appendMetrics("{\"kind\": \"step\", \"iteration\": \(it), \"epoch\": \(epoch), \"lr\": \(baseLRs[0][0] * factor), \"loss\": {\(lossJSON)}, \"agreement\": \(losses.agreement), \"mask_ratio\": \(losses.maskRatio), \"seconds\": \(stepTimes.last!), \"data_wait_seconds\": \(batch.waitSeconds)\(o.unsupRampup > 0 ? ", \"unsup_weight\": \(step.unsupWeight)" : "")}") }
            }
            let last = it == total - 1
            if !o.dryRun && !val.isEmpty && ((it + 1) % evalEvery == 0 || last) {
                for (k, m) in evaluated.enumerated() {
                    let mode = evalMode(settings, isDCT: m.domain == .dct, epoch: epoch, totalEpochs: (total + perEpoch - 1) / perEpoch)
                    let (miou, table) = try evaluate(m, reader: reader, ids: Array(val.prefix(o.valLimit ?? val.count)), mode: mode)
                    let key = "m\(k + 1)"
                    if writer { try dir.appendMetrics("{\"kind\": \"eval\", \"iteration\": \(it), \"model\": \"\(key)\", \"miou\": \(miou), \"protocol\": \"\(mode.name)\", \"per_class_iou\": \(table)}") }
                    if !quiet { printError(String(format: "eval it %d %@: mIoU %.2f (%@)", it + 1, key, miou, mode.name)) }
                    lastMIoU[key] = miou
                    if miou > (best[key]?.miou ?? -1) {
                        best[key] = .init(miou: miou, iteration: it)
                        if writer { try dir.saveBest(m, k: k, miou: miou, iteration: it, protocol: mode.name) }
                    }
                }
            }
            if writer && o.snapshots > 0 && !o.dryRun && (1...o.snapshots).contains(where: { it + 1 == total * $0 / o.snapshots }) {
                for (k, m) in evaluated.enumerated() {
                    try Checkpoint.save(m, to: "\(o.out)/snapshot-m\(k + 1)-it\(it + 1).safetensors", metadata: ["iteration": String(it)])
                }
            }
            // A signal reaches the ranks at different moments: they stop together at the first
            // iteration where any rank saw one.
            let signalled = Int32(Replicas.isDistributed ? Replicas.gather([Double(stopSignal)]).max()! : Double(stopSignal))
            let stopping = signalled != 0 || (o.stopAfter.map { it + 1 >= $0 } ?? false)
            if !o.dryRun && ((it + 1) % saveEvery == 0 || last || stopping) {
                try RankAgreement.check([("parameters", RankAgreement.parameterHash(evaluated))],
                                        fix: "the replicas diverged by iteration \(it + 1) (a non-deterministic kernel or different hardware); report it")
                if writer { try dir.save(models: models, optimizers: optimizers, teachers: teachers, iteration: it, epoch: epoch, seed: settings.seed,
                             configHash: settings.configHash, splitHash: splitHash, best: best) }
            }
            if stopping {
                if signalled == 0 { return "dcot-train: stopped after iteration \(it + 1) (--stop-after); rerun to resume" }
                let message = "dcot-train: stopped by signal \(signalled) after iteration \(it + 1); rerun the same command to resume"
                if Replicas.isDistributed { throw AllRanksError(message, exitCode: 128 + signalled) }
                printError(message)
                exit(128 + signalled)
            }
            it += 1
        }
        if o.dryRun {
            let sPerIt = stepTimes.count > 1 ? stepTimes.dropFirst().reduce(0, +) / Double(stepTimes.count - 1) : stepTimes.first ?? 0
            let full = (o.iterations ?? (o.epochs ?? settings.run.epochs) * perEpoch)
            let steps = Double(max(1, stepTimes.count - (total - start > 1 ? 1 : 0)))
            let rss = Replicas.gather([peakRSSMegabytes()])
            let comm = Replicas.isDistributed
                ? String(format: "; in collectives %.3f s/iteration (waiting for the slowest rank included), of which the gradient exchange %.3f s; %.1f MB/iteration sent+received per rank; peak RSS per rank %@ MB",
                         Replicas.secondsInCollectives / steps, Replicas.secondsExchangingGradients / steps, Double(Replicas.bytesMoved) / steps / 1e6,
                         rss.map { String(format: "%.0f", $0) }.joined(separator: ", "))
                : ""
            return String(format: "dcot-train --dry-run: %.2f s/iteration, peak RSS %.0f MB; the whole run (%d iterations) would take %@",
                          sPerIt, rss.max()!, full, formatDuration(sPerIt * Double(full))) + comm
        }
        if writer { try dir.writeJSON(["iterations": String(total), "finished": ISO8601DateFormatter().string(from: Date())], to: "\(o.out)/done.json") }
        let rows = evaluated.indices.map { k -> String in
            let b = best["m\(k + 1)"]
            let name = k < models.count ? settings.configs[k].backbone
                : "\(settings.configs[k - models.count].backbone) EMA teacher\(models.count > 1 ? " of m\(k - models.count + 1)" : "")"
            return String(format: "  m%d %@: best mIoU %@, last %@", k + 1, name,
                          b.map { String(format: "%.2f at iteration %d", $0.miou, $0.iteration + 1) } ?? "-",
                          lastMIoU["m\(k + 1)"].map { String(format: "%.2f", $0) } ?? "-")
        }
        return (["dcot-train: finished \(total) iterations → \(o.out)"] + rows).joined(separator: "\n")
    }

    /// The reference's evaluation protocol during training. VOC: `original`. Cityscapes: the
    /// co-training scripts slide at every evaluation, for every model; only `supervised.py` uses
    /// `center_crop` until the last 20 epochs, and never for a DCT model (`supervised_dct.py`'s
    /// evaluate has no center_crop), so a supervised DCT model slides throughout.
    public static func evalMode(_ s: RunSettings, isDCT: Bool, epoch: Int, totalEpochs: Int) -> InferenceMode {
        guard s.run.dataset == "cityscapes" else { return .original }
        let sliding = InferenceMode.slidingWindow(window: s.crop, dctWindow: s.configs.compactMap(\.cropSizeDct).first ?? (s.crop + 3) / 4)
        guard s.mode == .supervised, !isDCT else { return sliding }
        return epoch < totalEpochs - 20 ? .centerCrop(s.crop) : sliding
    }

    static func evaluate(_ m: Segmentor, reader: ShardReader, ids: [String], mode: InferenceMode) throws -> (Double, String) {
        let wasTraining = m.training
        defer { m.train(wasTraining) }
        let inference = Inference(models: [SegmentorModel(m)], options: InferenceOptions(mode: mode))
        var matrix = ConfusionMatrix(classes: m.nclass)
        for id in itemsForThisRank(ids) {
            let s = try reader.sample(id)
            guard let image = s.image, let label = s.label else { continue }
            let p = try inference.predict(image: image, dct: s.dct)
            matrix.add(prediction: p.labels, target: p.scored(label).labels)
        }
        matrix = matrix.summedOverRanks()
        let perClass = "[" + matrix.iou.map { String(format: "%.6f", $0) }.joined(separator: ", ") + "]"
        return (matrix.meanIoU, perClass)
    }

    /// The fraction of the labeled set's labelled pixels (255 left out) in each class: distribution
    /// alignment's target. Read from the whole labeled list, in list order, so every rank gets the same.
    static func labeledClassFrequencies(reader: ShardReader, ids: [String], classes: Int, list: String) throws -> [Double] {
        var counts = [Int](repeating: 0, count: classes)
        for id in ids {
            guard let label = try reader.sample(id).label else { continue }
            for v in label.labels where Int(v) < classes { counts[Int(v)] += 1 }
        }
        let total = counts.reduce(0, +)
        guard total > 0 else {
            throw UserError(list, "has no labelled pixel to align the pseudo-labels with", fix: "drop --distribution-alignment or label some pixels")
        }
        return counts.map { Double($0) / Double(total) }
    }

    /// The commit of the working directory's git checkout, if any (for the run header).
    static func gitCommit() -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "rev-parse", "--short=12", "HEAD"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "unknown" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let s = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && !s.isEmpty ? s : "unknown"
    }

    static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}

/// What rank 0 read from the run directory, for the other ranks.
struct ResumePoint: Codable {
    var start: Int
    var best: [String: RunState.Best]
}
