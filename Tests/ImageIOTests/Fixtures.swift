import Foundation
import SafeTensors

/// Test fixtures live in Tests/Fixtures (each names the script that made it).
enum Fixtures {
    static let root: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }()

    static func path(_ relative: String) -> String { "\(root)/\(relative)" }

    static func safetensors(_ relative: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: path(relative))
    }

    static func files(in dir: String, ext: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(dir))) ?? []).filter { $0.hasSuffix(ext) }.sorted()
    }
}
