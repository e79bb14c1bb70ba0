// Id lists (train.txt, val.txt, labeled.txt, unlabeled.txt): one sample per line, either the
// reference format `IMAGE [MASK]` (paths relative to the dataset root) or a bare id resolved
// through the dataset layout. Writers always write the reference format.
import Foundation
import Support

public struct ListEntry: Sendable, Equatable {
    /// Sample id: the image file's stem (Cityscapes: without `_leftImg8bit`).
    public var id: String
    /// Image path relative to the dataset root.
    public var image: String
    /// Mask path relative to the dataset root (nil for unlabeled-only lines).
    public var mask: String?
    /// 1-based line number in the source list (0 when synthesised).
    public var line: Int

    public init(id: String, image: String, mask: String?, line: Int = 0) {
        self.id = id
        self.image = image
        self.mask = mask
        self.line = line
    }

    /// The line as the reference code writes it.
    public var referenceLine: String { mask.map { "\(image) \($0)" } ?? image }
}

public enum IdList {
    /// The id of an image path: its file stem, without Cityscapes' `_leftImg8bit` suffix.
    public static func id(ofImagePath path: String) -> String {
        var stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        if stem.hasSuffix("_leftImg8bit") { stem.removeLast("_leftImg8bit".count) }
        return stem
    }

    /// Parses a list file. Bare ids are resolved with `layout`; duplicates are an error naming both lines.
    public static func read(_ path: String, layout: DatasetLayout) throws -> [ListEntry] {
        let bytes = try readFileBytes(path, what: "id list")
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw UserError(path, "is not UTF-8 text", fix: "give a text file with one sample per line")
        }
        return try parse(text, path: path, layout: layout)
    }

    public static func parse(_ text: String, path: String, layout: DatasetLayout) throws -> [ListEntry] {
        var entries = [ListEntry]()
        var seen = [String: Int]()
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNo = i + 1
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            let entry: ListEntry
            switch fields.count {
            case 1 where !fields[0].contains("/") && !hasImageExtension(fields[0]):
                entry = layout.resolve(id: fields[0], line: lineNo)
            case 1:
                entry = ListEntry(id: id(ofImagePath: fields[0]), image: fields[0], mask: nil, line: lineNo)
            case 2:
                guard hasImageExtension(fields[0]) else {
                    throw UserError("\(path):\(lineNo)", "'\(fields[0])' does not look like an image path",
                                    fix: "write 'IMAGE MASK' (paths relative to the dataset root) or a bare id")
                }
                guard fields[1].lowercased().hasSuffix(".png") else {
                    throw UserError("\(path):\(lineNo)", "mask '\(fields[1])' is not a .png path",
                                    fix: "label masks are PNG files: write 'IMAGE MASK.png'")
                }
                entry = ListEntry(id: id(ofImagePath: fields[0]), image: fields[0], mask: fields[1], line: lineNo)
            default:
                throw UserError("\(path):\(lineNo)", "expected 'IMAGE [MASK]' or a bare id, found \(fields.count) fields",
                                fix: "fix the line (paths must not contain spaces)")
            }
            if let first = seen[entry.id] {
                throw UserError("\(path):\(lineNo)", "duplicate id '\(entry.id)' (first on line \(first))",
                                fix: "remove the repeated line")
            }
            seen[entry.id] = lineNo
            entries.append(entry)
        }
        return entries
    }

    static func hasImageExtension(_ s: String) -> Bool {
        let ext = (s as NSString).pathExtension.lowercased()
        return ["jpg", "jpeg", "png"].contains(ext)
    }

    /// Writes entries in the reference line format, atomically.
    public static func write(_ entries: [ListEntry], to path: String) throws {
        let text = entries.map(\.referenceLine).joined(separator: "\n") + (entries.isEmpty ? "" : "\n")
        try AtomicFile.write(text, to: path)
    }
}
