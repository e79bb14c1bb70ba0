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
}
