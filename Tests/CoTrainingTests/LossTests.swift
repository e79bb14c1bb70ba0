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

    /// The ramp-up: uw · exp(-5 (1 - t/N)^2), uw from step N on, constant without a ramp.
    func testUnsupervisedWeightRampUp() {
        XCTAssertEqual(CoTrainingStep.rampedUnsupWeight(2, iteration: 0, rampup: 100), 2 * exp(-5), accuracy: 1e-12)
        XCTAssertEqual(CoTrainingStep.rampedUnsupWeight(2, iteration: 50, rampup: 100), 2 * exp(-1.25), accuracy: 1e-12)
        XCTAssertEqual(CoTrainingStep.rampedUnsupWeight(2, iteration: 100, rampup: 100), 2)
        XCTAssertEqual(CoTrainingStep.rampedUnsupWeight(2, iteration: 5000, rampup: 100), 2)
        XCTAssertEqual(CoTrainingStep.rampedUnsupWeight(1.5, iteration: 0, rampup: 0), 1.5)
        let w = (0...100).map { CoTrainingStep.rampedUnsupWeight(1, iteration: $0, rampup: 100) }
        XCTAssertEqual(w, w.sorted(), "non-decreasing")
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

    /// Distribution alignment against a naive Double twin: q = mean softmax over non-padded pixels,
    /// p' ∝ p · prior / q; the same labels (off near-ties) and confidences.
    func testDistributionAlignmentMatchesItsNaiveTwin() {
        let (n, c, hw) = (4, 3, 30)
        let logits = Tensor.uniform([n, c, 5, 6], -3, 3, seed: 7)
        let padding: [UInt8] = (0..<(n * hw)).map { Random.uniform(seed: 8, counter: UInt64($0)) < 0.2 ? 255 : 0 }
        let prior = [0.6, 0.3, 0.1]
        var q = [Double](repeating: 0, count: c), count = 0.0
        func softmax(_ i: Int) -> [Double] {
            let img = i / hw, px = i % hw
            let x = (0..<c).map { Double(logits.data[(img * c + $0) * hw + px]) }
            let e = x.map { Foundation.exp($0 - x.max()!) }
            return e.map { $0 / e.reduce(0, +) }
        }
        for i in 0..<(n * hw) where padding[i] != 255 {
            let p = softmax(i)
            for k in 0..<c { q[k] += p[k] }
            count += 1
        }
        q = q.map { $0 / count }
        let (labels, conf) = CoTrainingStep.alignedArgmaxConfidence(logits, prior: prior, padding: padding, replicas: 2)
        for i in 0..<(n * hw) {
            let a = softmax(i).enumerated().map { $0.element * prior[$0.offset] / q[$0.offset] }
            let z = a.reduce(0, +)
            let sorted = a.sorted(by: >)
            XCTAssertEqual(Double(conf.data[i]), sorted[0] / z, accuracy: 1e-5, "pixel \(i)")
            if sorted[0] - sorted[1] > 1e-5 { XCTAssertEqual(Int(labels[i]), a.firstIndex(of: sorted[0])!, "pixel \(i)") }
        }
        // When the prior is the model's own mean probability, alignment changes nothing.
        let (same, sameConf) = CoTrainingStep.alignedArgmaxConfidence(logits, prior: q, padding: padding, replicas: 1)
        let (plain, plainConf) = argmaxConfidence(logits)
        XCTAssertEqual(same.array, plain.array)
        for i in 0..<(n * hw) { XCTAssertEqual(sameConf.data[i], plainConf.data[i], accuracy: 1e-5) }
    }

    /// A model drifting to background (object on 10 % of the pixels, where the labeled set has
    /// 50 %) gets more object pseudo-labels after alignment (40 %), and a class the labeled set lacks
    /// (prior 0) is never a pseudo-label, though the plain argmax gives it 10 %.
    func testDistributionAlignmentPullsTheClassMixTowardsThePrior() {
        let (n, hw) = (2, 50)
        let t = Tensor(zeros: [n, 3, 5, 10])
        for i in 0..<(n * hw) {
            let (img, px) = (i / hw, i % hw)
            let d = 0.05 + 0.95 * Float(i - 20) / 79   // background's margin over the object, 0.05 ... 1
            let x: [Float] = i < 10 ? [0, 2, 1] : i < 20 ? [0, 0, 2] : [2, 2 - d, 1]
            for k in 0..<3 { t.data[(img * 3 + k) * hw + px] = x[k] }
        }
        let padding = [UInt8](repeating: 0, count: n * hw)
        let (before, _) = argmaxConfidence(t)
        let (after, _) = CoTrainingStep.alignedArgmaxConfidence(t, prior: [0.5, 0.5, 0], padding: padding, replicas: 1)
        func fraction(_ l: LabelMap, _ k: UInt8) -> Double { Double(l.array.filter { $0 == k }.count) / Double(n * hw) }
        XCTAssertEqual(fraction(before, 1), 0.1, accuracy: 1e-9)
        XCTAssertEqual(fraction(before, 2), 0.1, accuracy: 1e-9)
        XCTAssertEqual(fraction(after, 1), 0.4, accuracy: 0.021, "q = (0.43, 0.32, 0.25): the object's weight 0.5 / 0.32 flips the pixels with the smallest margins")
        XCTAssertEqual(fraction(after, 2), 0)
    }
}
