import Foundation
import XCTest
import Pipeline
import Shards
import Support

final class LoaderTests: XCTestCase {
    func testBatchesArePureFunctionsOfTheIterationAndPrefetchMatchesDirect() throws {
        let root = try makeSynthDataset(train: 20, val: 0, size: 48)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var o = PrepOptions(dataset: .generic, root: root, lists: ["\(root)/train.txt"], out: "\(root)/shards")
        o.quiet = true
        _ = try Prep.run(o, commandLine: "test")
        let reader = try ShardReader(directory: "\(root)/shards")
        let ids = reader.ids
        let plan = EpochPlan(batchPerRank: 2, ranks: 2, seed: 3)
        let maker = ViewMaker(crop: 32, withDCT: true, seed: 3)
        let loader = try Loader(reader: reader, labeled: Array(ids.prefix(4)), unlabeled: Array(ids.dropFirst(4)),
                                plan: plan, maker: maker, mode: .coTraining, jobs: 2)
        XCTAssertEqual(loader.iterationsPerEpoch, 4) // floor(ceil(16 / 2) / 2)
        loader.start(at: 3)
        let b3 = try loader.next(), b4 = try loader.next(), b5 = try loader.next()
        loader.stop()
        XCTAssertEqual([b3.iteration, b4.iteration, b5.iteration], [3, 4, 5])
        XCTAssertEqual(b4.epoch, 1)
        XCTAssertEqual(b3.labeled.count, 4)
        XCTAssertEqual(b3.unlabeled.count, 4)
        XCTAssertEqual(Set(b3.partners[0..<2]), [0, 1])
        XCTAssertEqual(Set(b3.partners[2..<4]), [2, 3])
        // A fresh loader (another job count) gives identical batches: resumable and thread-independent.
        let other = try Loader(reader: reader, labeled: Array(ids.prefix(4)), unlabeled: Array(ids.dropFirst(4)),
                               plan: plan, maker: maker, mode: .coTraining, jobs: 1)
        let again = try other.makeBatch(iteration: 4)
        XCTAssertEqual(again.unlabeledIDs, b4.unlabeledIDs)
        XCTAssertEqual(again.labeledIDs, b4.labeledIDs)
        XCTAssertEqual(again.unlabeled.map(\.strongDCT), b4.unlabeled.map(\.strongDCT))
        XCTAssertEqual(again.labeled.map(\.mask), b4.labeled.map(\.mask))
        // Every unlabeled id is seen once per epoch.
        let epoch0 = try (0..<4).flatMap { try other.makeBatch(iteration: $0).unlabeledIDs }
        XCTAssertEqual(Set(epoch0).count, 16)
        // The reference's pairing: one labeled schedule for the run, walked in the unlabeled order, so
        // the labeled id beside unlabeled sample p is always schedule[p].
        let unlabeledIDs = Array(ids.dropFirst(4)), labeledIDs = Array(ids.prefix(4))
        for it in [0, 3, 4, 9] {
            let b = try other.makeBatch(iteration: it)
            let expected = b.unlabeledIDs.map { labeledIDs[other.labeledSchedule[unlabeledIDs.firstIndex(of: $0)!]] }
            XCTAssertEqual(b.labeledIDs, expected, "iteration \(it)")
        }
        XCTAssertThrowsError(try Loader(reader: reader, labeled: ["missing"], unlabeled: [], plan: plan, maker: maker,
                                        mode: .supervised)) { XCTAssertTrue("\($0)".contains("'missing'")) }
    }
}
