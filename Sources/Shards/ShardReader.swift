// Random access to samples by id: one pread of the sample's frame, one decompression.
// Each shard's checksum is verified the first time it is opened (a mismatch names the shard).
import Foundation
import ImageIO
import SafeTensors
import Support
#if canImport(Glibc)
import Glibc
#endif

/// A sample read back from a shard.
public struct ShardSample: Sendable {
    public let id: String
    public let image: RGBImage?
    public let label: LabelImage?
    public let dct: DCTCoefficients?
    /// 0–255 confidence (pseudo-label shards).
    public let confidence: [UInt8]?
}

public final class ShardReader: @unchecked Sendable {
    public let directory: String
    public let manifest: Manifest
    private let verify: Bool
    private let lock = NSLock()
    private var opened: [String: OpenShard] = [:]

    /// Opens a shard directory (its manifest must exist). `verify` checks each shard's sha256
    /// once, on first use.
    public init(directory: String, verify: Bool = true) throws {
        self.directory = directory
        self.manifest = try Manifest.load(directory: directory)
        self.verify = verify
    }

    deinit {
        for shard in opened.values { close(shard.fd) }
    }

    public var ids: [String] { manifest.samples.keys.sorted() }

    public func contains(_ id: String) -> Bool { manifest.samples[id] != nil }

    /// Reads every tensor of one sample. Whatever the manifest or the shard say is checked before it
    /// is used (offsets, sizes, shapes, dtypes, label values), so a damaged or forged directory is a
    /// `UserError` naming the file, never a trap.
    public func sample(_ id: String) throws -> ShardSample {
        let manifestPath = "\(directory)/\(Manifest.fileName)"
        guard let entry = manifest.samples[id] else {
            throw UserError(manifestPath, "sample id '\(id)' is not in these shards",
                            fix: "check the id list, or rerun dcot-prep with a list that contains it")
        }
        let shard = try open(entry.shard)
        let path = "\(directory)/\(entry.shard)"
        guard entry.offset >= shard.headerSize, entry.length > 0, entry.offset <= shard.size,
              entry.length <= shard.size - entry.offset else {
            throw UserError(manifestPath, "sample '\(id)' (offset \(entry.offset), length \(entry.length)) lies outside the samples of \(entry.shard) (\(shard.size) bytes)",
                            fix: "rerun dcot-prep --force")
        }
        let (h, w) = (entry.height, entry.width)
        guard (1...ShardReader.maxSide).contains(h), (1...ShardReader.maxSide).contains(w) else {
            throw UserError(manifestPath, "sample '\(id)' has an impossible size \(w)x\(h)", fix: "rerun dcot-prep --force")
        }
        // This sample's tensors, contiguous in the data section; its frame holds exactly those bytes.
        let found = ShardReader.keys.compactMap { k in shard.layout["\(id)/\(k)"].map { (k, $0) } }
        guard let base = found.map({ $0.1.begin }).min(), let end = found.map({ $0.1.end }).max() else {
            throw UserError(path, "has no tensors for sample '\(id)'", fix: "rerun dcot-prep --force")
        }
        var frame = [UInt8](repeating: 0, count: entry.length)
        let n = frame.withUnsafeMutableBytes { pread(shard.fd, $0.baseAddress, entry.length, off_t(entry.offset)) }
        guard n == entry.length else {
            throw UserError(path, "cannot read sample '\(id)' (\(n < 0 ? errnoText() : "short read"))", fix: "rerun dcot-prep --force")
        }
        let raw: [UInt8]
        do {
            raw = try frame.withUnsafeBytes { try Zstd.decompressFrame($0, maxSize: end - base) }
        } catch {
            throw UserError(path, "sample '\(id)' (bytes \(entry.offset)..<\(entry.offset + entry.length) per manifest.json) is corrupt (\(error))",
                            fix: "rerun dcot-prep --force")
        }
        guard raw.count == end - base else {
            throw UserError(path, "sample '\(id)' holds \(raw.count) bytes but the shard header says \(end - base)",
                            fix: "rerun dcot-prep --force")
        }
        func bytes(_ e: TensorEntry, _ dtype: DType, _ shape: [Int]) throws -> ArraySlice<UInt8> {
            guard e.dtype == dtype, e.shape == shape else {
                throw UserError(path, "tensor '\(e.name)' is \(e.dtype.rawValue) \(e.shape), expected \(dtype.rawValue) \(shape) (the size in manifest.json)",
                                fix: "rerun dcot-prep --force")
            }
            return raw[(e.begin - base)..<(e.end - base)]
        }
        var image: RGBImage?, label: LabelImage?, dct: DCTCoefficients?, confidence: [UInt8]?
        for (k, e) in found {
            switch k {
            case "image":
                image = RGBImage(width: w, height: h, pixels: Array(try bytes(e, .U8, [h, w, 3])))
            case "label":
                let labels = Array(try bytes(e, .U8, [h, w]))
                try checkLabels(labels, id: id, width: w, path: path)
                label = LabelImage(width: w, height: h, labels: labels)
            case "dct":
                let (gh, gw) = ((h + 3) / 4, (w + 3) / 4)
                let slice = try bytes(e, .I16, [DCTTransform.channels, gh, gw])
                let values = [Int16](unsafeUninitializedCapacity: e.elementCount) { buf, count in
                    slice.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
                    count = e.elementCount
                }
                dct = DCTCoefficients(height: gh, width: gw, values: values)
            default:
                confidence = Array(try bytes(e, .U8, [h, w]))
            }
        }
        return ShardSample(id: id, image: image, label: label, dct: dct, confidence: confidence)
    }

