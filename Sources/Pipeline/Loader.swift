// The training loader: which samples each iteration takes (EpochPlan), their views (ViewMaker) read
// from shards, and CutMix partners — produced ahead on a background thread so the step rarely
// waits. Everything is a pure function of (seed, iteration), so a resumed run replays the same data.
import Foundation
import ImageIO
import Shards
import Support

public struct TrainingBatch: Sendable {
    public var iteration: Int
    public var epoch: Int
    public var labeledIDs: [String]
    public var unlabeledIDs: [String]
    public var labeled: [LabeledViews]
    public var unlabeled: [UnlabeledViews]
    /// CutMix partner of each unlabeled sample (a permutation within each per-rank group).
    public var partners: [Int]
    /// Seconds the consumer waited for this batch.
    public var waitSeconds: Double = 0
}

public final class Loader: @unchecked Sendable {
    public enum Mode: Sendable { case supervised, coTraining }

    public let reader: ShardReader
    public let labeledIDs: [String]
    public let unlabeledIDs: [String]
    public let plan: EpochPlan
    public let maker: ViewMaker
    public let mode: Mode
    public let jobs: Int
    public let prefetch: Int
    /// Where labels come from: the first of these (pseudo-label shards of dcot-pseudo) that has the
    /// id, else `reader`.
    public let labelReaders: [ShardReader]
    /// Pseudo-labelled samples also get the strong photometric augmentation (ST++).
    public let strongPseudo: Bool
    /// Co-training: the labeled indices of every epoch (EpochPlan.labeledSchedule, drawn once).
    public let labeledSchedule: [Int]

    private let condition = NSCondition()
    private var ready: [Int: Result<TrainingBatch, Error>] = [:]
    private var nextToProduce = 0
    private var consumed = 0
    private var stopped = false
    private var thread: Thread?

    public init(reader: ShardReader, labeled: [String], unlabeled: [String], plan: EpochPlan, maker: ViewMaker,
                mode: Mode, jobs: Int = 1, prefetch: Int = 2, labelReaders: [ShardReader] = [], strongPseudo: Bool = false) throws {
        for id in labeled + unlabeled where !reader.contains(id) {
            throw UserError("\(reader.directory)/manifest.json", "sample '\(id)' of the split is not in the shards",
                            fix: "run dcot-prep over the list this split was made from")
        }
        guard !labeled.isEmpty, mode == .supervised || !unlabeled.isEmpty else {
            throw UserError("split", mode == .supervised ? "no labeled ids" : "co-training needs labeled and unlabeled ids",
                            fix: "check --labeled / --unlabeled")
        }
        self.reader = reader
        self.labeledIDs = labeled
        self.unlabeledIDs = unlabeled
        self.plan = plan
        self.maker = maker
        self.mode = mode
        self.jobs = max(1, jobs)
        self.prefetch = max(1, prefetch)
        self.labelReaders = labelReaders
        self.strongPseudo = strongPseudo
        labeledSchedule = mode == .coTraining ? plan.labeledSchedule(labeled: labeled.count, unlabeled: unlabeled.count) : []
    }

    deinit { stop() }

    /// Iterations in one epoch (one pass over the unlabeled set; the labeled set when supervised).
    public var iterationsPerEpoch: Int {
        plan.iterationsPerEpoch(samples: mode == .supervised ? labeledIDs.count : unlabeledIDs.count)
    }

    /// Starts producing from `iteration` on a background thread.
    public func start(at iteration: Int) {
        condition.lock()
        nextToProduce = iteration
        consumed = iteration
        stopped = false
        condition.unlock()
        let t = Thread { [unowned self] in self.produce() }
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// The batch of the next iteration (blocks until it is ready).
    public func next() throws -> TrainingBatch {
        let start = Date()
        condition.lock()
        defer { condition.unlock() }
        let it = consumed
        while ready[it] == nil && !stopped { condition.wait() }
        guard let result = ready.removeValue(forKey: it) else { throw CancellationError() }
        consumed += 1
        condition.broadcast()
        var batch = try result.get()
        batch.waitSeconds = Date().timeIntervalSince(start)
        return batch
    }

    private func produce() {
        while true {
            condition.lock()
            while !stopped && nextToProduce >= consumed + prefetch { condition.wait() }
            if stopped { condition.unlock(); return }
            let it = nextToProduce
            nextToProduce += 1
            condition.unlock()
            let result = Result { try makeBatch(iteration: it) }
            condition.lock()
            ready[it] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Builds one iteration's batch (also callable directly, e.g. by tests or a dry run).
    public func makeBatch(iteration: Int) throws -> TrainingBatch {
        let perEpoch = max(1, iterationsPerEpoch)
        let epoch = iteration / perEpoch, local = iteration % perEpoch
        let labeledIdx: [Int], unlabeledIdx: [Int]
        switch mode {
        case .supervised:
            labeledIdx = plan.batches(Array(labeledIDs.indices), epoch: epoch, purpose: .labeledOrder)[local]
            unlabeledIdx = []
        case .coTraining:
            // One permutation for both lists (equal lengths): labeled slot j meets unlabeled sample j.
            labeledIdx = plan.batches(labeledSchedule, epoch: epoch, purpose: .pairedOrder)[local]
            unlabeledIdx = plan.batches(Array(unlabeledIDs.indices), epoch: epoch, purpose: .pairedOrder)[local]
        }
        let slots = labeledIdx.count
        let views = try ParallelWork.map(labeledIdx.count + unlabeledIdx.count, jobs: jobs) { j -> (LabeledViews?, UnlabeledViews?) in
            let slot = local * (slots + unlabeledIdx.count) + j
            if j < slots {
                let id = labeledIDs[labeledIdx[j]]
                let s = try reader.sample(id)
                let pseudo = try labelReaders.first { $0.contains(id) }.flatMap { try $0.sample(id).label }
                guard let image = s.image, let mask = pseudo ?? s.label else {
                    throw UserError(reader.directory, "labeled sample '\(s.id)' has no label in the shards",
                                    fix: "prep the labeled list with its masks")
                }
                return (maker.labeled(image: image, mask: mask, epoch: epoch, index: slot, strong: strongPseudo && pseudo != nil), nil)
            }
            let s = try reader.sample(unlabeledIDs[unlabeledIdx[j - slots]])
            guard let image = s.image else {
                throw UserError(reader.directory, "sample '\(s.id)' has no image", fix: "rerun dcot-prep")
            }
            return (nil, maker.unlabeled(image: image, mask: s.label, epoch: epoch, index: slot))
        }
        var prng = SplitMix64(seed: plan.seed, keys: UInt64(epoch), UInt64(local), RandomPurpose.cutmixPartners.rawValue)
        let partners = unlabeledIdx.isEmpty ? [] : CutMix.partners(batch: unlabeledIdx.count, groupSize: plan.batchPerRank, rng: &prng)
        return TrainingBatch(iteration: iteration, epoch: epoch, labeledIDs: labeledIdx.map { labeledIDs[$0] },
                             unlabeledIDs: unlabeledIdx.map { unlabeledIDs[$0] }, labeled: views.compactMap(\.0),
                             unlabeled: views.compactMap(\.1), partners: partners)
    }
}
