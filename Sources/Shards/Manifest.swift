// manifest.json of a shard directory: written last and atomically; a directory without one is
// not a finished stage. Field names are pinned (README "File formats").
import Foundation
import Support

public struct ClassList: Codable, Sendable, Equatable {
    public var format = "dcot-classes"
    public var version = 1
    public var names: [String]
    /// RGB triples, one per class.
    public var palette: [[Int]]
    public var ignore_index = 255

    public init(names: [String], palette: [[Int]]) {
        self.names = names
        self.palette = palette
    }

    public var count: Int { names.count }
}

public struct Manifest: Codable, Sendable {
    public struct Shard: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String
        public var samples: Int
        public init(file: String, sha256: String, samples: Int) {
            self.file = file
            self.sha256 = sha256
            self.samples = samples
        }
    }

    public struct Sample: Codable, Sendable, Equatable {
        public var shard: String
        public var offset: Int
        public var length: Int
        public var height: Int
        public var width: Int
        public var has_label: Bool
        public var has_dct: Bool
        public var source_sha256: String
        public init(shard: String, offset: Int, length: Int, height: Int, width: Int, has_label: Bool,
                    has_dct: Bool, source_sha256: String) {
            self.shard = shard
            self.offset = offset
            self.length = length
            self.height = height
            self.width = width
            self.has_label = has_label
            self.has_dct = has_dct
            self.source_sha256 = source_sha256
        }
    }

    public static let formatName = "dcot-manifest"
    public static let currentVersion = 1

    public var format = Manifest.formatName
    public var version = Manifest.currentVersion
    public var dataset: String
    public var classes: ClassList
    public var source_root: String
    public var created_by: String
    public var shards: [Shard]
    public var samples: [String: Sample]
    /// Hash over the inputs and options that produced this directory (for "nothing to do" reruns).
    public var inputs_sha256: String?
    /// Set in pseudo-label shards (dcot-pseudo): how the labels were made.
    public var pseudo: PseudoLabelInfo?

    public init(dataset: String, classes: ClassList, sourceRoot: String, createdBy: String, shards: [Shard],
                samples: [String: Sample], inputsSHA256: String?) {
        self.dataset = dataset
        self.classes = classes
        self.source_root = sourceRoot
        self.created_by = createdBy
        self.shards = shards
        self.samples = samples
        self.inputs_sha256 = inputsSHA256
    }

    public static let fileName = "manifest.json"

    /// Provenance of a pseudo-label shard directory.
    public struct PseudoLabelInfo: Codable, Sendable, Equatable {
        public var checkpoints: [String]
        public var configs: [String]
        public var `protocol`: String
        public var threshold: Double
        /// Pixels per class among confident pseudo-labels; the last entry counts pixels set to 255.
        public var class_histogram: [Int64]
        public init(checkpoints: [String], configs: [String], protocol p: String, threshold: Double, classHistogram: [Int64]) {
            self.checkpoints = checkpoints
            self.configs = configs
            self.protocol = p
            self.threshold = threshold
            self.class_histogram = classHistogram
        }
    }

    public func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        try AtomicFile.write(Array(data) + [0x0A], to: "\(directory)/\(Manifest.fileName)")
    }

    /// Loads and checks format/version; errors name the file and say how to regenerate it.
    public static func load(directory: String) throws -> Manifest {
        let path = "\(directory)/\(fileName)"
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError(path, "no manifest: this is not a finished shard directory",
                            fix: "run dcot-prep (again) with --out \(directory)")
        }
        let bytes = try readFileBytes(path, what: "manifest")
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw UserError(path, "is not valid JSON", fix: "rerun dcot-prep with --force to rewrite it")
        }
        guard object["format"] as? String == formatName else {
            throw UserError(path, "format is \(object["format"] ?? "missing"), expected \(formatName)",
                            fix: "point at a directory written by dcot-prep")
        }
        guard object["version"] as? Int == currentVersion else {
            throw UserError(path, "version \(object["version"] ?? "missing") is not supported (expected \(currentVersion))",
                            fix: "rerun dcot-prep --force with this version of dcot")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw UserError(path, "malformed manifest (\(oneLine(error)))", fix: "rerun dcot-prep with --force")
        }
        try manifest.classes.check(path)
        return manifest
    }
}

extension ClassList {
    /// What every reader relies on: 1...255 distinct names (255 is the ignore label), one RGB colour each.
    public func check(_ path: String) throws {
        guard (1...255).contains(names.count) else {
            throw UserError(path, "has \(names.count) class names, expected 1 to 255", fix: "rerun dcot-prep --force")
        }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw UserError(path, "names class '\(name)' twice", fix: "give every class its own name (classes.json), then rerun dcot-prep --force")
        }
        guard palette.count == names.count, palette.allSatisfy({ $0.count == 3 && $0.allSatisfy { (0...255).contains($0) } }) else {
            throw UserError(path, "needs one [r, g, b] palette colour (0-255) per class name",
                            fix: "fix classes.json, then rerun dcot-prep --force")
        }
    }
}
