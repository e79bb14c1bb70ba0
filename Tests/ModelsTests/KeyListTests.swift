// Full-size state_dict names, shapes and order against Tests/Fixtures/models/keys.txt (written by
// Scripts/goldens/models.py, which checks them against the reference key lists).
import XCTest
import Models
import Checkpoint

final class KeyListTests: XCTestCase {
    func testFullSizeKeyLists() throws {
        let text = try String(contentsOf: ModelFixtures.url("keys.txt"), encoding: .utf8)
        var sections: [(String, String, [String])] = []
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            if line.hasPrefix("[") {
                let close = line.firstIndex(of: "]")!
                let name = String(line[line.index(after: line.startIndex)..<close])
                let yaml = line[line.index(after: close)...].split(separator: ";")
                    .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
                sections.append((name, yaml, []))
            } else {
                sections[sections.count - 1].2.append(line)
            }
        }
        XCTAssertEqual(sections.count, 9)
        for (name, yaml, want) in sections {
            let model = try Segmentor(config: try ModelConfig.parse(yaml, source: name))
            let got = Checkpoint.keys(model).map { k in
                "\(k.name)\t\(k.shape.isEmpty ? "scalar" : k.shape.map(String.init).joined(separator: "x"))\t\(k.dtype == .I64 ? "int64" : "float32")"
            }
            XCTAssertEqual(got.count, want.count, "\(name): key count")
            for (i, (g, w)) in zip(got, want).enumerated() where g != w {
                XCTFail("\(name): key \(i) is '\(g)', reference '\(w)'")
                break
            }
        }
    }
}
