import Foundation
import XCTest
import Support
import TestSupport
import Synth

let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A small dcot-synth dataset (VOC layout) in a fresh directory.
func makeSynthDataset(train: Int = 24, val: Int = 6, size: Int = 48, seed: UInt64 = 3) throws -> String {
    let dir = try temporaryDirectory("synth")
    _ = try SynthDataset.write(SynthWriteOptions(config: SynthConfig(classes: 6, size: size, seed: seed), train: train,
                                                 val: val, out: dir, jobs: 2, quiet: true))
    return dir
}

/// Runs a built program (.build/release/NAME); returns exit code, stdout, stderr.
@discardableResult
func runProgram(_ name: String, _ args: [String]) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(packageRoot)/.build/release/\(name)")
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Runs a Python script with the given interpreter; nil when it is not available.
func runPython(_ code: String, args: [String] = []) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", code] + args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// CI (CI=true) must have every test dependency; locally a missing Python package skips.
func requirePython(modules: [String]) throws {
    let r = try runPython("import \(modules.joined(separator: ", "))")
    if r.code != 0 {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("python3 lacks \(modules) in CI: Scripts/test must install them (\(r.err))")
        }
        throw XCTSkip("python3 lacks \(modules.joined(separator: ", ")); Scripts/test installs them")
    }
}
