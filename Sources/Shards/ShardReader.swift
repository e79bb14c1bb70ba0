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
    private var headers: [String: [String: TensorEntry]] = [:]
    private var dataStarts: [String: Int] = [:]
    private var descriptors: [String: Int32] = [:]

    /// Opens a shard directory (its manifest must exist). `verify` checks each shard's sha256
    /// once, on first use.
    public init(directory: String, verify: Bool = true) throws {
        self.directory = directory
        self.manifest = try Manifest.load(directory: directory)
        self.verify = verify
    }

    deinit {
        for fd in descriptors.values { close(fd) }
    }

    public var ids: [String] { manifest.samples.keys.sorted() }

    public func contains(_ id: String) -> Bool { manifest.samples[id] != nil }

    /// Reads every tensor of one sample.
    public func sample(_ id: String) throws -> ShardSample {
        guard let entry = manifest.samples[id] else {
            throw UserError("\(directory)/\(Manifest.fileName)", "sample id '\(id)' is not in these shards",
                            fix: "check the id list, or rerun dcot-prep with a list that contains it")
        }
        let (fd, layout, dataStart) = try open(entry.shard)
        let path = "\(directory)/\(entry.shard)"
        var frame = [UInt8](repeating: 0, count: entry.length)
        let n = frame.withUnsafeMutableBytes { pread(fd, $0.baseAddress, entry.length, off_t(entry.offset)) }
        guard n == entry.length else {
            throw UserError(path, "is shorter than the manifest says (sample '\(id)')", fix: "rerun dcot-prep --force")
        }
        let raw: [UInt8]
        do {
            raw = try frame.withUnsafeBytes { try Zstd.decompressFrame($0) }
        } catch {
            throw UserError(path, "sample '\(id)' is corrupt (\(error))", fix: "rerun dcot-prep --force")
        }
        // Tensor offsets in the header are relative to the whole data section; this frame starts
        // at the first tensor of the sample.
        let keys = ["image", "label", "dct", "confidence"]
        let found = keys.compactMap { k in layout["\(id)/\(k)"].map { (k, $0) } }
        guard let base = found.map({ $0.1.begin }).min() else {
            throw UserError(path, "has no tensors for sample '\(id)'", fix: "rerun dcot-prep --force")
        }
        _ = dataStart
        func bytes(_ e: TensorEntry) throws -> ArraySlice<UInt8> {
            let b = e.begin - base, en = e.end - base
            guard b >= 0, en <= raw.count else {
                throw UserError(path, "tensor \(e.name) lies outside its frame", fix: "rerun dcot-prep --force")
            }
            return raw[b..<en]
        }
        var image: RGBImage?, label: LabelImage?, dct: DCTCoefficients?, confidence: [UInt8]?
        for (k, e) in found {
            switch k {
            case "image":
                image = RGBImage(width: e.shape[1], height: e.shape[0], pixels: Array(try bytes(e)))
            case "label":
                label = LabelImage(width: e.shape[1], height: e.shape[0], labels: Array(try bytes(e)))
            case "dct":
                let slice = try bytes(e)
                let values = [Int16](unsafeUninitializedCapacity: e.elementCount) { buf, count in
                    slice.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
                    count = e.elementCount
                }
                dct = DCTCoefficients(height: e.shape[1], width: e.shape[2], values: values)
            default:
                confidence = Array(try bytes(e))
            }
        }
        return ShardSample(id: id, image: image, label: label, dct: dct, confidence: confidence)
    }

    /// Opens (once) a shard: descriptor, parsed header, verified checksum.
    private func open(_ shard: String) throws -> (Int32, [String: TensorEntry], Int) {
        lock.lock()
        defer { lock.unlock() }
        if let fd = descriptors[shard], let h = headers[shard], let d = dataStarts[shard] { return (fd, h, d) }
        let path = "\(directory)/\(shard)"
        guard let record = manifest.shards.first(where: { $0.file == shard }) else {
            throw UserError("\(directory)/\(Manifest.fileName)", "names shard \(shard) but does not list it",
                            fix: "rerun dcot-prep --force")
        }
        if verify {
            let actual = try SHA256.hex(ofFile: path)
            guard actual == record.sha256 else {
                throw UserError(path, "checksum mismatch (sha256 \(actual.prefix(12))…, manifest says \(record.sha256.prefix(12))…): the shard is corrupt or was changed",
                                fix: "rerun dcot-prep --force to rebuild the shards")
            }
        }
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw UserError(path, "cannot open shard (\(errnoText()))", fix: "rerun dcot-prep") }
        // Frame 0 is the safetensors header; it ends where the shard's first sample frame starts.
        guard let size = manifest.samples.values.lazy.filter({ $0.shard == shard }).map(\.offset).min(), size > 0 else {
            close(fd)
            throw UserError(path, "the manifest lists no samples in this shard", fix: "rerun dcot-prep --force")
        }
        var head = [UInt8](repeating: 0, count: size)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
        guard n == size else {
            close(fd)
            throw UserError(path, "is shorter than its header", fix: "rerun dcot-prep --force")
        }
        let header: SafeTensorsHeader
        do {
            let raw = try head.withUnsafeBytes { try Zstd.decompressFrame($0) }
            header = try raw.withUnsafeBytes { try SafeTensorsHeader.parse($0) }
        } catch {
            close(fd)
            throw UserError(path, "header is corrupt (\(error))", fix: "rerun dcot-prep --force")
        }
        descriptors[shard] = fd
        headers[shard] = header.byName
        dataStarts[shard] = header.dataStart
        return (fd, header.byName, header.dataStart)
    }
}
