import Foundation
import XCTest
import Autograd
import CoTraining
import Tensor

/// The loss terms and the schedule against values computed by hand.
final class LossTests: XCTestCase {
    /// Two classes with logits (0, ln 3): p = (1/4, 3/4), so CE is ln 4 for class 0 and ln(4/3) for class 1.
    func logits(_ n: Int, _ h: Int, _ w: Int) -> Variable {
        let t = Tensor(zeros: [n, 2, h, w])
        for b in 0..<n { for i in 0..<(h * w) { t.data[(b * 2 + 1) * h * w + i] = Float(log(3.0)) } }
        return Variable(t, requiresGrad: true)
    }

    func testUnsupervisedTermIgnoresPaddingAppliesThresholdAndDividesByNonPadded() {
        // One image of 2x2 pixels: pseudo-labels (0, 1, 1, 0); pixel 3 is padding (ignore 255);
        // confidences (0.9, 0.4, 0.95, 0.99); threshold 0.5 drops pixel 1.
        let pseudo = LabelMap(shape: [1, 2, 2], values: [0, 1, 1, 0])
        let conf = Tensor(shape: [1, 2, 2], values: [0.9, 0.4, 0.95, 0.99])
        let ignore: [UInt8] = [0, 0, 0, 255]
        let v = CoTrainingStep.unsupervisedTerm(logits(1, 2, 2), pseudo: pseudo, confidence: conf, ignore: ignore,
                                                firstRow: 0, threshold: 0.5)
        // kept: pixel 0 (class 0, ln 4) and pixel 2 (class 1, ln 4/3); normaliser: 3 non-padded pixels.
        XCTAssertEqual(Double(v.value.data[0]), (log(4.0) + log(4.0 / 3.0)) / 3, accuracy: 1e-6)
        // Threshold 0 (the reference scripts): every non-padded pixel counts.
        let all = CoTrainingStep.unsupervisedTerm(logits(1, 2, 2), pseudo: pseudo, confidence: conf, ignore: ignore,
                                                  firstRow: 0, threshold: 0)
        XCTAssertEqual(Double(all.value.data[0]), (log(4.0) + 2 * log(4.0 / 3.0)) / 3, accuracy: 1e-6)
        // Rows of a later rank read their own slice of the batch-wide maps.
        let two = LabelMap(shape: [2, 2, 2], values: [1, 1, 1, 1, 0, 1, 1, 0])
        let conf2 = Tensor(shape: [2, 2, 2], repeating: 1)
        let r1 = CoTrainingStep.unsupervisedTerm(logits(1, 2, 2), pseudo: two, confidence: conf2,
                                                 ignore: [0, 0, 0, 0, 0, 0, 0, 255], firstRow: 1, threshold: 0)
        XCTAssertEqual(Double(r1.value.data[0]), (log(4.0) + 2 * log(4.0 / 3.0)) / 3, accuracy: 1e-6)
    }

    func testSupervisedCrossEntropyIsTheMeanOverLabelledPixels() {
        // Labels (0, 1, 255, 1): mean over the 3 labelled pixels.
        let v = crossEntropy(logits(1, 2, 2), LabelMap(shape: [1, 2, 2], values: [0, 1, 255, 1]))
        XCTAssertEqual(Double(v.value.data[0]), (log(4.0) + 2 * log(4.0 / 3.0)) / 3, accuracy: 1e-6)
    }

    /// METHOD.md 5.1: lr_t = lr·(1 − t/T)^0.9, set after each step: co-training step t runs with
    /// lr(t − 1) (step 0 with the base lr), supervised step t with lr(t).
    func testLearningRateScheduleAndUpdateTiming() {
        let total = 52_400 // VOC 92 labels: 655 iterations x 80 epochs
        XCTAssertEqual(CoTrainingStep.learningRateFactor(iteration: 0, total: total, coTraining: true), 1)
        XCTAssertEqual(CoTrainingStep.learningRateFactor(iteration: 1, total: total, coTraining: true), 1)
        XCTAssertEqual(CoTrainingStep.learningRateFactor(iteration: 2, total: total, coTraining: true),
                       pow(1 - 1.0 / 52_400, 0.9), accuracy: 1e-15)
        XCTAssertEqual(CoTrainingStep.learningRateFactor(iteration: 1, total: total, coTraining: false),
                       pow(1 - 1.0 / 52_400, 0.9), accuracy: 1e-15)
        // Half way: 0.002 · 0.5^0.9 = 0.0010718
        XCTAssertEqual(0.002 * CoTrainingStep.learningRateFactor(iteration: 26_200, total: total, coTraining: false),
                       0.0010718, accuracy: 1e-7)
        XCTAssertEqual(CoTrainingStep.learningRateFactor(iteration: total - 1, total: total, coTraining: true),
                       pow(2.0 / 52_400, 0.9), accuracy: 1e-12)
    }
}
