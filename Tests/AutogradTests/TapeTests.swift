// Tape behaviour: no-grad scope, deep graphs without recursion, gradient accumulation, release of
// activations after backward, argmax/confidence, and determinism run to run.
import XCTest
import Tensor
import Autograd

final class TapeTests: XCTestCase {
    func testNoGradRecordsNothing() {
        let x = Variable(Tensor.uniform([2, 3], seed: 1), requiresGrad: true)
        let y = withNoGrad { relu(scale(x, 2)) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertEqual(Tape.count, 0)
    }

    func testDeepChainAndAccumulation() {
        let x = Variable(Tensor(shape: [3], values: [1, 2, 3]), requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = add(y, scale(x, 0.0001)) }      // dy/dx = 1 + 20000*0.0001 = 3
        backward(sum(y))
        for i in 0..<3 { XCTAssertEqual(x.grad![i], 3, accuracy: 1e-3) }
        backward(sum(x))                                              // leaf gradients accumulate
        for i in 0..<3 { XCTAssertEqual(x.grad![i], 4, accuracy: 1e-3) }
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testActivationsReleasedAfterBackward() {
        let x = Variable(Tensor.uniform([4, 4], seed: 2), requiresGrad: true)
        weak var hidden: Tensor?
        var loss: Variable
        do {
            let h = relu(x)                     // relu's pullback captures its output
            hidden = h.value
            loss = sum(mul(h, h))
        }
        XCTAssertNotNil(hidden, "kept by the tape until backward")
        backward(loss)
        loss = Variable(Tensor(zeros: []))
        XCTAssertNil(hidden, "released once backward no longer needs it")
        XCTAssertEqual(Tape.count, 0)
    }

    func testArgmaxConfidence() {
        let x = Tensor(shape: [1, 3, 1, 2], values: [0, 5, 1, 1, 0.5, 5])   // pixel 1: tie, first wins
        let (labels, conf) = argmaxConfidence(x)
        XCTAssertEqual(labels.array, [1, 0])
        let e: (Float) -> Float = { Float(exp(Double($0))) }
        XCTAssertEqual(conf[0], e(1) / (e(0) + e(1) + e(0.5)), accuracy: 1e-6)
        XCTAssertEqual(conf[1], e(5) / (e(5) + e(1) + e(5)), accuracy: 1e-6)
    }

    func testBitIdenticalRunToRun() {
        func step() -> [[Float]] {
            let x = Variable(Tensor.uniform([2, 4, 9, 9], seed: 3), requiresGrad: true)
            let w = Variable(Tensor.uniform([6, 4, 3, 3], seed: 4), requiresGrad: true)
            let g = Variable(Tensor(shape: [6], repeating: 1), requiresGrad: true), b = Variable(Tensor(zeros: [6]), requiresGrad: true)
            let y = relu(batchNorm2d(conv2d(x, w, padding: 2, dilation: 2), weight: g, bias: b,
                                     runningMean: Tensor(zeros: [6]), runningVar: Tensor(shape: [6], repeating: 1), training: true))
            let t = LabelMap(shape: [2, 18, 18])
            let loss = crossEntropy(resizeBilinear(y, height: 18, width: 18, alignCorners: true), t)
            backward(loss)
            return [loss.value.array, x.grad!.array, w.grad!.array, g.grad!.array]
        }
        XCTAssertEqual(step(), step())
    }

    /// A small linear layer's gradients as one pool job at 2 threads (`LinearGradients.oneJobMaxMACs`)
    /// are the bits of 1 thread and of each product split on its own; so are its outputs, whose bias
    /// (and residual) rows each GEMM block writes before adding its product.
    func testSmallLinearGradientsInOneJobKeepTheBits() {
        let saved = (Parallel.threads, LinearGradients.oneJobMaxMACs)
        defer { Parallel.setThreads(saved.0); LinearGradients.oneJobMaxMACs = saved.1 }
        func step() -> [[Float]] {
            let x = Variable(Tensor.uniform([4, 300, 40], seed: 1), requiresGrad: true)
            let w = Variable(Tensor.uniform([72, 40], seed: 2), requiresGrad: true)
            let b = Variable(Tensor.uniform([72], seed: 3), requiresGrad: true)
            let r = Variable(Tensor.uniform([4, 300, 72], seed: 4), requiresGrad: true)
            let y = linear(x, w, bias: b), z = withNoGrad { linear(x, w, bias: b, adding: r) }
            backward(sum(mul(y, y)))
            return [y.value.array, z.value.array, x.grad!.array, w.grad!.array, b.grad!.array]
        }
        Parallel.setThreads(1)
        let one = step()
        Parallel.setThreads(2)
        LinearGradients.oneJobMaxMACs = 0
        XCTAssertEqual(step(), one, "2 threads, each product split on its own")
        LinearGradients.oneJobMaxMACs = 1e9
        XCTAssertEqual(step(), one, "2 threads, one job")
    }

    /// The same training step at 1 and 2 threads (our loops and GEMM blocks on our pool) gives
    /// bit-identical values and gradients: reductions use fixed blocks, GEMMs are cut by shape only;
    /// and so does OpenBLAS's own threading, which splits M/N, never K.
    func testBitIdenticalAcrossThreadCounts() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        func step() -> [[Float]] {
            let x = Variable(Tensor.uniform([2, 16, 33, 35], seed: 3), requiresGrad: true)
            let w = Variable(Tensor.uniform([64, 16, 3, 3], seed: 4), requiresGrad: true)
            let dw = Variable(Tensor.uniform([64, 1, 3, 3], seed: 5), requiresGrad: true)
            let w2 = Variable(Tensor.uniform([32, 64, 3, 3], seed: 6), requiresGrad: true)
            let g = Variable(Tensor(shape: [64], repeating: 1), requiresGrad: true), b = Variable(Tensor(zeros: [64]), requiresGrad: true)
            var y = relu(batchNorm2d(conv2d(x, w, stride: 2, padding: 1), weight: g, bias: b,
                                     runningMean: Tensor(zeros: [64]), runningVar: Tensor(shape: [64], repeating: 1), training: true))
            y = gelu(conv2d(y, dw, padding: 1, groups: 64))
            y = softmax(conv2d(y, w2, padding: 1), axis: 1)                  // Winograd (thresholds lowered below)
            let t = LabelMap(shape: [2, 17, 18])
            for i in 0..<t.count { t[i] = UInt8(i % 7 == 0 ? 255 : i % 5) }
            let logits = slice(resizeBilinear(y, height: 17, width: 18, alignCorners: false), axis: 1, start: 0, length: 5)
            let loss = crossEntropy(logits, t)
            backward(loss)
            return [loss.value.array, x.grad!.array, w.grad!.array, dw.grad!.array, g.grad!.array, w2.grad!.array]
        }
        let savedWinograd = (Conv.winogradMinTiles, Conv.winogradMinChannels)
        (Conv.winogradMinTiles, Conv.winogradMinChannels) = (1, 16)
        defer { (Conv.winogradMinTiles, Conv.winogradMinChannels) = savedWinograd }
        Parallel.setThreads(1)
        let one = step()
        Parallel.setThreads(2)
        XCTAssertEqual(one, step())
        Gemm.setSplitAcrossThreads(false)                // one OpenBLAS call on its own threads instead
        defer { Gemm.setSplitAcrossThreads(true) }
        XCTAssertEqual(one, step())
    }
}
