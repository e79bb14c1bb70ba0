// The shard container (*.dcshard): zstd frames whose decompressed concatenation is one safetensors
// file. Frame 0 = the safetensors header; then one frame per sample with that sample's tensors
// (`<id>/image` U8 [H,W,3], `<id>/label` U8 [H,W], `<id>/dct` I16 [64,H',W'], `<id>/confidence`
// U8 [H,W]), contiguous, so one sample is read by seeking to its frame.
import SafeTensors

public enum ShardFormat {
    public static let format = "dcot-shard"
    public static let version = 1
    public static let fileExtension = "dcshard"
    /// zstd level used by dcot-prep. Photographs barely compress (ratio 1.08 at level 1, 1.14 at 3)
    /// while level 3 costs ~4x the time of level 1, so prep uses the fast level.
    public static let defaultLevel: Int32 = 1
}

/// One tensor of a sample before it is placed in a shard.
public struct SampleTensor: Sendable {
    public var key: String // "image", "label", "dct", "confidence"
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(key: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize)
        self.key = key
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init<T: BitwiseCopyable>(key: String, dtype: DType, shape: [Int], values: [T]) {
        self.init(key: key, dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
}

/// A sample compressed into its own frame, ready to be placed in a shard (safe to build in parallel).
public struct EncodedSample: Sendable {
    public let id: String
    /// (key, dtype, shape, byte range within the sample's raw bytes)
    public let tensors: [(key: String, dtype: DType, shape: [Int], begin: Int, end: Int)]
    public let rawSize: Int
    public let frame: [UInt8]

    public init(id: String, tensors: [SampleTensor], level: Int32 = ShardFormat.defaultLevel,
                context: Zstd.Context? = nil) {
        var layout = [(key: String, dtype: DType, shape: [Int], begin: Int, end: Int)]()
        var offset = 0
        for t in tensors {
            layout.append((t.key, t.dtype, t.shape, offset, offset + t.bytes.count))
            offset += t.bytes.count
        }
        self.id = id
        self.tensors = layout
        self.rawSize = offset
        self.frame = EncodedSample.compress(tensors, 0, [], level: level, context: context)
    }

    /// Compresses the tensors' bytes in order without concatenating them first.
    private static func compress(_ tensors: [SampleTensor], _ i: Int, _ pieces: [UnsafeRawBufferPointer], level: Int32,
                                 context: Zstd.Context?) -> [UInt8] {
        if i == tensors.count { return Zstd.compress(pieces: pieces, level: level, context: context?.pointer) }
        return tensors[i].bytes.withUnsafeBytes { compress(tensors, i + 1, pieces + [$0], level: level, context: context) }
    }
}
