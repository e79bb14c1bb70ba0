// Reads the golden fixtures (hand-written safetensors from Scripts/goldens/ops.py) and compares
// with tolerance atol + rtol*|expected|.
import Foundation
import XCTest
import Tensor

struct Fixture {
    let header: [String: Any]
    let bytes: Data
    let start: Int

    init(_ name: String, file: String = #filePath) throws {
        let url = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ops/\(name).safetensors")
        bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as! [String: Any]
        start = 8 + n
        let meta = header["__metadata__"] as? [String: String]
        precondition(meta?["generator"] == "Scripts/goldens/ops.py", "fixture \(name) does not name its generator")
    }

    func entry(_ key: String) -> (shape: [Int], range: Range<Int>) {
        guard let e = header[key] as? [String: Any] else { fatalError("fixture has no tensor \(key)") }
        let off = e["data_offsets"] as! [Int]
        return (e["shape"] as! [Int], (start + off[0])..<(start + off[1]))
    }

    func tensor(_ key: String) -> Tensor {
        let (shape, r) = entry(key)
        let values: [Float] = bytes.subdata(in: r).withUnsafeBytes { raw in
            (0..<(r.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        return Tensor(shape: shape, values: values)
    }

    func labels(_ key: String) -> LabelMap {
        let (shape, r) = entry(key)
        return LabelMap(shape: shape, values: [UInt8](bytes.subdata(in: r)))
    }

    func meta(_ key: String) -> String { (header["__metadata__"] as! [String: String])[key]! }
}

func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): \(actual.shape) vs \(expected.shape)", file: file, line: line)
    guard actual.count == expected.count else { return }
    var bad = 0, first = ""
    for i in 0..<actual.count where !(abs(actual[i] - expected[i]) <= atol + rtol * abs(expected[i])) {
        if bad == 0 { first = "[\(i)] got \(actual[i]) expected \(expected[i])" }
        bad += 1
    }
    XCTAssertEqual(bad, 0, "\(what): \(bad) of \(actual.count) differ, first \(first)", file: file, line: line)
}
