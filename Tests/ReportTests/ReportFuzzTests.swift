// dcot-report on damaged run files (issue 15): random truncations and byte changes of metrics.jsonl,
// eval-m1.json and config.yaml, and numbers no run writes. The report is written, or the program
// exits 1 with one error line naming the file; it never aborts or hangs.
import Foundation
import XCTest
import Report
import Support

final class ReportFuzzTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dcot-report-fuzz-\(UUID().uuidString)"
        try makeDirectory(root)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    /// What dcot-train, dcot-eval and make leave in a co-training run directory.
    static let files: [String: String] = [
        "metrics.jsonl": (0..<6).map { it in
            #"{"kind": "step", "iteration": \#(it * 2), "epoch": 0, "lr": 0.002, "loss": {"m1": {"sup": \#(1.0 / Double(it + 1)), "unsup": 0.5}, "m2": {"sup": 0.9, "unsup": 0.4}}, "agreement": 0.6, "mask_ratio": 1.0, "seconds": 0.07, "data_wait_seconds": 0.01}"#
        }.joined(separator: "\n") + "\n" + #"{"kind": "eval", "iteration": 9, "model": "m1", "miou": 27.3, "protocol": "original", "per_class_iou": [0.8, 0.0, 0.0]}"#
            + "\n" + #"{"kind": "eval", "iteration": 11, "model": "m2", "miou": 31.5, "protocol": "original", "per_class_iou": [0.8, 0.1, 0.0]}"# + "\n",
        "eval-m1.json": #"{"format": "dcot-metrics", "version": 1, "miou": 27.297968727166047, "pixel_accuracy": 0.81, "images": 4, "per_class_iou": {"background": 0.81, "a": 0, "b": 0}, "confusion": [[5604, 0], [1039, 0]], "protocol": {"mode": "original", "scales": [1.0], "flip": false, "models": []}}"#,
        "config.yaml": "# configs/cnn-rgb.yaml\nnclass: 3\nbackbone: resnet18\n\n---\n# configs/cnn-dct.yaml\nbackbone: resnet18_dct_64  # DCT\n",
    ]

    func makeRun(_ name: String) throws -> String {
        let run = "\(root)/\(name)"
        try makeDirectory(run)
        for (file, text) in Self.files { try AtomicFile.write(text, to: "\(run)/\(file)") }
        return run
    }

    func testDamagedRunFilesAreReportedOrNamedNeverACrash() throws {
        var rng = SplitMix64(seed: 33)
        var errors = 0
        for (k, file) in Self.files.keys.sorted().enumerated() {
            for i in 0..<120 {
                let run = try makeRun("cnn+cnn-dct-8-crop32-s\(k * 1000 + i)")
                try AtomicFile.write(mutate(Array(Self.files[file]!.utf8), &rng), to: "\(run)/\(file)")
                do {
                    _ = try Report.write(ReportOptions(runs: [run], out: "\(root)/report-\(k)-\(i).md"))
                } catch {
                    errors += 1
                    let text = "\(error)"
                    XCTAssertTrue(error is UserError, "\(file) \(i): \(text)")
                    XCTAssertTrue(text.hasPrefix("\(run)/\(file)"), "\(file) \(i): \(text)")
                    XCTAssertFalse(text.contains("\n"), "\(file) \(i): \(text)")
                }
            }
        }
        XCTAssertGreaterThan(errors, 100)
        // The real program on a sample of them: exit 0, or exit 1 with one line naming the file.
        for (k, file) in Self.files.keys.sorted().enumerated() {
            for i in 0..<8 {
                let run = try makeRun("prog-8-crop32-s\(k * 100 + i)")
                try AtomicFile.write(mutate(Array(Self.files[file]!.utf8), &rng), to: "\(run)/\(file)")
                let r = try runReport(["--out", "\(root)/prog-\(k)-\(i).md", run])
                XCTAssertTrue(r.exited, "\(file) \(i): signal\n\(r.stderr.prefix(1500))")
                if r.exited && r.status != 0 {
                    XCTAssertEqual(r.status, 1)
                    XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
                    XCTAssertTrue(r.stderr.hasPrefix("error: \(run)/\(file)"), r.stderr)
                }
            }
        }
    }

    /// Numbers no run writes but a file can hold: huge or tiny values chart, an iteration beyond what
    /// a double counts exactly is a malformed line (it trapped converting to Int).
    func testExtremeNumbers() throws {
        let run = try makeRun("extreme-8-crop32-s0")
        let lines = [
            #"{"kind": "step", "iteration": 0, "loss": {"m1": {"sup": 5e-324}}, "seconds": 1e308}"#,
            #"{"kind": "step", "iteration": 4, "loss": {"m1": {"sup": -1.7e308}}, "seconds": 0}"#,
            #"{"kind": "eval", "iteration": 1, "model": "m1", "miou": 1.7e308}"#,
            #"{"kind": "eval", "iteration": 3, "model": "m1", "miou": -1.7e308}"#,
            #"{"kind": "eval", "iteration": 5, "model": "m2", "miou": 5e-324}"#,
        ]
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: "\(run)/metrics.jsonl")
        XCTAssertNoThrow(try Report.write(ReportOptions(runs: [run], out: "\(root)/extreme.md")))
        try AtomicFile.write(#"{"kind": "step", "iteration": 1e300, "loss": {"m1": {"sup": 1}}}"# + "\n", to: "\(run)/metrics.jsonl")
        XCTAssertThrowsError(try Report.write(ReportOptions(runs: [run], out: "\(root)/extreme.md"))) {
            XCTAssertTrue("\($0)".hasPrefix("\(run)/metrics.jsonl:1: malformed metrics line (step row without an integer \"iteration\")"), "\($0)")
        }
    }

    struct Run { var exited: Bool; var status: Int32; var stderr: String }

    /// .build/release/dcot-report with a 60 s timeout (a hang counts as not exited).
    func runReport(_ args: [String]) throws -> Run {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let errPath = "\(self.root)/stderr-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let err = FileHandle(forWritingAtPath: errPath)!
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(root)/.build/release/dcot-report")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        try err.close()
        return Run(exited: !hung && p.terminationReason == .exit, status: p.terminationStatus,
                   stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }
}

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
