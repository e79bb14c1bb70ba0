// Model state dicts as safetensors files, names identical to the reference PyTorch state_dict()
// (parameters and BN buffers F32, num_batches_tracked I64), in state_dict order. Loading is strict:
// one error lists every missing, unexpected, wrong-shape and wrong-dtype tensor.
import Foundation
import Tensor
import NN
import SafeTensors
import Support

/// Everything that kept a file from loading into a module, reported at once.
public struct CheckpointMismatch: Error, CustomStringConvertible, Equatable {
    public let file: String
    public var missing: [String] = []
    public var unexpected: [String] = []
    /// "name: file [a, b] vs model [c, d]"
    public var wrongShape: [String] = []
    public var wrongDType: [String] = []

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && wrongShape.isEmpty && wrongDType.isEmpty }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("\(missing.count) missing (\(missing.joined(separator: ", ")))") }
        if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected (\(unexpected.joined(separator: ", ")))") }
        if !wrongShape.isEmpty { parts.append("\(wrongShape.count) wrong shape (\(wrongShape.joined(separator: "; ")))") }
        if !wrongDType.isEmpty { parts.append("\(wrongDType.count) wrong dtype (\(wrongDType.joined(separator: "; ")))") }
        return "\(file): checkpoint does not match the model: \(parts.joined(separator: "; ")); "
            + "check that the config (backbone, nclass, width) is the one the checkpoint was trained with"
    }
}

public enum Checkpoint {
    /// Tensor names and shapes of `module`'s state dict, in order (num_batches_tracked: shape []).
    public static func keys(_ module: any Module, prefix: String = "") -> [(name: String, shape: [Int], dtype: DType)] {
        module.namedParameters(prefix: prefix).map { ($0.0, $0.1.shape, $0.1.kind == .int64Buffer ? .I64 : .F32) }
    }

