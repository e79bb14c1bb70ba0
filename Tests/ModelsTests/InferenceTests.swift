// Inference (eval mode, no tape): BN folded into the convs, ReLU in the conv's output pass, max pool
// without indices. It must agree with the eval-mode forward that records a tape (the unfused ops) to
// float rounding, give the same bits at 1 and 2 threads and run to run, and see weight updates.
import Foundation
import XCTest
import Autograd
import Models
import NN
import Optim
import Tensor

final class InferenceTests: XCTestCase {
    func relativeL2(_ a: Tensor, _ b: Tensor) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<a.count { num += Double(a[i] - b[i]) * Double(a[i] - b[i]); den += Double(b[i]) * Double(b[i]) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    /// Random BN statistics and affine parameters, so folding is not the identity.
    func randomizeNorms(_ m: Segmentor) {
        for (i, (name, p)) in m.namedParameters().enumerated() where name.contains("bn") || name.contains("running") {
            guard p.kind != .int64Buffer, p.shape.count == 1 else { continue }
            let r = Tensor.uniform(p.shape, 0.5, 1.5, seed: UInt64(900 + i))
            p.value.data.update(from: r.data, count: r.count)
        }
        Parameter.valuesChanged()
    }

    /// MiT's linear weights packed once for inference give the bits of packing them in every
    /// product: stages with more and with fewer than 96 token rows (both register tiles).
    func testPackedLinearWeightsKeepTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = Gemm.native
        Gemm.setNative(true)
        defer { Gemm.setNative(saved); PackedLinearWeights.enabled = true }
        let m = try Segmentor(config: try ModelConfig.load("\(ReplicaTests.demo)/mit.yaml"), seed: 5)
        m.eval()
        let x = Tensor.uniform([2, 3, 48, 48], -1, 1, seed: 7)
        PackedLinearWeights.enabled = true
        let packed = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
        let again = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }      // the cached packs
        PackedLinearWeights.enabled = false
        let plain = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
        XCTAssertEqual(packed.array.map(\.bitPattern), plain.array.map(\.bitPattern), "packed weights: other bits")
        XCTAssertEqual(again.array.map(\.bitPattern), plain.array.map(\.bitPattern), "cached packed weights: other bits")
    }

    /// MiT's Mix-FFN in bands of rows (FeedForwardBands) gives the model's bits without them, at
    /// one and two threads (bands cut small enough for the demo mit's stages at crop 64).
    func testFeedForwardBandsKeepTheModelsBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = (Gemm.native, Parallel.threads, FeedForwardBands.bandBytes)
        Gemm.setNative(true)
        defer { Gemm.setNative(saved.0); Parallel.setThreads(saved.1); FeedForwardBands.bandBytes = saved.2; FeedForwardBands.enabled = true }
        let m = try Segmentor(config: try ModelConfig.load("\(ReplicaTests.demo)/mit.yaml"), seed: 5)
        m.eval()
        let x = Tensor.uniform([2, 3, 64, 64], -1, 1, seed: 7)
        FeedForwardBands.bandBytes = 6 * 16 * 128 * 4                    // stage 1 (16 x 16, hidden 128): bands of 2 rows
        XCTAssertTrue(FeedForwardBands.applies(hidden: 128, channels: 32, height: 16, width: 16))
        FeedForwardBands.enabled = false
        let plain = withNoGrad { m(Variable(x), outputSize: (64, 64)).value }
        FeedForwardBands.enabled = true
        for threads in [1, 2] {
            Parallel.setThreads(threads)
            let banded = withNoGrad { m(Variable(x), outputSize: (64, 64)).value }
            XCTAssertEqual(banded.array.map(\.bitPattern), plain.array.map(\.bitPattern), "Mix-FFN bands, \(threads) threads: other bits")
        }
    }

    func testFoldedInferenceMatchesUnfusedEvalForward() throws {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for name in ["cnn-rgb", "cnn-dct", "mit"] {
            let m = try Segmentor(config: try ModelConfig.load("\(ReplicaTests.demo)/\(name).yaml"), seed: 4)
            randomizeNorms(m)
            m.eval()
            let shape = m.domain == .dct ? [3, 64, 12, 12] : [3, 3, 48, 48]
            let x = Tensor.uniform(shape, -1, 1, seed: 6)
            let unfused = m(Variable(x), outputSize: (48, 48)).value       // the tape records: no folding
            Tape.reset()
            Parallel.setThreads(1)
            let one = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
            Parallel.setThreads(2)
            let two = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
            let again = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
            XCTAssertLessThanOrEqual(relativeL2(one, unfused), 1e-5, "\(name): folded vs unfused eval forward")
            XCTAssertEqual(one.array, two.array, "\(name): 1 vs 2 threads")
            XCTAssertEqual(two.array, again.array, "\(name): run to run (cached folded weights)")

            // A weight update (here an SGD step) must reach the next inference.
            m.train()
            let sgd = SGD([ParamGroup(m.trainableParameters(), lr: 0.01)], momentum: 0)
            let logits = m(Variable(x), outputSize: (48, 48))
            backward(scale(sum(logits), 1 / Float(logits.value.count)))
            sgd.step()
            m.eval()
            let updated = m(Variable(x), outputSize: (48, 48)).value
            Tape.reset()
            let after = withNoGrad { m(Variable(x), outputSize: (48, 48)).value }
            XCTAssertGreaterThan(relativeL2(after, two), 1e-4, "\(name): the step changed the outputs")
            XCTAssertLessThanOrEqual(relativeL2(after, updated), 1e-5, "\(name): folded weights refreshed after the step")
        }
    }
}
