// MultiheadAttention's fused path (one k/v product, heads read in place, softmax between two GEMMs
// per query block) against its unfused composition: outputs, input and parameter gradients, and
// bit-identical results at 1 and 2 threads with several query blocks.
import XCTest
import Tensor
import Autograd
import NN

final class AttentionTests: XCTestCase {
    func relative(_ a: Tensor, _ b: Tensor) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<a.count { num += Double(a[i] - b[i]) * Double(a[i] - b[i]); den += Double(b[i]) * Double(b[i]) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    func run(_ attn: MultiheadAttention, _ q: Tensor, _ kv: Tensor, _ cot: Tensor, fused: Bool) -> [Tensor] {
        attn.zeroGrad()
        let qv = Variable(q, requiresGrad: true), kvv = Variable(kv, requiresGrad: true)
        let y = fused ? attn(query: qv, keyValue: kvv) : attn.composed(query: qv, keyValue: kvv)
        backward(y, seed: cot)
        return [y.value, qv.grad!, kvv.grad!] + attn.trainableParameters().map { $0.1.grad! }
    }

    func testFusedMatchesComposedAndThreadCounts() {
        let savedThreads = Parallel.threads, savedRows = (AttentionCore.blockRows, AttentionCore.backwardBlockRows)
        defer { Parallel.setThreads(savedThreads); (AttentionCore.blockRows, AttentionCore.backwardBlockRows) = savedRows }
        for (dim, heads, n, m) in [(8, 2, 37, 9), (12, 3, 20, 20), (16, 1, 70, 5)] {
            let attn = MultiheadAttention(dim: dim, heads: heads, seed: 3)
            let bias = Tensor.uniform([3 * dim], -0.5, 0.5, seed: 4)
            attn.inProjBias.value.data.update(from: bias.data, count: bias.count)
            let q = Tensor.uniform([2, n, dim], -2, 2, seed: 5), kv = Tensor.uniform([2, m, dim], -2, 2, seed: 6)
            let cot = Tensor.uniform([2, n, dim], seed: 7)
            (AttentionCore.blockRows, AttentionCore.backwardBlockRows) = (8, 5)
            let naive = run(attn, q, kv, cot, fused: false)
            let fused = run(attn, q, kv, cot, fused: true)
            for (i, (a, b)) in zip(fused, naive).enumerated() {
                XCTAssertLessThan(relative(a, b), 1e-5, "dim \(dim) heads \(heads): tensor \(i) fused vs composed")
            }
            let noGrad = withNoGrad { attn(query: Variable(q), keyValue: Variable(kv)).value }
            XCTAssertEqual(noGrad.array, fused[0].array, "inference path (scratch probabilities) = training forward")
            Parallel.setThreads(1)
            let one = run(attn, q, kv, cot, fused: true)
            Parallel.setThreads(2)
            let two = run(attn, q, kv, cot, fused: true)
            XCTAssertEqual(one.map { $0.array }, two.map { $0.array }, "1 vs 2 threads")
        }
    }

    /// Eval-mode inference with the projections folded into keys and values (one and two heads):
    /// close to the composition (with a residual, with and without biases), the same at 1 and 2
    /// threads and over several query blocks; not taken in train mode, where it would multiply more,
    /// under a recording tape or inside a training step (those keep the unfolded bits).
    func testFoldedInference() {
        let savedThreads = Parallel.threads, savedRows = AttentionCore.blockRows
        defer { Parallel.setThreads(savedThreads); AttentionCore.blockRows = savedRows }
        for (n, m, dim, heads, withBias) in [(70, 9, 16, 1, true), (37, 20, 24, 1, false), (300, 100, 64, 1, true),
                                             (90, 12, 32, 2, true), (41, 10, 40, 4, false)] {
            let attn = MultiheadAttention(dim: dim, heads: heads, seed: 11)
            if withBias {
                let b = Tensor.uniform([3 * dim], -0.5, 0.5, seed: 12), bo = Tensor.uniform([dim], -0.5, 0.5, seed: 13)
                attn.inProjBias.value.data.update(from: b.data, count: b.count)
                attn.outProj.bias!.value.data.update(from: bo.data, count: bo.count)
            }
            let q = Tensor.uniform([2, n, dim], -2, 2, seed: 14), kv = Tensor.uniform([2, m, dim], -2, 2, seed: 15)
            let res = Tensor.uniform([2, n, dim], seed: 16)
            AttentionCore.blockRows = 16
            let composed = withNoGrad { attn.composed(query: Variable(q), keyValue: Variable(kv)).value }
            let expected = Tensor(shape: composed.shape)
            for i in 0..<expected.count { expected.data[i] = composed.data[i] + res.data[i] }
            attn.eval()
            func folded() -> Tensor { withNoGrad { attn(query: Variable(q), keyValue: Variable(kv), residual: Variable(res)).value } }
            let what = "n \(n) m \(m) dim \(dim) heads \(heads) bias \(withBias)"
            XCTAssertTrue(withNoGrad { attn.foldsProjections(keys: m) }, what)
            XCTAssertFalse(attn.foldsProjections(keys: m), "while the tape records")
            let f = folded()
            XCTAssertLessThan(relative(f, expected), 1e-5, what)
            Parallel.setThreads(1)
            let one = folded()
            Parallel.setThreads(2)
            XCTAssertEqual(one.array, folded().array, "1 vs 2 threads, " + what)
            AttentionCore.blockRows = 1000
            XCTAssertLessThan(relative(folded(), expected), 1e-5, "one query block, " + what)
            XCTAssertFalse(Conv.insideTrainingStep { withNoGrad { attn.foldsProjections(keys: m) } }, "inside a training step")
            if heads > 1 { XCTAssertFalse(withNoGrad { attn.foldsProjections(keys: dim) }, "as many keys as channels: folding multiplies more") }
            attn.train()
            XCTAssertFalse(withNoGrad { attn.foldsProjections(keys: m) }, "train mode")
            let unfolded = withNoGrad { attn(query: Variable(q), keyValue: Variable(kv), residual: Variable(res)).value }
            XCTAssertNotEqual(unfolded.array, f.array, "the folded path should round differently somewhere")
            XCTAssertLessThan(relative(unfolded, expected), 1e-5)
        }
        let wide = MultiheadAttention(dim: 16, heads: 4, seed: 1)
        wide.eval()
        XCTAssertFalse(withNoGrad { wide.foldsProjections(keys: 9) }, "4 heads of 4 channels, 9 keys: 36 > 16 + 9")
    }
}
