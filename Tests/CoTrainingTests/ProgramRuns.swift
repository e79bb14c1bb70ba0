// Helpers of the tests that feed damaged inputs to the programs: seeded mutations (random truncations
// and byte changes), running a built program with a timeout, and the checks every outcome must pass.
import Foundation
import XCTest
import Support

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A random truncation (3 in 10) or one to five random byte changes, from a seeded generator.
func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var b = bytes
    if b.count > 1 && rng.below(10) < 3 { return Array(b.prefix(rng.below(b.count))) }
    for _ in 0...rng.below(4) where !b.isEmpty {
        let i = rng.below(b.count)
        if rng.below(2) == 0 { b[i] = UInt8(truncatingIfNeeded: rng.next()) } else { b[i] ^= 1 << UInt8(rng.below(8)) }
    }
    return b
}

/// How a program run ended: `exited` is false for a signal (a trap or abort) or a hang killed at the timeout.
struct ProgramRun {
    var exited: Bool
    var status: Int32
    var stderr: String
    var timedOut: Bool
}

/// Runs .build/release/`name`; stderr goes to a file (a crash's backtrace must not block on a pipe).
func runProgram(_ name: String, _ args: [String], timeout: TimeInterval) throws -> ProgramRun {
    let errPath = NSTemporaryDirectory() + "dcot-stderr-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let err = FileHandle(forWritingAtPath: errPath)!
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(packageRoot)/.build/release/\(name)")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    let timedOut = p.isRunning
    if timedOut { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    try err.close()
    let text = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return ProgramRun(exited: p.terminationReason == .exit && !timedOut, status: p.terminationStatus, stderr: text, timedOut: timedOut)
}

/// A damaged input must not abort or hang the program: it runs (the damage was harmless) or exits
/// non-zero with at most three lines on stderr, the first an `error:` line naming `file`.
func checkOutcome(_ r: ProgramRun, naming file: String, _ context: String, file f: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(r.timedOut, "\(context): hung", file: f, line: line)
    XCTAssertTrue(r.exited, "\(context): killed by signal \(r.status)\n\(r.stderr.prefix(2000))", file: f, line: line)
    guard r.exited, r.status != 0 else { return }
    let lines = r.stderr.split(separator: "\n")
    XCTAssertLessThanOrEqual(lines.count, 3, "\(context): \(r.stderr.prefix(2000))", file: f, line: line)
    XCTAssertTrue(lines.first?.hasPrefix("error: ") == true, "\(context): \(r.stderr.prefix(500))", file: f, line: line)
    XCTAssertTrue(r.stderr.contains(file), "\(context): does not name \(file): \(r.stderr.prefix(500))", file: f, line: line)
}

/// The in-process twin: an error of a library entry point is one line naming `file`.
func checkError(_ error: Error, naming file: String, _ context: String, file f: StaticString = #filePath, line: UInt = #line) {
    let text = "\(error)"
    XCTAssertFalse(text.contains("\n"), "\(context): \(text)", file: f, line: line)
    XCTAssertTrue(text.contains(file), "\(context): does not name \(file): \(text)", file: f, line: line)
}
