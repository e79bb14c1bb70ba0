import Foundation
import XCTest
import Autograd
import CoTraining
import Models
import NN
import Tensor

/// Mean Teacher and CutMix-Seg: the EMA update, the decay warm-up and the consistency term against
/// hand computations, then whole runs through the trainer (teacher evaluated, checkpointed, resumed).
final class TeacherStudentTests: XCTestCase {
    func testEMAUpdateIsTheWeightedSumOfEveryFloatTensor() {
        let teacher = BatchNorm2d(2), student = BatchNorm2d(2)
        let t: [Float] = [1, -2], s: [Float] = [3, 0.5]
        for (m, v) in [(teacher, t), (student, s)] {
            for p in [m.weight, m.bias, m.runningMean, m.runningVar] { for i in 0..<2 { p.value.data[i] = v[i] } }
        }
        teacher.numBatchesTracked.value.data[0] = 7
        student.numBatchesTracked.value.data[0] = 40
        CoTrainingStep.emaUpdate(teacher: teacher, student: student, decay: 0.9)
        for p in [teacher.weight, teacher.bias, teacher.runningMean, teacher.runningVar] {
            // 0.9 · 1 + 0.1 · 3 = 1.2 and 0.9 · (−2) + 0.1 · 0.5 = −1.75 (Float32, in this order).
            XCTAssertEqual(p.value.data[0], Float(1) * 0.9 + Float(3) * (1 - Float(0.9)))
            XCTAssertEqual(p.value.data[1], Float(-2) * 0.9 + Float(0.5) * (1 - Float(0.9)))
            XCTAssertEqual(Double(p.value.data[0]), 1.2, accuracy: 1e-6)
            XCTAssertEqual(Double(p.value.data[1]), -1.75, accuracy: 1e-6)
        }
        XCTAssertEqual(teacher.numBatchesTracked.value.data[0], 7, "the counter is not averaged")
        XCTAssertEqual(student.weight.value.data[0], 3, "the student is untouched")
    }

    func testDecayWarmsUpAsTarvainen() {
        XCTAssertEqual(CoTrainingStep.emaDecay(step: 1, decay: 0.99, warmup: true), 0.5)
        XCTAssertEqual(CoTrainingStep.emaDecay(step: 9, decay: 0.99, warmup: true), 0.9)
        XCTAssertEqual(CoTrainingStep.emaDecay(step: 99, decay: 0.99, warmup: true), 0.99)
        XCTAssertEqual(CoTrainingStep.emaDecay(step: 5000, decay: 0.99, warmup: true), 0.99)
        XCTAssertEqual(CoTrainingStep.emaDecay(step: 1, decay: 0.99, warmup: false), 0.99)
    }

    /// Two classes, student logits (0, ln 3) everywhere: p = (1/4, 3/4). Teacher probabilities per
    /// pixel: (1, 0), (1/2, 1/2), (0, 1), padding. Squared errors: 9/8, 1/8, 1/8; threshold 0.9 keeps
    /// 2 of the 3 non-padded pixels (confidence 1, 0.5, 1), so the term is (11/8)/3 · 2/3.
    func testConsistencyIsFrenchEtAlsSquaredErrorWithTheMeanConfidenceMask() {
        let logits = Tensor(zeros: [1, 2, 2, 2])
        for i in 0..<4 { logits.data[4 + i] = Float(log(3.0)) }
        let teacher = Tensor(shape: [1, 2, 2, 2], values: [1, 0.5, 0, 0.3, 0, 0.5, 1, 0.7])
        let confidence = Tensor(shape: [1, 2, 2], values: [1, 0.5, 1, 0.7])
        let ignore: [UInt8] = [0, 0, 0, 255]
        let v = CoTrainingStep.consistencyTerm(Variable(logits, requiresGrad: true), teacher: teacher, confidence: confidence,
                                               ignore: ignore, firstRow: 0, threshold: 0.9)
        XCTAssertEqual(Double(v.value.data[0]), (11.0 / 8) / 3 * (2.0 / 3), accuracy: 1e-6)
        let all = CoTrainingStep.consistencyTerm(Variable(logits, requiresGrad: true), teacher: teacher, confidence: confidence,
                                                 ignore: ignore, firstRow: 0, threshold: 0)
        XCTAssertEqual(Double(all.value.data[0]), (11.0 / 8) / 3, accuracy: 1e-6)
        // Its gradient reaches the student's logits and vanishes on the padded pixel.
        let x = Variable(logits, requiresGrad: true)
        backward(CoTrainingStep.consistencyTerm(x, teacher: teacher, confidence: confidence, ignore: ignore, firstRow: 0, threshold: 0))
        let g = x.grad!
        XCTAssertNotEqual(g.data[0], 0)
        XCTAssertEqual(g.data[3], 0)
        XCTAssertEqual(g.data[7], 0)
    }

