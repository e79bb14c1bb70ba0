// Whole-file safetensors reading and writing (checkpoints, fixtures, decompressed shards).
import Foundation

/// A parsed safetensors file held in memory.
public struct SafeTensorsFile: Sendable {
    public let header: SafeTensorsHeader
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        self.bytes = bytes
        self.header = try bytes.withUnsafeBytes { try SafeTensorsHeader.parse($0) }
        guard header.dataSize <= bytes.count - min(bytes.count, header.dataStart) else {
            throw SafeTensorsError("data section truncated: need \(header.dataStart + header.dataSize) bytes, have \(bytes.count)")
        }
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError("\(path): cannot read")
        }
        try self.init(bytes: [UInt8](data))
    }

    public var names: [String] { header.entries.map(\.name) }

    public func entry(_ name: String) -> TensorEntry? { header.byName[name] }

    /// Raw bytes of one tensor.
    public func data(_ name: String) throws -> ArraySlice<UInt8> {
        guard let e = entry(name) else { throw SafeTensorsError("no tensor named '\(name)'") }
        return bytes[(header.dataStart + e.begin)..<(header.dataStart + e.end)]
    }

    /// Elements of one tensor, which must have the given dtype.
    public func array<T: BitwiseCopyable>(_ name: String, as type: T.Type, dtype: DType) throws -> [T] {
        guard let e = entry(name) else { throw SafeTensorsError("no tensor named '\(name)'") }
        guard e.dtype == dtype else { throw SafeTensorsError("tensor '\(name)' is \(e.dtype.rawValue), expected \(dtype.rawValue)") }
        let slice = try data(name)
        return [T](unsafeUninitializedCapacity: e.elementCount) { buf, count in
            slice.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: src)
            }
            count = e.elementCount
        }
    }

    public func floats(_ name: String) throws -> [Float] { try array(name, as: Float.self, dtype: .F32) }
}

/// Builds a safetensors file tensor by tensor, in insertion order.
public struct SafeTensorsWriter {
    public private(set) var entries: [TensorEntry] = []
    public private(set) var data: [UInt8] = []
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize, "byte count does not match shape")
        let begin = data.count
        data.append(contentsOf: bytes)
        entries.append(TensorEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: data.count))
    }

    public mutating func add<T: BitwiseCopyable>(_ name: String, dtype: DType, shape: [Int], values: [T]) {
        precondition(MemoryLayout<T>.size == dtype.byteSize)
        values.withUnsafeBytes { add(name, dtype: dtype, shape: shape, bytes: $0) }
    }

    public var header: SafeTensorsHeader { SafeTensorsHeader(entries: entries, metadata: metadata) }

    public func serialize() -> [UInt8] { header.encode() + data }
}
