// dcot-train over Open MPI, started by mpirun as a subprocess (as root and oversubscribed on CI's
// cores): one run gives byte-identical checkpoints and identical logged values for 1, 2 and 4 ranks,
// resumes with another rank count, and fails fast and loudly (a killed rank, mismatched files).
import Foundation
import XCTest

/// A tiny dataset (made with the built programs) shared by the tests of this file.
final class ClusterFixture {
    static let shared = try! ClusterFixture()
    let dir: String
    let bin: String
    let repo: String

    init() throws {
        repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        bin = "\(repo)/.build/release"
        dir = NSTemporaryDirectory() + "dcot-cluster-\(UUID().uuidString)"
        removeAtExit(dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for args in [["dcot-synth", "--out", "\(dir)/data", "--train", "24", "--val", "4", "--classes", "3", "--size", "48", "--seed", "9"],
                     ["dcot-prep", "--dataset", "generic", "--root", "\(dir)/data", "--list", "\(dir)/data/train.txt",
                      "--list", "\(dir)/data/val.txt", "--out", "\(dir)/shards", "--dct"],
                     ["dcot-split", "--list", "\(dir)/data/train.txt", "--labeled", "8", "--out", "\(dir)/split",
                      "--dataset", "generic", "--root", "\(dir)/data"]] {
            let r = try ClusterFixture.run([bin + "/" + args[0]] + args.dropFirst(), timeout: 120)
            precondition(r.status == 0, "\(args[0]) failed: \(r.output)")
        }
    }

    /// dcot-train's flags for the tiny 2-cps run with W = 4 replicas of batch 2.
    func trainArgs(out: String, iterations: Int = 4, configs: [String] = ["cnn-rgb", "mit"]) -> [String] {
        configs.flatMap { ["--config", "\(repo)/pipelines/configs/demo/\($0).yaml"] } + [
            "--shards", "\(dir)/shards", "--labeled", "\(dir)/split/labeled.txt", "--unlabeled", "\(dir)/split/unlabeled.txt",
            "--val", "\(dir)/data/val.txt", "--iterations", String(iterations), "--crop", "32", "--batch-size", "2", "--gpus", "4",
            "--eval-every", "2", "--log-every", "1", "--quiet", "--threads", "1", "--out", "\(dir)/\(out)"]
    }

    /// mpirun with what Open MPI needs as root on a small machine.
    func mpirun(_ ranks: Int, _ args: [String], program: String = "dcot-train", timeout: Double = 240) throws -> (status: Int32, output: String) {
        try ClusterFixture.run(["/usr/bin/mpirun", "--oversubscribe", "-np", String(ranks), "\(bin)/\(program)"] + args, timeout: timeout)
    }

    /// Runs a command with a deadline (the test fails instead of hanging); merged stdout + stderr.
    static func run(_ command: [String], timeout: Double, started: ((Process) -> Void)? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        p.environment = env
        let log = NSTemporaryDirectory() + "dcot-cluster-log-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: log, contents: nil)
        let h = FileHandle(forWritingAtPath: log)!
        p.standardOutput = h
        p.standardError = h
        try p.run()
        started?(p)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            kill(-p.processIdentifier, SIGKILL)
            p.terminate()
            XCTFail("\(command.prefix(6).joined(separator: " ")) … did not finish within \(timeout) s")
        }
        p.waitUntilExit()
        try? h.close()
        let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: log)
        return (p.terminationStatus, out)
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: "\(dir)/\(path)") }

    /// The logged values that must not depend on R (losses, agreement, mask ratio, mIoU), per line.
    func loggedValues(_ run: String) throws -> [String] {
        try String(contentsOfFile: "\(dir)/\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            o["seconds"] = nil
            o["data_wait_seconds"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: .sortedKeys), as: UTF8.self)
        }
    }

    func assertSameRun(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for f in ["latest-m1.safetensors", "latest-m2.safetensors", "latest-m1.state.safetensors", "latest-m2.state.safetensors",
                  "best-m1.safetensors", "best-m2.safetensors"] {
            XCTAssertNotNil(bytes("\(a)/\(f)"), "\(a)/\(f)", file: file, line: line)
            XCTAssertEqual(bytes("\(a)/\(f)"), bytes("\(b)/\(f)"), "\(a) vs \(b): \(f)", file: file, line: line)
        }
        XCTAssertEqual(try loggedValues(a), try loggedValues(b), "\(a) vs \(b): metrics.jsonl", file: file, line: line)
    }
}

