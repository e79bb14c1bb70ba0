// The run-directory lock (flock on a file holding pid and host) and the one-line error helpers.
import Foundation
import XCTest
import Support

final class DirectoryLockTests: XCTestCase {
    func testSecondLockFailsNamingTheHolderAndSucceedsOnceReleased() throws {
        let dir = NSTemporaryDirectory() + "dcot-lock-\(UUID().uuidString)/run"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let first = try DirectoryLock(directory: dir, name: "train.lock", program: "dcot-train", flag: "--out")
        let host = ProcessInfo.processInfo.hostName
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/train.lock", encoding: .utf8), "pid \(getpid()) on \(host)\n")
        // flock locks belong to an open file description: a second open in the same process conflicts.
        XCTAssertThrowsError(try DirectoryLock(directory: dir, name: "train.lock", program: "dcot-train", flag: "--out")) { error in
            let text = "\(error)"
            XCTAssertTrue(error is UserError, text)
            XCTAssertTrue(text.hasPrefix("\(dir)/train.lock: \(dir) is in use by another dcot-train (pid \(getpid()) on \(host))"), text)
            XCTAssertTrue(text.contains("use another --out"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        first.release()
        var second: DirectoryLock? = try DirectoryLock(directory: dir, name: "train.lock", program: "dcot-train", flag: "--out")
        XCTAssertNotNil(second)
        second = nil // deinit releases too
        XCTAssertNoThrow(try DirectoryLock(directory: dir, name: "train.lock", program: "dcot-train", flag: "--out"))
    }
}

final class OneLineErrorTests: XCTestCase {
    struct Sample: Decodable { var offset: Int }

    func testDecodingErrorsAndMultiLineTextBecomeOneLine() throws {
        XCTAssertThrowsError(try JSONDecoder().decode([String: Sample].self, from: Data(#"{"a": {"offset": "x"}}"#.utf8))) {
            let text = oneLine($0)
            XCTAssertTrue(text.hasPrefix("a.offset: "), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        XCTAssertThrowsError(try JSONDecoder().decode([String: Sample].self, from: Data(#"{"a": {}}"#.utf8))) {
            XCTAssertEqual(oneLine($0), "a.offset: missing")
        }
        XCTAssertEqual(oneLine("scanner: while scanning\n  could not find ':'\n\ncrop\n^"), "scanner: while scanning could not find ':' crop ^")
        // A parser's message that quotes a huge line is cut.
        struct Quoting: Error, CustomStringConvertible { var description: String { "line 3:\n" + String(repeating: "[", count: 100_000) } }
        XCTAssertEqual(oneLine(Quoting()).count, 301)
    }

    func testFlagRanges() throws {
        XCTAssertNoThrow(try checkFlag("--threads", 4, in: threadRange, fix: "f"))
        XCTAssertNoThrow(try checkFlag("--threads", nil as Int?, in: threadRange, fix: "f"))
        XCTAssertThrowsError(try checkFlag("--threads", 0, in: threadRange, fix: "give a count")) {
            XCTAssertEqual("\($0)", "--threads 0: must be in 1...1024; give a count")
        }
        XCTAssertThrowsError(try checkFlag("--every", -2, in: 1...Int.max, fix: "f")) {
            XCTAssertEqual("\($0)", "--every -2: must be at least 1; f")
        }
        XCTAssertThrowsError(try checkFlag("--threshold", Double.nan, in: 0...1, fix: "f")) { XCTAssertTrue("\($0)".contains("nan")) }
    }
}
