// Synth renderer: determinism, label validity, class coverage, the ignore band and image framing.
// Label maps are [H, W] UInt8 (0 background, 1..K-1 objects, 255 ignore); rgb is [H, W, 3].
import Foundation
import Synth
import XCTest

final class SynthRendererTests: XCTestCase {
    let config = SynthConfig(classes: 6, size: 128, seed: 7)

    func testSameArgumentsGiveIdenticalBytes() {
        for index in [0, 1, 17] {
            let a = SynthRenderer.render(config, split: "train", index: index)
            let b = SynthRenderer.render(config, split: "train", index: index)
            XCTAssertEqual(a.rgb, b.rgb)
            XCTAssertEqual(a.label, b.label)
            XCTAssertEqual(a.width, b.width)
            XCTAssertEqual(a.height, b.height)
            XCTAssertEqual(a.jpegQuality, b.jpegQuality)
        }
    }

    func testIndexSplitAndSeedChangeTheImage() {
        let base = SynthRenderer.render(config, split: "train", index: 3)
        let otherIndex = SynthRenderer.render(config, split: "train", index: 4)
        let otherSplit = SynthRenderer.render(config, split: "val", index: 3)
        var reseeded = config
        reseeded.seed = 8
        let otherSeed = SynthRenderer.render(reseeded, split: "train", index: 3)
        XCTAssertNotEqual(base.rgb, otherIndex.rgb)
        XCTAssertNotEqual(base.rgb, otherSplit.rgb)
        XCTAssertNotEqual(base.rgb, otherSeed.rgb)
    }

