// SyncBN over data-parallel replicas: statistics from per-replica Double partials combined in replica
// order must be the whole batch's statistics, and the input gradient the whole batch's.
import XCTest
import Autograd
import Tensor

final class SyncBatchNormTests: XCTestCase {
    override func tearDown() { Replicas.configure(total: 1, collective: nil) }

    func run(_ x: Tensor, cotangent: Tensor, replicas: Int) -> (y: [Float], dx: [Float], dgamma: [Float], mean: [Float], variance: [Float]) {
        Replicas.configure(total: replicas, collective: nil)
        defer { Replicas.configure(total: 1, collective: nil) }
        let c = x.shape[1]
        let gamma = Variable(Tensor.uniform([c], 0.5, 1.5, seed: 1), requiresGrad: true, perReplica: true)
        let beta = Variable(Tensor.uniform([c], -0.5, 0.5, seed: 2), requiresGrad: true, perReplica: true)
        let rm = Tensor(zeros: [c]), rv = Tensor(shape: [c], repeating: 1)
        let xv = Variable(x, requiresGrad: true)
        Tape.reset()
        let y = batchNorm2d(xv, weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true)
        backward(y, seed: cotangent)
        combineReplicaGradients([gamma.slot!, beta.slot!])
        return (y.value.array, xv.grad!.array, gamma.grad!.array, rm.array, rv.array)
    }

    func testStatisticsAndGradientsAreTheWholeBatchs() {
        let x = Tensor.uniform([8, 5, 3, 4], -2, 3, seed: 7), g = Tensor.uniform([8, 5, 3, 4], -1, 1, seed: 8)
        let whole = run(x, cotangent: g, replicas: 1)
        // The reference: whole-batch mean and biased variance in Double.
        let (n, c, hw) = (8, 5, 12)
        for ch in 0..<c {
            var s = 0.0, ss = 0.0
            for i in 0..<n { for t in 0..<hw { let v = Double(x.data[(i * c + ch) * hw + t]); s += v; ss += v * v } }
            let mean = s / Double(n * hw), variance = ss / Double(n * hw) - mean * mean
            XCTAssertEqual(Double(whole.mean[ch]), 0.1 * mean, accuracy: 1e-6)
            XCTAssertEqual(Double(whole.variance[ch]), 0.9 + 0.1 * variance * Double(n * hw) / Double(n * hw - 1), accuracy: 1e-5)
        }
        for replicas in [2, 4, 8] {
            let r = run(x, cotangent: g, replicas: replicas)
            for (a, b) in zip(r.mean + r.variance, whole.mean + whole.variance) { XCTAssertEqual(a, b, accuracy: 1e-6) }
            for (a, b) in zip(r.y, whole.y) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(replicas) replicas: output") }
            for (a, b) in zip(r.dx, whole.dx) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(replicas) replicas: input gradient") }
            for (a, b) in zip(r.dgamma, whole.dgamma) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(replicas) replicas: gamma gradient") }
        }
    }
}