final class MPIRunTests: XCTestCase {
    /// The paper's pairing at the demo's size (RGB + DCT, crop 64, W = 2 replicas of batch 4), where
    /// convs take the Winograd path: one process at 2 threads equals 2 ranks at 1 thread. (A
    /// Winograd choice made by the whole process's batch, and OpenBLAS cutting K by thread count,
    /// once made both differ.) The run aligns its pseudo-labels' class mix (--distribution-alignment).
    func testRGBPlusDCTAtDemoSizeIsBitIdenticalForRanksAndThreads() throws {
        let f = ClusterFixture.shared
        func args(_ out: String, threads: Int) -> [String] {
            // With distribution alignment, whose class means are summed over every replica of every rank.
            var a = f.trainArgs(out: out, iterations: 3, configs: ["cnn-rgb", "cnn-dct"]) + ["--distribution-alignment"]
            for (flag, value) in [("--crop", "64"), ("--batch-size", "4"), ("--gpus", "2"), ("--threads", String(threads))] {
                a[a.firstIndex(of: flag)! + 1] = value
            }
            return a
        }
        let one = try ClusterFixture.run(["\(f.bin)/dcot-train"] + args("demo1", threads: 2), timeout: 240)
        XCTAssertEqual(one.status, 0, one.output)
        let two = try f.mpirun(2, args("demo2", threads: 1))
        XCTAssertEqual(two.status, 0, two.output)
        try f.assertSameRun("demo1", "demo2")
    }

