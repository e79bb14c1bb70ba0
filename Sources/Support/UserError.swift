// User-facing errors: one line naming the file (and line, key or sample id), what is wrong and
// what to do. Programs print `description` and exit non-zero; nothing else is shown to users.

public struct UserError: Error, CustomStringConvertible, Equatable {
    /// The file (or other location) the problem is in, e.g. "data/train.txt:17".
    public let location: String
    /// What is wrong.
    public let problem: String
    /// What to do about it.
    public let fix: String

    public init(_ location: String, _ problem: String, fix: String) {
        self.location = location
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(location): \(problem); \(fix)" }
}

/// Any error as one line of at most `limit` characters, for the middle of a `UserError` (a YAML
/// scanner's caret diagram, which quotes the offending line, or a decoder's context must not spill
/// over several lines or pages): decoding errors as `key.path: what`.
public func oneLine(_ error: Error, limit: Int = 300) -> String {
    let text = describe(error)
    return text.count <= limit ? text : String(text.prefix(limit)) + "…"
}

private func describe(_ error: Error) -> String {
    if let e = error as? DecodingError {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])): missing"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            let at = path(c.codingPath)
            return (at.isEmpty ? "" : "\(at): ") + oneLine(c.debugDescription)
        @unknown default: break
        }
    }
    return oneLine("\(error)")
}

/// Text with its line breaks (and the blanks around them) folded into single spaces.
public func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " ")
}

/// Runs a program's body and turns a `UserError` (or any error) into one line on stderr and an exit code.
public func runReportingErrors(exitCode: Int32 = 1, _ body: () throws -> Void) -> Never {
    do {
        try body()
        exit(0)
    } catch let error as UserError {
        printError("error: \(oneLine(error.description))")
        exit(exitCode)
    } catch {
        printError("error: \(oneLine("\(error)"))")
        exit(exitCode)
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public func printError(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    _ = text.withCString { fputs($0, stderr) }
}

/// A numeric command-line value inside its range, or a UserError naming the flag and the value.
public func checkFlag<T: Comparable>(_ flag: String, _ value: T?, in range: ClosedRange<T>, fix: String) throws {
    guard let value, !range.contains(value) else { return }
    let openEnded = "\(range.upperBound)" == "\(Int.max)"
    throw UserError("\(flag) \(value)", openEnded ? "must be at least \(range.lowerBound)" : "must be in \(range.lowerBound)...\(range.upperBound)",
                    fix: fix)
}

/// Thread counts the programs accept (`--threads`).
public let threadRange = 1...1024

/// An error every process of a multi-process job raises at the same point (a start-up mismatch, a
/// non-finite loss seen through the shared loss values): reported once, every process exits with
/// `exitCode`.
public struct AllRanksError: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) { (self.message, self.exitCode) = (message, exitCode) }
    public var description: String { message }
}
