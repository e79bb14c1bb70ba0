import Foundation
import XCTest
import TestSupport
import Pipeline
import Support

final class SplitTests: XCTestCase {
    func makeTrainList(_ n: Int, dir: String) throws -> String {
        let lines = (0..<n).map { String(format: "JPEGImages/im_%04d.jpg SegmentationClass/im_%04d.png", $0, $0) }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: "\(dir)/train.txt")
        return "\(dir)/train.txt"
    }

    func ids(_ path: String) throws -> [String] {
        try IdList.read(path, layout: DatasetLayout(kind: .pascal, root: "/nonexistent")).map(\.id)
    }

    func testFractionsAreRoundedUpNestedAndDisjoint() throws {
        let dir = try temporaryDirectory("split")
        let train = try makeTrainList(1000, dir: dir)
        var previous: Set<String> = []
        for (k, f) in ["1/32", "1/16", "1/8", "1/4"].enumerated() {
            var o = SplitOptions(list: train, out: "\(dir)/s\(k)", layout: DatasetLayout(kind: .pascal, root: dir))
            o.size = try SplitSize.parse(fraction: f)
            o.seed = 5
            let s = try Split.run(o)
            XCTAssertEqual(s.labeled, [32, 63, 125, 250][k]) // ceil(1000/32) = 32, ceil(1000/16) = 63
            let labeled = Set(try ids("\(dir)/s\(k)/labeled.txt"))
            let unlabeled = Set(try ids("\(dir)/s\(k)/unlabeled.txt"))
            XCTAssertTrue(labeled.isDisjoint(with: unlabeled))
            XCTAssertEqual(labeled.count + unlabeled.count, 1000)
            XCTAssertTrue(previous.isSubset(of: labeled), "nested for one seed")
            previous = labeled
        }
        XCTAssertEqual(SplitSize.fraction(1, 16).resolve(total: 10582), 662)
        XCTAssertEqual(SplitSize.fraction(1, 32).resolve(total: 10582), 331)
        // Reference line format is written.
        let line = try String(contentsOfFile: "\(dir)/s0/labeled.txt", encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(line.hasPrefix("JPEGImages/im_") && line.contains(" SegmentationClass/im_"))
        // Another seed gives another draw.
        var o = SplitOptions(list: train, out: "\(dir)/other", layout: DatasetLayout(kind: .pascal, root: dir))
        o.size = .fraction(1, 32)
        o.seed = 6
        _ = try Split.run(o)
        XCTAssertNotEqual(Set(try ids("\(dir)/other/labeled.txt")), Set(try ids("\(dir)/s0/labeled.txt")))
    }

    func testLabeledFromBaseSubsetAndImport() throws {
        let dir = try temporaryDirectory("split-base")
        let train = try makeTrainList(300, dir: dir)
        try AtomicFile.write((0..<100).map { String(format: "im_%04d", $0 * 3) }.joined(separator: "\n"), to: "\(dir)/base.txt")
        var o = SplitOptions(list: train, out: "\(dir)/92", layout: DatasetLayout(kind: .pascal, root: dir))
        o.size = .count(92)
        o.base = "\(dir)/base.txt"
        _ = try Split.run(o)
        let labeled = try ids("\(dir)/92/labeled.txt")
        XCTAssertEqual(labeled.count, 92)
        XCTAssertTrue(labeled.allSatisfy { Int($0.suffix(4))! % 3 == 0 })
        // Import a published partition written as bare ids (U2PL style), order kept.
        try makeDirectory("\(dir)/pub")
        try AtomicFile.write("im_0005\nim_0001\nim_0009", to: "\(dir)/pub/labeled.txt")
        var i = SplitOptions(list: train, out: "\(dir)/imported", layout: DatasetLayout(kind: .pascal, root: dir))
        i.importDirectory = "\(dir)/pub"
        let s = try Split.run(i)
        XCTAssertEqual(s.labeled, 3)
        XCTAssertEqual(s.unlabeled, 297)
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/imported/labeled.txt", encoding: .utf8),
                       "JPEGImages/im_0005.jpg SegmentationClass/im_0005.png\nJPEGImages/im_0001.jpg SegmentationClass/im_0001.png\nJPEGImages/im_0009.jpg SegmentationClass/im_0009.png\n")
    }
}
