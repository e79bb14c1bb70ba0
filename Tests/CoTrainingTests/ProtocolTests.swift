import Foundation
import XCTest
import CoTraining
import Metrics

/// The evaluation protocol dcot-train uses per mode, dataset and input domain (METHOD.md 5.5, 6).
final class ProtocolTests: XCTestCase {
    let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("pipelines/configs").path

    func settings(_ names: [String]) throws -> RunSettings {
        var o = TrainOptions()
        o.configs = names.map { "\(configs)/\($0).yaml" }
        return try RunSettings(o)
    }

    func testCityscapesCoTrainingSlidesAtEveryEvaluation() throws {
        let s = try settings(["cityscapes/segformerb3_8x1", "cityscapes/r101_dct_8x1"])
        let sliding = InferenceMode.slidingWindow(window: 769, dctWindow: 193)
        for epoch in [0, 100, 219, 220, 239] {
            XCTAssertEqual(Trainer.evalMode(s, isDCT: false, epoch: epoch, totalEpochs: 240), sliding, "epoch \(epoch)")
            XCTAssertEqual(Trainer.evalMode(s, isDCT: true, epoch: epoch, totalEpochs: 240), sliding, "epoch \(epoch)")
        }
    }

    func testCityscapesSupervisedCentreCropsUntilTheLastTwentyEpochsButNeverForDCT() throws {
        let rgb = try settings(["cityscapes/r101_8x1"])
        XCTAssertEqual(Trainer.evalMode(rgb, isDCT: false, epoch: 0, totalEpochs: 240), .centerCrop(769))
        XCTAssertEqual(Trainer.evalMode(rgb, isDCT: false, epoch: 219, totalEpochs: 240), .centerCrop(769))
        XCTAssertEqual(Trainer.evalMode(rgb, isDCT: false, epoch: 220, totalEpochs: 240), .slidingWindow(window: 769, dctWindow: 193))
        let dct = try settings(["cityscapes/r101_dct_8x1"])
        XCTAssertEqual(Trainer.evalMode(dct, isDCT: true, epoch: 0, totalEpochs: 240), .slidingWindow(window: 769, dctWindow: 193))
    }

    func testVOCIsOriginalInEveryMode() throws {
        for names in [["voc/r101_4x4"], ["voc/segformerb2_4x4", "voc/r50_dct_4x4"]] {
            let s = try settings(names)
            for isDCT in [false, true] {
                XCTAssertEqual(Trainer.evalMode(s, isDCT: isDCT, epoch: 0, totalEpochs: 80), .original)
            }
        }
    }
}
