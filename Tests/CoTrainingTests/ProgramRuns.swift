// Helpers of the tests that feed damaged inputs to the programs: seeded mutations (random truncations
// and byte changes), running a built program with a timeout, and the checks every outcome must pass.
import Foundation
import XCTest
import Shards
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
/// `environment` adds to (or, with nil values, removes from) this process's environment.
func runProgram(_ name: String, _ args: [String], timeout: TimeInterval, environment: [String: String?] = [:]) throws -> ProgramRun {
    let errPath = NSTemporaryDirectory() + "dcot-stderr-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: errPath, contents: nil),
          let err = FileHandle(forWritingAtPath: errPath) else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: errPath])
    }
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(packageRoot)/.build/release/\(name)")
    p.arguments = args
    if !environment.isEmpty {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        p.environment = env
    }
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

/// Mutations of one file at a time, each restored afterwards; `prepare` runs after writing a mutation
/// (to recompute a checksum), `body` feeds it to the program or its entry point.
final class Fuzzer {
    var rng: SplitMix64
    var errors = 0, runs = 0

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    func run(_ path: String, count: Int, prepare: (String) throws -> Void = { _ in }, _ body: (Int) throws -> Void) throws {
        let original = [UInt8](FileManager.default.contents(atPath: path)!)
        defer { try? write(original, to: path); try? prepare(path) }
        for i in 0..<count {
            try write(mutate(original, &rng), to: path)
            try prepare(path)
            try body(i)
            runs += 1
        }
    }
}

/// Test files are written without fsync (hundreds of mutations; the programs' own writes stay atomic).
func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// The shard checksums of a shard directory's manifest, recomputed after its shard changed.
func recomputeChecksums(_ shardPath: String) throws {
    let dir = (shardPath as NSString).deletingLastPathComponent
    var m = try Manifest.load(directory: dir)
    for i in m.shards.indices { m.shards[i].sha256 = try SHA256.hex(ofFile: "\(dir)/\(m.shards[i].file)") }
    try write(Array(try JSONEncoder().encode(m)), to: "\(dir)/\(Manifest.fileName)")
}

/// latest.json's checksum of a run file, recomputed after the file changed.
func recommit(_ runFile: String) throws {
    let run = (runFile as NSString).deletingLastPathComponent
    var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/latest.json"))) as! [String: Any]
    var files = state["files"] as! [String: String]
    files[(runFile as NSString).lastPathComponent] = try SHA256.hex(ofFile: runFile)
    state["files"] = files
    try write(Array(try JSONSerialization.data(withJSONObject: state)), to: "\(run)/latest.json")
}
