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

/// Runs a program's body and turns a `UserError` (or any error) into one line on stderr and an exit code.
public func runReportingErrors(exitCode: Int32 = 1, _ body: () throws -> Void) -> Never {
    do {
        try body()
        exit(0)
    } catch let error as UserError {
        printError("error: \(error.description)")
        exit(exitCode)
    } catch {
        printError("error: \(error)")
        exit(exitCode)
    }
}

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

/// An error every process of a multi-process job raises at the same point (a start-up mismatch, a
/// non-finite loss seen through the shared loss values): reported once, every process exits with
/// `exitCode`.
public struct AllRanksError: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) { (self.message, self.exitCode) = (message, exitCode) }
    public var description: String { message }
}