    func testOneRunIsBitIdenticalForOneTwoAndFourRanks() throws {
        let f = ClusterFixture.shared
        let one = try ClusterFixture.run(["\(f.bin)/dcot-train"] + f.trainArgs(out: "r1"), timeout: 240)
        XCTAssertEqual(one.status, 0, one.output)
        for ranks in [2, 4] {
            let r = try f.mpirun(ranks, f.trainArgs(out: "r\(ranks)"))
            XCTAssertEqual(r.status, 0, r.output)
            try f.assertSameRun("r1", "r\(ranks)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(f.dir)/r\(ranks)/latest.json.tmp"))
        }
        // dcot-eval: each rank takes every R-th id; metrics.json is the same for R = 1 and 2.
        func eval(_ out: String) -> [String] {
            ["--config", "\(f.repo)/pipelines/configs/demo/cnn-rgb.yaml", "--checkpoint", "\(f.dir)/r1/latest-m1.safetensors",
             "--shards", "\(f.dir)/shards", "--list", "\(f.dir)/data/val.txt", "--out", "\(f.dir)/\(out)", "--quiet"]
        }
        let e1 = try ClusterFixture.run(["\(f.bin)/dcot-eval"] + eval("eval1.json"), timeout: 120)
        XCTAssertEqual(e1.status, 0, e1.output)
        let e2 = try f.mpirun(2, eval("eval2.json"), program: "dcot-eval", timeout: 120)
        XCTAssertEqual(e2.status, 0, e2.output)
        XCTAssertNotNil(f.bytes("eval1.json"))
        XCTAssertEqual(f.bytes("eval1.json"), f.bytes("eval2.json"), "dcot-eval: metrics.json for 1 and 2 ranks")
        // dcot-pseudo: rank-own shard files, one manifest; the same labels, confidences and histogram.
        func pseudo(_ out: String) -> [String] {
            ["--config", "\(f.repo)/pipelines/configs/demo/cnn-rgb.yaml", "--checkpoint", "\(f.dir)/r1/latest-m1.safetensors",
             "--shards", "\(f.dir)/shards", "--list", "\(f.dir)/split/unlabeled.txt", "--out", "\(f.dir)/\(out)", "--png",
             "--threshold", "0.4", "--quiet"]
        }
        let p1 = try ClusterFixture.run(["\(f.bin)/dcot-pseudo"] + pseudo("pseudo1"), timeout: 120)
        XCTAssertEqual(p1.status, 0, p1.output)
        let p2 = try f.mpirun(2, pseudo("pseudo2"), program: "dcot-pseudo", timeout: 120)
        XCTAssertEqual(p2.status, 0, p2.output)
        let pngs = try FileManager.default.contentsOfDirectory(atPath: "\(f.dir)/pseudo1/png").sorted()
        XCTAssertEqual(pngs.count, 32)
        XCTAssertEqual(pngs, try FileManager.default.contentsOfDirectory(atPath: "\(f.dir)/pseudo2/png").sorted())
        for p in pngs { XCTAssertEqual(f.bytes("pseudo1/png/\(p)"), f.bytes("pseudo2/png/\(p)"), "dcot-pseudo: \(p)") }
        func manifest(_ d: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: f.bytes("\(d)/manifest.json")!) as! [String: Any]
        }
        let m1 = try manifest("pseudo1"), m2 = try manifest("pseudo2")
        XCTAssertEqual((m1["samples"] as! [String: Any]).keys.sorted(), (m2["samples"] as! [String: Any]).keys.sorted())
        func json(_ v: Any) throws -> Data { try JSONSerialization.data(withJSONObject: v, options: .sortedKeys) }
        XCTAssertEqual(try json(m1["pseudo"]!), try json(m2["pseudo"]!))
        XCTAssertEqual((m2["shards"] as! [[String: Any]]).count, 2, "one shard file per rank")
    }

    func testResumingWithAnotherRankCountEqualsTheStraightRun() throws {
        let f = ClusterFixture.shared
        let straight = try ClusterFixture.run(["\(f.bin)/dcot-train"] + f.trainArgs(out: "straight", iterations: 6), timeout: 240)
        XCTAssertEqual(straight.status, 0, straight.output)
        let first = try f.mpirun(2, f.trainArgs(out: "resumed", iterations: 6) + ["--stop-after", "3"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try ClusterFixture.run(["\(f.bin)/dcot-train"] + f.trainArgs(out: "resumed", iterations: 6), timeout: 240)
        XCTAssertEqual(second.status, 0, second.output)
        try f.assertSameRun("straight", "resumed")
    }

    func testAKilledRankEndsTheJobWithoutHanging() throws {
        let f = ClusterFixture.shared
        let t0 = Date()
        let r = try ClusterFixture.run(["/usr/bin/mpirun", "--oversubscribe", "-np", "2", "\(f.bin)/dcot-train"]
                                        + f.trainArgs(out: "killed", iterations: 400), timeout: 120) { p in
            let mpirunPID = p.processIdentifier
            // Kill rank 1 once both ranks are training.
            DispatchQueue.global().async {
                sleep(4)
                let ranks = (try? ClusterFixture.run(["/usr/bin/pgrep", "-P", String(mpirunPID), "dcot-train"], timeout: 10).output) ?? ""
                if let victim = ranks.split(separator: "\n").compactMap({ Int32($0) }).last { kill(victim, SIGKILL) }
            }
        }
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 60, "the job ends within seconds of the kill")
    }

    func testRanksWithOtherConfigsStopWithOneLine() throws {
        let f = ClusterFixture.shared
        let a = f.trainArgs(out: "mismatch"), b = f.trainArgs(out: "mismatch", configs: ["cnn-rgb", "cnn-dct"])
        let r = try ClusterFixture.run(["/usr/bin/mpirun", "--oversubscribe", "-np", "1", "\(f.bin)/dcot-train"] + a
                                        + [":", "-np", "1", "\(f.bin)/dcot-train"] + b, timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, r.output)
        XCTAssertTrue(errors.first?.contains("rank 1 of 2 runs with other configs than rank 0") ?? false, r.output)
    }

    func testRanksThatDoNotDivideTheReplicasStopWithOneLine() throws {
        let f = ClusterFixture.shared
        let r = try f.mpirun(3, f.trainArgs(out: "three"), timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.output.split(separator: "\n").filter { $0.hasPrefix("error:") }.count, 1, r.output)
        XCTAssertTrue(r.output.contains("do not split over 3 ranks"), r.output)
    }
}

/// Removes a shared fixture's directory when the test process ends (no tearDown outlives it).
func removeAtExit(_ path: String) {
    if scratchDirectories.isEmpty { atexit { for d in scratchDirectories { try? FileManager.default.removeItem(atPath: d) } } }
    scratchDirectories.append(path)
}
nonisolated(unsafe) var scratchDirectories: [String] = []
