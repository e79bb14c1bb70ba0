// The safetensors container: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then raw
// little-endian tensor bytes (offsets relative to the end of the header). No dependencies beyond
// Foundation's JSON parser, so shards and checkpoints share it.
import Foundation

public enum DType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL

    public var byteSize: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

public struct SafeTensorsError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One tensor's entry in the header.
public struct TensorEntry: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range relative to the start of the data section.
    public var begin: Int
    public var end: Int

    public init(name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

public struct SafeTensorsHeader: Sendable {
    /// Entries in data order.
    public var entries: [TensorEntry]
    public var metadata: [String: String]
    /// Byte offset of the data section in the file (8 + header length).
    public var dataStart: Int

    public init(entries: [TensorEntry], metadata: [String: String]) {
        self.entries = entries
        self.metadata = metadata
        self.dataStart = 0
        self.dataStart = encode().count
    }

    public var byName: [String: TensorEntry] {
        var d = [String: TensorEntry]()
        for e in entries { d[e.name] = e }
        return d
    }

    /// Total size of the data section.
    public var dataSize: Int { entries.map(\.end).max() ?? 0 }

    /// The 8-byte length plus the JSON header, padded with spaces to a multiple of 8 bytes.
    /// Keys are written in data order (metadata first), so the bytes are deterministic.
    public func encode() -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        for e in entries {
            if !first { json += "," }
            first = false
            json += "\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":["
            json += e.shape.map(String.init).joined(separator: ",")
            json += "],\"data_offsets\":[\(e.begin),\(e.end)]}"
        }
        json += "}"
        var body = Array(json.utf8)
        while (body.count + 8) % 8 != 0 { body.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + body.count)
        var n = UInt64(body.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
        return out
    }

    /// Length of the header (8 + JSON) given the first 8 bytes of a file.
    public static func headerLength(prefix: UnsafeRawBufferPointer) throws -> Int {
        guard prefix.count >= 8 else { throw SafeTensorsError("file shorter than 8 bytes") }
        let n = prefix.loadUnaligned(as: UInt64.self).littleEndian
        guard n <= 100_000_000 else { throw SafeTensorsError("header length \(n) is implausible") }
        return 8 + Int(n)
    }

    /// Parses the 8-byte length and JSON header at the start of `bytes` and validates the entries.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SafeTensorsHeader {
        let total = try headerLength(prefix: bytes)
        guard bytes.count >= total else { throw SafeTensorsError("header truncated") }
        let json = Data(bytes[8..<total])
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw SafeTensorsError("header is not a JSON object")
        }
        var metadata = [String: String]()
        var entries = [TensorEntry]()
        for (key, value) in object {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafeTensorsError("__metadata__.\(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let d = value as? [String: Any], let dt = d["dtype"] as? String,
                  let shape = d["shape"] as? [Int], let offsets = d["data_offsets"] as? [Int], offsets.count == 2
            else { throw SafeTensorsError("tensor '\(key)' has a malformed header entry") }
            guard let dtype = DType(rawValue: dt) else { throw SafeTensorsError("tensor '\(key)' has unknown dtype \(dt)") }
            guard shape.count <= maxRank, shape.allSatisfy({ $0 >= 0 }) else {
                throw SafeTensorsError("tensor '\(key)' has an impossible shape \(shape)")
            }
            // The byte count is checked without overflow: a forged shape must not trap.
            guard let bytes = byteCount(shape, dtype) else {
                throw SafeTensorsError("tensor '\(key)': shape \(shape) of \(dt) is too large")
            }
            let e = TensorEntry(name: key, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
            guard e.begin >= 0, e.end >= e.begin, e.end - e.begin == bytes else {
                throw SafeTensorsError("tensor '\(key)': byte range \(offsets) does not match shape \(shape) of \(dt)")
            }
            entries.append(e)
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        // Offsets are relative to the end of the header; the file must be able to hold them.
        guard (entries.map(\.end).max() ?? 0) <= Int.max - total else { throw SafeTensorsError("data offsets are implausibly large") }
        var h = SafeTensorsHeader(entries: [], metadata: [:])
        h.entries = entries
        h.metadata = metadata
        h.dataStart = total
        return h
    }
}

/// More dimensions than any tensor of ours (or PyTorch's 25-dimension limit) has.
let maxRank = 32

/// elementCount · byteSize, or nil when it does not fit in an Int.
func byteCount(_ shape: [Int], _ dtype: DType) -> Int? {
    var n = dtype.byteSize
    for d in shape {
        let (product, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = product
    }
    return n
}

private func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
