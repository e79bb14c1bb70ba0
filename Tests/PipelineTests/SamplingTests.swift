import XCTest
import Pipeline
import Support

final class EpochPlanTests: XCTestCase {
    /// METHOD.md 1.3's table: VOC 4 GPUs x 4 and 8 x 2, Cityscapes 8 x 1.
    func testIterationsPerEpochMatchTheReference() {
        XCTAssertEqual(EpochPlan(batchPerRank: 4, ranks: 4, seed: 0).iterationsPerEpoch(samples: 10490), 655)
        XCTAssertEqual(EpochPlan(batchPerRank: 2, ranks: 8, seed: 0).iterationsPerEpoch(samples: 10490), 656)
        XCTAssertEqual(EpochPlan(batchPerRank: 4, ranks: 4, seed: 0).iterationsPerEpoch(samples: 9920), 620)
        XCTAssertEqual(EpochPlan(batchPerRank: 4, ranks: 4, seed: 0).iterationsPerEpoch(samples: 7936), 496)
        XCTAssertEqual(EpochPlan(batchPerRank: 1, ranks: 8, seed: 0).iterationsPerEpoch(samples: 2875), 360)
        XCTAssertEqual(EpochPlan(batchPerRank: 1, ranks: 8, seed: 0).iterationsPerEpoch(samples: 2231), 279)
    }

    func testLabeledScheduleRepeatsEveryIdAndIsSeeded() {
        let plan = EpochPlan(batchPerRank: 2, ranks: 2, seed: 9)
        let s = plan.labeledSchedule(labeled: 7, unlabeled: 30)
        XCTAssertEqual(s.count, 30)
        var counts = [Int](repeating: 0, count: 7)
        for i in s { counts[i] += 1 }
        // 5 copies of each id (35 slots), shuffled, cut to 30: at most 5 of each.
        XCTAssertTrue(counts.allSatisfy { $0 <= 5 }, "\(counts)")
        XCTAssertEqual(s, plan.labeledSchedule(labeled: 7, unlabeled: 30))
        XCTAssertNotEqual(s, EpochPlan(batchPerRank: 2, ranks: 2, seed: 10).labeledSchedule(labeled: 7, unlabeled: 30))
        let b = plan.batches(Array(100..<130), epoch: 0, purpose: .pairedOrder)
        XCTAssertEqual(b.count, 7) // floor(ceil(30/2)/2)
        XCTAssertTrue(b.allSatisfy { $0.count == 4 })
        XCTAssertEqual(Set(b.flatMap { $0 }).count, 28)
    }
}

extension EpochPlanTests {
    /// The reference draws the repeated labeled list once (in the dataset's constructor), and its two
    /// DistributedSamplers (same seed, same length) give both lists the same permutation each epoch:
    /// the labeled entry at schedule position p always meets unlabeled sample p.
    func testLabeledAndUnlabeledArePairedByPositionEveryEpoch() {
        let plan = EpochPlan(batchPerRank: 2, ranks: 2, seed: 3)
        let schedule = plan.labeledSchedule(labeled: 5, unlabeled: 22)
        var seenOrders = Set<[Int]>()
        for epoch in 0..<4 {
            let lab = plan.batches(schedule, epoch: epoch, purpose: .pairedOrder)
            let unl = plan.batches(Array(0..<22), epoch: epoch, purpose: .pairedOrder)
            XCTAssertEqual(lab.count, unl.count)
            for (l, u) in zip(lab, unl) { XCTAssertEqual(l, u.map { schedule[$0] }, "epoch \(epoch)") }
            seenOrders.insert(unl.flatMap { $0 })
        }
        XCTAssertEqual(seenOrders.count, 4, "the shared order still changes every epoch")
    }
}

final class CutMixTests: XCTestCase {
    func testBoxesFitAndFollowTheReferenceRanges() {
        var rng = SplitMix64(seed: 1)
        var boxes = 0
        for _ in 0..<2000 {
            let box = CutMixBox.draw(size: 81, rng: &rng)
            guard let r = box.rect else { continue }
            boxes += 1
            XCTAssertLessThanOrEqual(r.x + r.w, 81)
            XCTAssertLessThanOrEqual(r.y + r.h, 81)
            let area = Double(r.w * r.h) / Double(81 * 81)
            XCTAssertLessThanOrEqual(area, 0.4 + 1e-9)
            XCTAssertGreaterThanOrEqual(Double(r.w) / Double(max(r.h, 1)), 0.3 * 0.3 * 0.5)
        }
        XCTAssertEqual(Double(boxes) / 2000, 0.5, accuracy: 0.05)
    }

    func testNearestResizeLikePyTorch() {
        // n = 81 grid to s = 321 pixels: source row = floor(dst * 81/321) in Float32.
        let box = CutMixBox(size: 81, rect: (x: 10, y: 20, w: 5, h: 7))
        let px = box.pixels(321)
        let scale = Float(81) / Float(321)
        for dst in [0, 40, 41, 42, 100, 320] {
            let src = min(Int((Float(dst) * scale).rounded(.down)), 80)
            XCTAssertEqual(px[dst * 321 + 50], box.grid[src * 81 + Int((Float(50) * scale).rounded(.down))])
        }
        XCTAssertEqual(px.reduce(0) { $0 + Int($1) } > 0, true)
    }

    func testMixingStaysWithinGroupsAndReadsUnmixedInput() {
        var rng = SplitMix64(seed: 4)
        for _ in 0..<50 {
            let p = CutMix.partners(batch: 8, groupSize: 4, rng: &rng)
            XCTAssertEqual(Set(p[0..<4]), Set(0..<4))
            XCTAssertEqual(Set(p[4..<8]), Set(4..<8))
        }
        // Two samples of 2 channels x 4 pixels swap inside the mask; both read the originals.
        let x: [Float] = [1, 1, 1, 1, 2, 2, 2, 2, 5, 5, 5, 5, 6, 6, 6, 6]
        let m: [UInt8] = [1, 0, 0, 1]
        let y = CutMix.mix(x, masks: [m, m], partners: [1, 0], channels: 2, plane: 4)
        XCTAssertEqual(y, [5, 1, 1, 5, 6, 2, 2, 6, 1, 5, 5, 1, 2, 6, 6, 2])
        XCTAssertEqual(CutMix.mix(x, masks: [m, m], partners: [0, 1], channels: 2, plane: 4), x)
    }
}