    /// Order independence: rendering concurrently in reverse order gives the sequential bytes.
    func testParallelRenderingMatchesSequential() {
        let count = 16
        let sequential = (0..<count).map { SynthRenderer.render(config, split: "val", index: $0).rgb }
        let lock = NSLock()
        var parallel = [[UInt8]](repeating: [], count: count)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let index = count - 1 - i
            let rgb = SynthRenderer.render(config, split: "val", index: index).rgb
            lock.lock()
            parallel[index] = rgb
            lock.unlock()
        }
        XCTAssertEqual(sequential, parallel)
    }

    func testShapesFramingAndJPEGQuality() {
        var landscape = 0, portrait = 0
        for index in 0..<50 {
            let s = SynthRenderer.render(config, split: "train", index: index)
            XCTAssertEqual(s.rgb.count, s.width * s.height * 3)
            XCTAssertEqual(s.label.count, s.width * s.height)
            XCTAssertEqual(max(s.width, s.height), 128)
            XCTAssertGreaterThanOrEqual(min(s.width, s.height), 96)
            XCTAssertTrue((60...95).contains(s.jpegQuality))
            if s.width > s.height { landscape += 1 } else if s.width < s.height { portrait += 1 }
        }
        XCTAssertGreaterThan(landscape, 0)
        XCTAssertGreaterThan(portrait, 0)
    }

    func testOtherSizesRender() {
        for size in [16, 33, 64, 96, 160, 256] {
            for index in 0..<8 {
                let s = SynthRenderer.render(SynthConfig(classes: 4, size: size, seed: 1), split: "train", index: index)
                XCTAssertEqual(max(s.width, s.height), size)
                XCTAssertEqual(s.rgb.count, s.width * s.height * 3)
            }
        }
    }

    func testLabelValuesAreClassesOrIgnore() {
        for classes in [2, 6, 21] {
            let cfg = SynthConfig(classes: classes, size: 96, seed: 3)
            for index in 0..<20 {
                let s = SynthRenderer.render(cfg, split: "train", index: index)
                for v in s.label {
                    XCTAssertTrue(Int(v) < classes || v == 255, "label \(v) with K = \(classes)")
                }
            }
        }
    }

    func testEveryObjectClassAppears() {
        for (classes, images) in [(6, 50), (21, 100)] {
            let cfg = SynthConfig(classes: classes, size: 128, seed: 11)
            var pixels = [Int](repeating: 0, count: 256)
            for index in 0..<images {
                for v in SynthRenderer.render(cfg, split: "train", index: index).label { pixels[Int(v)] += 1 }
            }
            for c in 0..<classes {
                XCTAssertGreaterThan(pixels[c], 0, "class \(c) never appears with K = \(classes)")
            }
            // Objects take a real share of the image, but background still dominates, as in VOC.
            let total = pixels.reduce(0, +)
            let objectShare = Double(pixels[1..<classes].reduce(0, +)) / Double(total)
            XCTAssertGreaterThan(objectShare, 0.1)
            XCTAssertLessThan(objectShare, 0.6)
        }
    }

    /// VOC-style band: 255 separates every pair of different classes (no two 4-adjacent labelled
    /// pixels differ) and stays thin (every 255 pixel has a labelled pixel within 2 px).
    func testIgnoreBandSeparatesClassesAndIsThin() {
        var bandPixels = 0, totalPixels = 0
        for index in 0..<50 {
            let s = SynthRenderer.render(config, split: "train", index: index)
            let w = s.width, h = s.height, lab = s.label
            totalPixels += w * h
            for y in 0..<h {
                for x in 0..<w {
                    let v = lab[y * w + x]
                    if v == 255 {
                        bandPixels += 1
                        var near = false
                        for yy in max(0, y - 2)...min(h - 1, y + 2) {
                            for xx in max(0, x - 2)...min(w - 1, x + 2) where lab[yy * w + xx] != 255 { near = true }
                        }
                        XCTAssertTrue(near, "ignore band wider than 2 px at (\(x), \(y)) in image \(index)")
                        continue
                    }
                    if x + 1 < w, lab[y * w + x + 1] != 255 {
                        XCTAssertEqual(v, lab[y * w + x + 1], "classes touch at (\(x), \(y)) in image \(index)")
                    }
                    if y + 1 < h, lab[(y + 1) * w + x] != 255 {
                        XCTAssertEqual(v, lab[(y + 1) * w + x], "classes touch at (\(x), \(y)) in image \(index)")
                    }
                }
            }
        }
        let share = Double(bandPixels) / Double(totalPixels)
        XCTAssertGreaterThan(share, 0.01)
        XCTAssertLessThan(share, 0.15)
    }

    func testClassNames() {
        XCTAssertEqual(SynthRenderer.classNames(count: 6),
                       ["background", "striped-ellipse", "checkered-rectangle", "dotted-triangle",
                        "speckled-star", "striped-cross"])
        let all = SynthRenderer.classNames(count: SynthRenderer.maxClasses)
        XCTAssertEqual(all.count, 21)
        XCTAssertEqual(Set(all).count, 21)
    }

    func testClassOffsetGivesDisjointClasses() {
        XCTAssertEqual(SynthRenderer.classNames(count: 3, offset: 2),
                       ["background"] + SynthRenderer.classNames(count: 5).suffix(2))
        for (classes, offset) in [(3, 2), (9, 2), (2, 19), (10, 11)] {
            let decoys = (classes...(SynthRenderer.maxClasses - 1)).map {
                SynthRenderer.decoyClass(draw: $0, classes: classes, offset: offset)
            }
            let own = Set((1..<classes).map { $0 + offset })
            XCTAssertEqual(Set(decoys).count, decoys.count, "decoy draws map one to one")
            XCTAssertEqual(Set(decoys).union(own), Set(1..<SynthRenderer.maxClasses))
            XCTAssertTrue(Set(decoys).isDisjoint(with: own))
        }
        let base = SynthRenderer.render(SynthConfig(classes: 3, size: 64, seed: 5), split: "train", index: 0)
        let shifted = SynthRenderer.render(SynthConfig(classes: 3, size: 64, seed: 5, classOffset: 2), split: "train", index: 0)
        XCTAssertNotEqual(base.rgb, shifted.rgb)
        XCTAssertTrue(shifted.label.allSatisfy { $0 < 3 || $0 == 255 })
    }

    /// Decoys (clutter in another catalogue class's shape and texture) appear by default and never
    /// with `decoys: false`, which changes nothing else about the dataset's classes.
    func testDecoysCanBeLeftOut() {
        var on = 0, off = 0
        for index in 0..<40 {
            var c = SynthConfig(classes: 5, size: 64, seed: 100, classOffset: 2)
            on += SynthRenderer.render(c, split: "train", index: index).decoys
            c.decoys = false
            let sample = SynthRenderer.render(c, split: "train", index: index)
            off += sample.decoys
            XCTAssertTrue(sample.label.allSatisfy { $0 < 5 || $0 == 255 })
        }
        XCTAssertGreaterThan(on, 0, "40 images with 3-7 clutter layers each and no decoy")
        XCTAssertEqual(off, 0)
        // Every catalogue class is the dataset's own at K = 21: nothing to make decoys of.
        let full = (0..<10).map { SynthRenderer.render(SynthConfig(classes: 21, size: 64, seed: 1), split: "val", index: $0).decoys }
        XCTAssertEqual(full.reduce(0, +), 0)
    }
}

/// dcot-synth records its settings beside the images.
final class SynthWriterTests: XCTestCase {
    func testSynthJSONRecordsTheSettings() throws {
        let out = NSTemporaryDirectory() + "dcot-synth-json-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = SynthConfig(classes: 4, size: 32, seed: 7)
        config.classOffset = 2
        config.decoys = false
        _ = try SynthDataset.write(SynthWriteOptions(config: config, train: 2, val: 1, out: out, jobs: 1, quiet: true))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/synth.json"))) as! [String: Any]
        XCTAssertEqual(json["format"] as? String, "dcot-synth")
        XCTAssertEqual(json["classes"] as? Int, 4)
        XCTAssertEqual(json["class_offset"] as? Int, 2)
        XCTAssertEqual(json["size"] as? Int, 32)
        XCTAssertEqual(json["seed"] as? Int, 7)
        XCTAssertEqual(json["decoys"] as? Bool, false)
        XCTAssertEqual(json["train"] as? Int, 2)
        XCTAssertEqual(json["val"] as? Int, 1)
    }
}
