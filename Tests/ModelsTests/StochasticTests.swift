// Drop path and Dropout2d (rates 0 in the parity fixtures): active only in training mode, a pure
// function of the seed, and the logits' output size follows the request (DCT pixel size).
import XCTest
import Tensor
import Autograd
import Models
import Optim
import NN

final class StochasticTests: XCTestCase {
    func model(dropPath: Double, dropout: Double) throws -> Segmentor {
        try Segmentor(config: try ModelConfig.parse("""
            backbone: mit-b0
            nclass: 3
            embed_dims: 4
            channels: 8
            drop_path_rate: \(dropPath)
            dropout_ratio: \(dropout)
            """), seed: 5)
    }

    func testDropPathAndDropoutFollowModeAndSeed() throws {
        let m = try model(dropPath: 0.5, dropout: 0.3)
        let x = Variable(Tensor.normal([2, 3, 32, 32], seed: 1))
        m.train()
        let a = withNoGrad { m(x, seed: 1).value }, b = withNoGrad { m(x, seed: 1).value }, c = withNoGrad { m(x, seed: 2).value }
        XCTAssertEqual(a.array, b.array)
        XCTAssertGreaterThan(a.maxAbsDifference(c), 1e-4)
        m.eval()
        let e1 = withNoGrad { m(x, seed: 1).value }, e2 = withNoGrad { m(x, seed: 2).value }
        XCTAssertEqual(e1.array, e2.array)
        XCTAssertEqual(e1.shape, [2, 3, 32, 32])
        XCTAssertEqual(withNoGrad { m(x, outputSize: (40, 36)) }.shape, [2, 3, 40, 36])
    }

    func testSGDMatchesTorchFormula() {
        // torch.optim.SGD(momentum 0.9, weight_decay 0.1): buf1 = g + wd p; p1 = p - lr buf1;
        // buf2 = 0.9 buf1 + g + wd p1; p2 = p1 - lr buf2.
        let p = Parameter("w", Tensor(shape: [1], values: [1]))
        let sgd = SGD([ParamGroup([("w", p)], lr: 0.5)], momentum: 0.9, weightDecay: 0.1)
        p.variable.slot!.accumulate(Tensor(shape: [1], values: [2]))
        sgd.step()
        XCTAssertEqual(p.value[0], 1 - 0.5 * 2.1, accuracy: 1e-6)
        let p1 = p.value[0], buf1: Float = 2.1
        sgd.step()                                   // same gradient (still accumulated)
        XCTAssertEqual(p.value[0], p1 - 0.5 * (0.9 * buf1 + 2 + 0.1 * p1), accuracy: 1e-6)
        XCTAssertEqual(sgd.state().map(\.0), ["momentum.w"])
        // AdamW: one step from a resumed state equals the uninterrupted second step.
        func adam() -> (Parameter, AdamW) {
            let q = Parameter("w", Tensor(shape: [2], values: [1, -2]))
            return (q, AdamW([ParamGroup([("w", q)], lr: 0.1)], weightDecay: 0.01))
        }
        let (q1, a1) = adam(), (q2, a2) = adam()
        for q in [q1, q2] { q.variable.slot!.accumulate(Tensor(shape: [2], values: [0.5, 3])) }
        a1.step(); a2.step()
        let saved = Dictionary(uniqueKeysWithValues: a1.state().map { ($0.0, $0.1.copy()) })
        a1.step()
        let (q3, a3) = adam()
        q3.value.data.update(from: q2.value.data, count: 2)
        q3.variable.slot!.accumulate(Tensor(shape: [2], values: [0.5, 3]))
        a3.loadState(saved)
        a3.step()
        XCTAssertEqual(q3.value.array, q1.value.array)
        // AdamW's 16-lane pass and its scalar tail (37 elements) against the update written out per
        // element, bit for bit, over three steps.
        let n = 37, g0 = Tensor.uniform([n], seed: 7), w0 = Tensor.uniform([n], seed: 8)
        let q = Parameter("w", w0.copy()), adamW = AdamW([ParamGroup([("w", q)], lr: 0.01)], weightDecay: 0.05)
        var (w, m, v) = (w0.array, [Float](repeating: 0, count: n), [Float](repeating: 0, count: n))
        for step in 1...3 {
            q.zeroGrad(); q.variable.slot!.accumulate(g0.copy())
            adamW.step()
            var (p1, p2) = (1.0, 1.0)                       // AdamW's bias corrections, as it forms them
            for _ in 0..<step { p1 *= Double(Float(0.9)); p2 *= Double(Float(0.999)) }
            let c1 = 1 - Float(p1), c2 = 1 - Float(p2)
            for i in 0..<n {
                let g = g0[i], lr: Float = 0.01, wd: Float = 0.05
                w[i] -= lr * wd * w[i]
                m[i] = 0.9 * m[i] + (1 - 0.9) * g
                v[i] = 0.999 * v[i] + (1 - 0.999) * g * g
                w[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-8)
            }
            XCTAssertEqual(q.value.array.map(\.bitPattern), w.map(\.bitPattern), "AdamW step \(step)")
        }
        let poly = PolySchedule(baseLR: 0.01, totalIterations: 100)
        XCTAssertEqual(poly.lr(at: 0), 0.01)
        XCTAssertEqual(poly.lr(at: 50), 0.01 * pow(0.5, 0.9), accuracy: 1e-12)
        XCTAssertEqual(poly.lr(at: 100), 0)
    }
}
