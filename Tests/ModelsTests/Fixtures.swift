// Fixture access for the model tests: files under Tests/Fixtures/models, made by
// Scripts/goldens/models.py (see its docstring). Error norms are relative: |a - b| / |b| (L2).
import Foundation
import XCTest
import Tensor
import SafeTensors

enum ModelFixtures {
    static func url(_ name: String, file: String = #filePath) -> URL {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/\(name)")
    }

    static func open(_ name: String) throws -> SafeTensorsFile {
        let f = try SafeTensorsFile(contentsOf: url(name + ".safetensors").path)
        precondition(f.header.metadata["generator"] == "Scripts/goldens/models.py", "\(name): fixture does not name its generator")
        return f
    }

    static func tensor(_ f: SafeTensorsFile, _ name: String) throws -> Tensor {
        guard let e = f.entry(name) else { throw SafeTensorsError("fixture has no tensor \(name)") }
        let raw = try f.data(name)
        let t = Tensor(shape: e.shape)
        raw.withUnsafeBytes { src in
            for i in 0..<t.count {
                switch e.dtype {
                case .F32: t[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                case .I64: t[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                case .F16: t[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
                default: preconditionFailure("dtype \(e.dtype)")
                }
            }
        }
        return t
    }

    static func labels(_ f: SafeTensorsFile, _ name: String) throws -> LabelMap {
        let e = f.entry(name)!
        return LabelMap(shape: e.shape, values: Array(try f.data(name)))
    }
}

/// L2 relative error |a - b| / max(|b|, tiny), in Double.
func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count, "\(a.shape) vs \(b.shape)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); num += d * d; den += Double(b[i]) * Double(b[i]) }
    return (num / max(den, 1e-30)).squareRoot()
}
