import Foundation
import XCTest
import Metrics
import Pipeline

/// ST++'s stability score and selection against hand computations.
final class ReliabilityTests: XCTestCase {
    func testStabilityIsTheMeanPerImageMIoUAgainstTheLastCheckpoint() {
        // 4 pixels, 3 classes. Last: [0, 0, 1, 1]. Earlier A = last (mIoU 1). Earlier B = [0, 1, 1, 1]:
        // class 0: I 1, U 2 → 1/2; class 1: I 2, U 3 → 2/3; class 2 absent from both (skipped) → 7/12.
        let last: [UInt8] = [0, 0, 1, 1]
        XCTAssertEqual(Reliability.stability([last, last], classes: 3), 1)
        XCTAssertEqual(Reliability.stability([[0, 1, 1, 1], last], classes: 3), 7.0 / 12, accuracy: 1e-12)
        XCTAssertEqual(Reliability.stability([last, [0, 1, 1, 1], last], classes: 3), (1 + 7.0 / 12) / 2, accuracy: 1e-12)
        // Disjoint predictions: 0.
        XCTAssertEqual(Reliability.stability([[2, 2, 2, 2], last], classes: 3), 0)
    }

    func testTheMoreStableHalfIsReliableTiesInListOrder() throws {
        let dir = NSTemporaryDirectory() + "reliability-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let entries = ["a", "b", "c", "d", "e"].enumerated().map {
            ListEntry(id: $0.element, image: "JPEGImages/\($0.element).jpg", mask: nil, line: $0.offset + 1)
        }
        let n = try Reliability.write(entries: entries, scores: [0.2, 0.9, 0.5, 0.9, 0.1], fraction: 0.5, to: dir)
        XCTAssertEqual(n, 2) // floor(5 / 2), as ST++'s len // 2
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/reliable.txt", encoding: .utf8), "JPEGImages/b.jpg\nJPEGImages/d.jpg\n")
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/unreliable.txt", encoding: .utf8),
                       "JPEGImages/c.jpg\nJPEGImages/a.jpg\nJPEGImages/e.jpg\n")
        XCTAssertTrue(try String(contentsOfFile: "\(dir)/reliability.tsv", encoding: .utf8).hasPrefix("id\tstability\nb\t0.900000\nd\t0.900000\nc\t0.500000\n"))
    }
}
