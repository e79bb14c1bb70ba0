// Which samples each iteration sees (METHOD.md section 1.3), emulating the reference's W GPUs in one
// process: the labeled list is repeated ceil(|U|/|L|) times, shuffled and cut to |U| once per run (the
// reference does it in the dataset's constructor); each list goes through a DistributedSampler-like
// split (rank r takes every W-th index of a padded permutation) and a drop-last loader of B per rank,
// so iterations per epoch = floor(ceil(|U|/W)/B). In co-training both lists are ordered by the same
// permutation each epoch (the reference's two samplers share seed and length), so position j of the
// labeled schedule always meets unlabeled sample j. Every permutation is a pure function of
// (seed, epoch, purpose): resuming anywhere replays it.
import Support

public struct EpochPlan: Sendable {
    public enum Purpose: UInt64, Sendable {
        /// The run's one labeled schedule; the order of the supervised baseline's labeled list; the
        /// per-epoch order shared by the labeled schedule and the unlabeled list in co-training.
        case labeledRepeat = 1, labeledOrder = 2, pairedOrder = 3
    }

    /// Samples per rank per iteration (the reference's `batch_size`).
    public let batchPerRank: Int
    /// Emulated GPUs (W).
    public let ranks: Int
    public let seed: UInt64

    public init(batchPerRank: Int, ranks: Int = 1, seed: UInt64) {
        precondition(batchPerRank >= 1 && ranks >= 1)
        self.batchPerRank = batchPerRank
        self.ranks = ranks
        self.seed = seed
    }

    /// floor(ceil(n / W) / B): the reference's iterations per epoch over a list of n samples.
    public func iterationsPerEpoch(samples n: Int) -> Int { ((n + ranks - 1) / ranks) / batchPerRank }

    /// A seeded permutation of 0..<n.
    public func permutation(_ n: Int, epoch: Int, purpose: Purpose) -> [Int] {
        var rng = SplitMix64(seed: seed, keys: UInt64(epoch), purpose.rawValue, UInt64(n))
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        return order
    }

    /// The labeled indices of every co-training epoch: 0..<labeled repeated ceil(u/l) times, shuffled,
    /// truncated to `unlabeled` entries, drawn once per run.
    public func labeledSchedule(labeled: Int, unlabeled: Int) -> [Int] {
        precondition(labeled >= 1)
        let repeats = (unlabeled + labeled - 1) / labeled
        let pool = (0..<(repeats * labeled)).map { $0 % labeled }
        return permutation(pool.count, epoch: 0, purpose: .labeledRepeat).prefix(unlabeled).map { pool[$0] }
    }

    /// Global batches of one epoch over `list` (indices into it): iteration → W·B indices, rank-major
    /// (rank 0's B samples, then rank 1's, ...), as DistributedSampler + drop_last would give them.
    public func batches(_ list: [Int], epoch: Int, purpose: Purpose) -> [[Int]] {
        let n = list.count
        let perRank = (n + ranks - 1) / ranks
        let order = permutation(n, epoch: epoch, purpose: purpose)
        // Pad by wrapping to W * perRank, then rank r takes positions r, r + W, ...
        let padded = (0..<(perRank * ranks)).map { order[$0 % max(n, 1)] }
        let iters = perRank / batchPerRank
        return (0..<iters).map { it in
            (0..<ranks).flatMap { r in
                (0..<batchPerRank).map { b in list[padded[(it * batchPerRank + b) * ranks + r]] }
            }
        }
    }
}
