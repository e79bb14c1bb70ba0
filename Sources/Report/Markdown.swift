// Markdown building blocks: padded tables (readable as plain text too, since the main table is
// also printed) and links relative to the report's directory.
import Foundation

/// A Markdown table with every column padded to its widest cell.
func markdownTable(header: [String], rows: [[String]]) -> String {
    let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
    func line(_ cells: [String]) -> String {
        "| " + cells.enumerated().map { c, s in s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
    let rule = "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"
    return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
}

/// mIoU-style numbers: two decimals, "–" when missing.
func percent(_ v: Double?) -> String {
    v.map { String(format: "%.2f", $0) } ?? "–"
}

/// Absolute and normalised ("." and ".." removed). Symlinks are kept: links are followed lexically,
/// so a relative link must be computed from the paths as written.
func canonicalPath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

/// The path of `target` relative to the directory `base` (both canonical), e.g. "../runs/x/a.png".
func relativePath(from base: String, to target: String) -> String {
    let b = base.split(separator: "/"), t = target.split(separator: "/")
    var common = 0
    while common < b.count, common < t.count, b[common] == t[common] { common += 1 }
    let parts = Array(repeating: "..", count: b.count - common) + t[common...].map(String.init)
    return parts.isEmpty ? "." : parts.joined(separator: "/")
}

/// A link destination that survives Markdown: spaces, parentheses and non-ASCII are percent-encoded.
func linkDestination(_ relative: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove(charactersIn: "()")
    return relative.addingPercentEncoding(withAllowedCharacters: allowed) ?? relative
}

/// A safe file-name fragment: anything but letters, digits, '.', '+', '-' and '_' becomes '_'.
func slug(_ s: String) -> String {
    String(s.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._+-".unicodeScalars.contains($0) ? Character($0) : "_" })
}