    /// Writes `module`'s state dict atomically (temp file, fsync, rename).
    public static func save(_ module: any Module, to path: String, metadata: [String: String] = [:]) throws {
        let params = module.namedParameters()
        var entries: [TensorEntry] = [], offset = 0
        for (name, p) in params {
            let dtype: DType = p.kind == .int64Buffer ? .I64 : .F32
            let bytes = p.value.count * dtype.byteSize
            entries.append(TensorEntry(name: name, dtype: dtype, shape: p.shape, begin: offset, end: offset + bytes))
            offset += bytes
        }
        var meta = metadata
        meta["format"] = meta["format"] ?? "dcot-model"
        let header = SafeTensorsHeader(entries: entries, metadata: meta).encode()
        try AtomicFile.write(to: path) { fd in
            try header.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            for (_, p) in params {
                if p.kind == .int64Buffer {
                    let v = (0..<p.value.count).map { Int64(p.value[$0].rounded()) }
                    try v.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
                } else {
                    try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(start: p.value.data, count: p.value.count * 4), path: path)
                }
            }
        }
    }

    /// Strict load of a whole model from a file.
    public static func load(into module: any Module, from path: String) throws {
        try load(into: module, file: try open(path), source: path)
    }

    /// Strict load: the file's tensors named `prefix + name` must be exactly the module's. Tensors
    /// whose names do not start with `prefix` count as unexpected unless `ignoreOutsidePrefix`.
    public static func load(into module: any Module, file: SafeTensorsFile, source: String, prefix: String = "",
                            ignoreOutsidePrefix: Bool = false) throws {
        let params = module.namedParameters()
        var report = CheckpointMismatch(file: source)
        let expected = Set(params.map { prefix + $0.0 })
        for name in file.names where !expected.contains(name) {
            if ignoreOutsidePrefix && !name.hasPrefix(prefix) { continue }
            report.unexpected.append(name)
        }
        var plan: [(TensorEntry, Parameter)] = []
        for (local, p) in params {
            let name = prefix + local
            guard let e = file.entry(name) else { report.missing.append(name); continue }
            let fileCount = e.shape.reduce(1, *)
            // num_batches_tracked is a 0-d tensor; some exporters write it as [1].
            let shapeOK = e.shape == p.shape || (p.kind == .int64Buffer && fileCount == 1 && p.value.count == 1)
            if !shapeOK { report.wrongShape.append("\(name): file \(e.shape) vs model \(p.shape)"); continue }
            let okTypes: [DType] = p.kind == .int64Buffer ? [.I64, .I32, .F32, .F64] : [.F32, .F16, .BF16, .F64]
            if !okTypes.contains(e.dtype) { report.wrongDType.append("\(name): \(e.dtype.rawValue)"); continue }
            plan.append((e, p))
        }
        if !report.isEmpty { throw report }
        for (e, p) in plan {
            try copy(file, e, into: p.value)
            // NaN or Inf weights would only surface later as a "non-finite loss" or noise predictions.
            if let i = (0..<p.value.count).first(where: { !p.value.data[$0].isFinite }) {
                throw UserError(source, "tensor '\(e.name)' holds a non-finite value (\(p.value.data[i]) at element \(i))",
                                fix: "the file is damaged or was written by a diverged run; regenerate it")
            }
        }
    }

    /// Loads pretrained backbone weights strictly over `backbone` only (the head keeps its
    /// initialisation). The file may name tensors without a prefix (a converted ImageNet backbone)
    /// or with "backbone." (a whole Segmentor checkpoint, whose other tensors are then skipped).
    public static func loadPretrainedBackbone(_ backbone: any Module, from path: String) throws {
        let file = try open(path)
        let prefixed = file.names.contains { $0.hasPrefix("backbone.") }
        try load(into: backbone, file: file, source: path, prefix: prefixed ? "backbone." : "",
                 ignoreOutsidePrefix: prefixed)
    }

    /// The loud warning for a backbone that starts from random weights (the reference's
    /// strict=False silently did this for its DCT backbones).
    public static func randomBackboneWarning(backbone name: String) -> String {
        let bar = String(repeating: "!", count: 78)
        return """
        \(bar)
        WARNING: backbone '\(name)' starts from RANDOM weights (no pretrained file given).
        The paper's numbers need ImageNet-pretrained backbones; convert them with
        Scripts/torch2safetensors.py and pass them as the pretrained backbone.
        \(bar)
        """
    }

    /// Loads `pretrained` over the backbone, or prints the random-weights warning to stderr.
    public static func initializeBackbone(_ backbone: any Module, name: String, pretrained: String?) throws {
        if let pretrained { try loadPretrainedBackbone(backbone, from: pretrained) }
        else { FileHandle.standardError.write(Data((randomBackboneWarning(backbone: name) + "\n").utf8)) }
    }

    public static func open(_ path: String) throws -> SafeTensorsFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError(path, "checkpoint file not found", fix: "check the path")
        }
        do { return try SafeTensorsFile(contentsOf: path) } catch {
            throw UserError(path, "not a readable safetensors file (\(error))", fix: "regenerate or re-convert it")
        }
    }

    /// Reads one tensor of any float or integer dtype into `dst` as Float32.
    static func copy(_ file: SafeTensorsFile, _ e: TensorEntry, into dst: Tensor) throws {
        let raw = try file.data(e.name)
        let n = dst.count, d = dst.data
        defer { Parameter.valuesChanged() }
        raw.withUnsafeBytes { src in
            switch e.dtype {
            case .F32: for i in 0..<n { d[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            case .F64: for i in 0..<n { d[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .F16:
                for i in 0..<n { d[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .BF16:
                for i in 0..<n { d[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            case .I64: for i in 0..<n { d[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .I32: for i in 0..<n { d[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            default: preconditionFailure("dtype checked before copy")
            }
        }
    }
}

/// IEEE half -> float (bit manipulation; Float16 is not available on every platform).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    var exp = Int32((h >> 10) & 0x1F)
    var mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        while mant & 0x400 == 0 { mant <<= 1; exp -= 1 }          // subnormal: normalise
        exp += 1; mant &= 0x3FF
    } else if exp == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    }
    return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
}
