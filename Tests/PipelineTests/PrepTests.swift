import Foundation
import XCTest
import TestSupport
import ImageIO
import Pipeline
import Shards
import Support

final class PrepTests: XCTestCase {
    func testPrepOnSynthDataEndToEnd() throws {
        let root = try makeSynthDataset()
        let out = try temporaryDirectory("prep") + "/shards"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/train.txt", "\(root)/val.txt"], out: out)
        o.dct = true
        o.shardMB = 0.05 // several shards
        o.jobs = 2
        o.quiet = true
        let s = try Prep.run(o, commandLine: "test")
        XCTAssertEqual(s.samples, 30)
        XCTAssertEqual(s.labeled, 30)
        XCTAssertGreaterThan(s.shards, 1)
        let reader = try ShardReader(directory: out)
        XCTAssertEqual(reader.manifest.classes.count, 6)
        XCTAssertEqual(reader.manifest.samples.count, 30)
        // Every sample reads back as the decoded source files.
        let codec = JPEGCodec()
        for id in ["train_00000", "train_00017", "val_00005"] {
            let sample = try reader.sample(id)
            let jpeg = [UInt8](FileManager.default.contents(atPath: "\(root)/JPEGImages/\(id).jpg")!)
            let png = [UInt8](FileManager.default.contents(atPath: "\(root)/SegmentationClass/\(id).png")!)
            XCTAssertEqual(sample.image, try codec.decode(jpeg))
            XCTAssertEqual(sample.label, try LabelPNG.read(png))
            XCTAssertEqual(sample.dct, DCTTransform.coefficients(sample.image!))
            let m = reader.manifest.samples[id]!
            XCTAssertEqual(m.source_sha256, SHA256.hex(of: jpeg + png))
        }
        // A second run with unchanged inputs does nothing; --force rebuilds identical shards.
        let before = try String(contentsOfFile: "\(out)/manifest.json", encoding: .utf8)
        XCTAssertTrue(try Prep.run(o, commandLine: "test").upToDate)
        o.force = true
        o.jobs = 1 // shard contents must not depend on the job count
        XCTAssertFalse(try Prep.run(o, commandLine: "test").upToDate)
        let after = try String(contentsOfFile: "\(out)/manifest.json", encoding: .utf8)
        XCTAssertEqual(before, after)
    }

    func testUnlabeledLinesAndBareIds() throws {
        let root = try makeSynthDataset(train: 6, val: 0)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try AtomicFile.write("JPEGImages/train_00000.jpg\ntrain_00001\n\nJPEGImages/train_00002.jpg SegmentationClass/train_00002.png\n",
                             to: "\(root)/mixed.txt")
        let out = try temporaryDirectory("prep-mixed") + "/s"
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/mixed.txt"], out: out)
        o.quiet = true
        let s = try Prep.run(o, commandLine: "test")
        XCTAssertEqual(s.samples, 3)
        XCTAssertEqual(s.labeled, 2) // the bare id resolves its mask through the VOC layout
        let r = try ShardReader(directory: out)
        XCTAssertNil(try r.sample("train_00000").label)
        XCTAssertNotNil(try r.sample("train_00001").label)
    }

    func testCityscapesLabelIdsAreMappedToTrainIds() throws {
        let root = try temporaryDirectory("cs")
        try makeDirectory("\(root)/leftImg8bit/val/lindau")
        try makeDirectory("\(root)/gtFine/val/lindau")
        let id = "lindau_000000_000019"
        let img = RGBImage(width: 6, height: 4, fill: 90)
        try AtomicFile.write(try PNG.write(pixels: img.pixels, width: 6, height: 4, channels: 3),
                             to: "\(root)/leftImg8bit/val/lindau/\(id)_leftImg8bit.png")
        let ids: [UInt8] = [7, 8, 11, 26, 33, 0, 1, 4, 255, 24, 23, 21] + [UInt8](repeating: 7, count: 12)
        try AtomicFile.write(try PNG.write(pixels: ids, width: 6, height: 4, channels: 1),
                             to: "\(root)/gtFine/val/lindau/\(id)_gtFine_labelIds.png")
        try AtomicFile.write("\(id)\n", to: "\(root)/val.txt")
        let out = "\(root)/shards"
        var o = PrepOptions(dataset: .cityscapes, root: root, lists: ["\(root)/val.txt"], out: out)
        o.quiet = true
        _ = try Prep.run(o, commandLine: "test")
        let s = try ShardReader(directory: out).sample(id)
        XCTAssertEqual(Array(s.label!.labels.prefix(12)), [0, 1, 2, 13, 18, 255, 255, 255, 255, 11, 10, 8])
        XCTAssertEqual(s.image, img)
    }
}
