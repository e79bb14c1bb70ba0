// Collects encoded samples in order and writes a shard each time they reach the target size, keeping
// the manifest's shard list and per-sample placement (dcot-prep and dcot-pseudo share it).

public struct ShardAccumulator {
    public let directory: String
    public let dataset: String
    public let targetBytes: Int
    public let level: Int32
    /// Shard file names are `<namePrefix>NNNNN.dcshard` (ranks of one job write their own files).
    public var namePrefix = "shard-"
    public private(set) var shards: [Manifest.Shard] = []
    public private(set) var samples: [String: Manifest.Sample] = [:]
    public private(set) var bytes = 0
    private var pending: [(EncodedSample, Manifest.Sample)] = []
    private var pendingBytes = 0

    public init(directory: String, dataset: String, targetBytes: Int, level: Int32 = ShardFormat.defaultLevel) {
        self.directory = directory
        self.dataset = dataset
        self.targetBytes = max(1, targetBytes)
        self.level = level
    }

    /// Adds one sample; `info`'s shard, offset and length are filled in when its shard is written.
    public mutating func add(_ sample: EncodedSample, _ info: Manifest.Sample) throws {
        pending.append((sample, info))
        pendingBytes += sample.frame.count
        if pendingBytes >= targetBytes { try flush() }
    }

    /// Writes the pending samples as the next shard (no-op when there are none).
    public mutating func flush() throws {
        guard !pending.isEmpty else { return }
        let name = namePrefix + String(format: "%05d.\(ShardFormat.fileExtension)", shards.count)
        let written = try ShardWriter.write(pending.map(\.0), name: name, directory: directory, dataset: dataset, level: level)
        for (encoded, var info) in pending {
            let placed = written.samples[encoded.id]!
            (info.shard, info.offset, info.length) = (name, placed.offset, placed.length)
            samples[encoded.id] = info
        }
        shards.append(Manifest.Shard(file: name, sha256: written.sha256, samples: pending.count))
        bytes += written.bytes
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
    }
}