    /// Tensors of a sample, by key (`<id>/<key>`).
    static let keys = ["image", "label", "dct", "confidence"]
    /// Larger than any image JPEG or PNG can hold in practice; keeps H·W·3 far from overflow.
    static let maxSide = 1 << 16

    /// Label values must be classes or 255 (ignore): the losses and the confusion matrix index by them.
    private func checkLabels(_ labels: [UInt8], id: String, width: Int, path: String) throws {
        let classes = manifest.classes.count
        guard let i = labels.firstIndex(where: { $0 != 255 && Int($0) >= classes }) else { return }
        throw UserError(path, "sample '\(id)' has label value \(labels[i]) at (x \(i % width), y \(i / width)), outside [0, \(classes)) and not 255",
                        fix: "rerun dcot-prep --force")
    }

    private struct OpenShard {
        let fd: Int32
        let layout: [String: TensorEntry]
        /// File size and the length of frame 0 (the safetensors header).
        let size: Int
        let headerSize: Int
    }

    /// Opens (once) a shard: descriptor, parsed header, verified checksum.
    private func open(_ shard: String) throws -> OpenShard {
        lock.lock()
        defer { lock.unlock() }
        if let open = opened[shard] { return open }
        let path = "\(directory)/\(shard)"
        let manifestPath = "\(directory)/\(Manifest.fileName)"
        guard let record = manifest.shards.first(where: { $0.file == shard }) else {
            throw UserError(manifestPath, "names shard \(shard) but does not list it", fix: "rerun dcot-prep --force")
        }
        if verify {
            let actual = try SHA256.hex(ofFile: path)
            guard actual == record.sha256 else {
                throw UserError(path, "checksum mismatch (sha256 \(actual.prefix(12))…, manifest says \(record.sha256.prefix(12))…): the shard is corrupt or was changed",
                                fix: "rerun dcot-prep --force to rebuild the shards")
            }
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UserError(path, "cannot open shard (\(errnoText()))", fix: "rerun dcot-prep") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw UserError(path, "cannot read shard (\(errnoText()))", fix: "rerun dcot-prep")
        }
        let size = Int(info.st_size)
        // Frame 0 is the safetensors header; it ends where the shard's first sample frame starts.
        guard let headerSize = manifest.samples.values.lazy.filter({ $0.shard == shard }).map(\.offset).min(),
              headerSize > 0, headerSize <= size else {
            close(fd)
            throw UserError(manifestPath, "lists no samples inside \(shard) (\(size) bytes)", fix: "rerun dcot-prep --force")
        }
        var head = [UInt8](repeating: 0, count: headerSize)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, headerSize, 0) }
        guard n == headerSize else {
            close(fd)
            throw UserError(path, "is shorter than its header", fix: "rerun dcot-prep --force")
        }
        let header: SafeTensorsHeader
        do {
            let raw = try head.withUnsafeBytes { try Zstd.decompressFrame($0, maxSize: ShardReader.maxHeaderBytes) }
            header = try raw.withUnsafeBytes { try SafeTensorsHeader.parse($0) }
        } catch {
            close(fd)
            throw UserError(path, "header (its first \(headerSize) bytes, up to the first sample in manifest.json) is corrupt (\(error))",
                            fix: "rerun dcot-prep --force")
        }
        let open = OpenShard(fd: fd, layout: header.byName, size: size, headerSize: headerSize)
        opened[shard] = open
        return open
    }

    /// The safetensors header's own limit (8-byte length + at most 100 MB of JSON).
    static let maxHeaderBytes = 100_000_008
}
