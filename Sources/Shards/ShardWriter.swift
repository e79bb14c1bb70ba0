// Assembles encoded samples into one shard file, atomically (temp, fsync, rename).
import SafeTensors
import Support

/// Where each sample landed in a written shard.
public struct WrittenShard: Sendable {
    public let file: String
    public let sha256: String
    public let samples: [String: (offset: Int, length: Int)]
    public let bytes: Int
}

public enum ShardWriter {
    /// Writes `samples` (in order) to `directory/name`; returns checksums and frame offsets.
    public static func write(_ samples: [EncodedSample], name: String, directory: String, dataset: String,
                             level: Int32 = ShardFormat.defaultLevel) throws -> WrittenShard {
        var entries = [TensorEntry]()
        var base = 0
        for s in samples {
            for t in s.tensors {
                entries.append(TensorEntry(name: "\(s.id)/\(t.key)", dtype: t.dtype, shape: t.shape,
                                           begin: base + t.begin, end: base + t.end))
            }
            base += s.rawSize
        }
        let header = SafeTensorsHeader(entries: entries, metadata: [
            "format": ShardFormat.format, "version": String(ShardFormat.version), "dataset": dataset,
        ])
        let headerFrame = Zstd.compress(header.encode(), level: level)
        var offsets = [String: (offset: Int, length: Int)]()
        var position = headerFrame.count
        var sha = SHA256()
        sha.update(headerFrame)
        for s in samples {
            offsets[s.id] = (position, s.frame.count)
            position += s.frame.count
            sha.update(s.frame)
        }
        let path = "\(directory)/\(name)"
        try AtomicFile.write(to: path) { fd in
            try headerFrame.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            for s in samples {
                try s.frame.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            }
        }
        return WrittenShard(file: name, sha256: sha.finalize(), samples: offsets, bytes: position)
    }
}