    /// Both methods train through the trainer: the student learns, the teacher is evaluated and
    /// checkpointed as m2, and stopping half way then resuming equals the straight run byte for byte
    /// (teacher included).
    func testMeanTeacherAndCutMixSegRunAndResumeBitIdentically() throws {
        let f = TrainerFixture.shared
        for mode in [TrainMode.mt, .cutmix] {
            var straight = f.options(["cnn-rgb"], out: "\(mode.rawValue)-straight", iterations: 6)
            straight.mode = mode
            straight.saveEvery = 3
            straight.evalEvery = 3
            straight.threshold = 0.5
            let summary = try Trainer.run(straight)
            XCTAssertTrue(summary.contains("m2 resnet18 EMA teacher: best mIoU"), summary)
            let evals = try String(contentsOfFile: "\(f.dir)/\(mode.rawValue)-straight/metrics.jsonl", encoding: .utf8)
            XCTAssertTrue(evals.contains("\"model\": \"m2\""), evals)
            try f.assertResumeMatchesStraight(straight, stopAfter: 3, files: 2)
            let steps = try f.steps("\(mode.rawValue)-straight")
            XCTAssertEqual(steps.count, 6)
            XCTAssertTrue(steps.allSatisfy { (($0["loss"] as! [String: Any])["m1"] as! [String: Any])["unsup"] as! Double >= 0 })
        }
        // The teacher's state differs from the student's (it is an average, not a copy).
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/mt-straight/latest-m1.safetensors")),
                          try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/mt-straight/latest-m2.safetensors")))
        var two = f.options(["cnn-rgb", "cnn-dct"], out: "mt-two", iterations: 1)
        two.mode = .mt
        XCTAssertThrowsError(try Trainer.run(two)) { XCTAssertTrue("\($0)".contains("takes one --config"), "\($0)") }
    }

    /// CPS with EMA teachers: a 2-model run keeps a teacher per model (m3 of m1, m4 of m2), which
    /// are evaluated, saved and differ from their models; the unsupervised losses differ from plain
    /// CPS (the pseudo-labels come from the teachers); stopping half way and resuming equals the
    /// straight run byte for byte, teachers included; other modes refuse the flag.
    func testCPSWithEMATeachersRunsAndResumesBitIdentically() throws {
        let f = TrainerFixture.shared
        var straight = f.options(["cnn-rgb", "cnn-dct"], out: "emacps-straight", iterations: 6)
        straight.emaTeachers = true
        straight.saveEvery = 3
        straight.evalEvery = 3
        straight.threshold = 0.5
        let summary = try Trainer.run(straight)
        XCTAssertTrue(summary.contains("m3 resnet18 EMA teacher of m1: best mIoU"), summary)
        XCTAssertTrue(summary.contains("m4 resnet18_dct_64 EMA teacher of m2: best mIoU"), summary)
        var plain = straight
        plain.emaTeachers = false
        plain.out = "\(f.dir)/emacps-plain"
        _ = try Trainer.run(plain)
        XCTAssertNotEqual(try f.unsupervisedLosses("emacps-straight"), try f.unsupervisedLosses("emacps-plain"))
        try f.assertResumeMatchesStraight(straight, stopAfter: 3, files: 4)
        func bytes(_ run: String, _ k: Int) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/\(run)/latest-m\(k).safetensors")) }
        XCTAssertNotEqual(try bytes("emacps-straight", 1), try bytes("emacps-straight", 3))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(f.dir)/emacps-plain/latest-m3.safetensors"))
        var sup = f.options(["cnn-rgb"], out: "emacps-sup", iterations: 1)
        sup.emaTeachers = true
        XCTAssertThrowsError(try Trainer.run(sup)) { XCTAssertTrue("\($0)".contains("--ema-teachers"), "\($0)") }
    }

    /// The teachers' forwards run under the training step's F(4x4) rule (Conv.insideTrainingStep), not
    /// inference's: with inference's F(4x4) on every 3x3 conv and no evaluation, no folded conv takes
    /// F(4x4) during the runs (the teachers' are the only folded convs there), and the trained weights
    /// (models and teachers) keep their bits. Either check fails without Mean Teacher's scope; the
    /// first without CPS's (its argmax pseudo-labels rarely show such small differences in 3 steps).
    func testTeacherForwardsDoNotFollowInferenceSettings() throws {
        let f = TrainerFixture.shared
        let saved = (Conv.winograd4MinChannels, Conv.winograd4MinSide, Conv.winograd4MinTiles, Conv.winograd4StepMinChannels)
        defer { (Conv.winograd4MinChannels, Conv.winograd4MinSide, Conv.winograd4MinTiles, Conv.winograd4StepMinChannels) = saved }
        (Conv.winograd4MinSide, Conv.winograd4MinTiles, Conv.winograd4StepMinChannels) = (1, 1, 1 << 20)
        func run(_ name: String, inferenceMinChannels: Int) throws -> [Data] {
            Conv.winograd4MinChannels = inferenceMinChannels
            for mode in [TrainMode.cps, .mt] {
                var o = f.options(mode == .mt ? ["cnn-rgb"] : ["cnn-rgb", "cnn-dct"], out: "\(name)-\(mode.rawValue)", iterations: 3)
                o.mode = mode
                o.emaTeachers = mode == .cps
                o.threshold = 0                       // every pixel's teacher probabilities count from the first step
                o.val = nil                           // no evaluation: only the teachers could run a folded conv
                let before = foldedWinograd4Passes
                _ = try Trainer.run(o)
                XCTAssertEqual(foldedWinograd4Passes, before, "\(mode): a teacher forward ran inference's F(4x4) rule")
            }
            XCTAssertEqual(Conv.useWinograd4(ConvGeometry(input: [2, 8, 8, 8], weight: [8, 8, 3, 3], padding: 1)), inferenceMinChannels <= 8)
            return try ["cps": 4, "mt": 2].sorted { $0.key < $1.key }.flatMap { run, k in
                try (1...k).map { try Data(contentsOf: URL(fileURLWithPath: "\(f.dir)/\(name)-\(run)/latest-m\($0).safetensors")) }
            }
        }
        // 128: what training's own F(4x4) rule (at least 128 channels) needs to see, in both runs.
        XCTAssertEqual(try run("teacher-rule-128", inferenceMinChannels: 128), try run("teacher-rule-every-conv", inferenceMinChannels: 1))
    }
}
