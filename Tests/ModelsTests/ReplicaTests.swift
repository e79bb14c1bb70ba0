// Data-parallel replicas: a sample's forward value must not depend on which other samples share its
// batch (a rank holds only its replicas' rows), and per-replica gradients summed in replica order
// must not depend on how replicas are grouped into processes.
import Foundation
import XCTest
import Autograd
import Models
import NN
import Tensor

final class ReplicaTests: XCTestCase {
    static var demo: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("pipelines/configs/demo").path
    }

    /// A batch of 4 made of `groups` replicas (BatchGroups.count, as Replicas.configure sets it) gives
    /// each replica's rows the bits that replica gets alone in a one-replica process, for every demo
    /// architecture and both input domains (eval mode: no batch statistics).
    func testForwardOfAReplicaDoesNotDependOnItsBatch() throws {
        defer { BatchGroups.count = 1 }
        for name in ["cnn-rgb", "cnn-dct", "mit"] {
            let m = try Segmentor(config: try ModelConfig.load("\(Self.demo)/\(name).yaml"), seed: 3)
            m.train(false)
            let shape = m.domain == .dct ? [4, 64, 8, 8] : [4, 3, 32, 32]
            let x = Tensor.uniform(shape, -1, 1, seed: 5)
            for groups in [2, 4] {
                BatchGroups.count = groups
                let whole = withNoGrad { m(Variable(x), outputSize: (32, 32)).value }
                BatchGroups.count = 1
                let per = 4 / groups
                for r in 0..<groups {
                    let part = withNoGrad { m(Variable(ShapeKernel.slice(x, axis: 0, start: r * per, length: per)), outputSize: (32, 32)).value }
                    XCTAssertEqual(part.array, ShapeKernel.slice(whole, axis: 0, start: r * per, length: per).array,
                                   "\(name): replica \(r) of \(groups) in a batch of 4 vs alone")
                }
            }
        }
    }

    /// Autograd computes a conv weight gradient per replica (on that replica's rows), so its GEMM
    /// chunks must not follow how many replicas the process runs (BatchGroups.count): 1 rank with 4
    /// replicas and 4 ranks with 1 each must give a replica the same partial.
    func testConvWeightGradientOfAReplicaDoesNotDependOnBatchGroups() {
        let saved = (Conv.winogradMinTiles, Conv.winogradMinChannels)
        defer { BatchGroups.count = 1; (Conv.winogradMinTiles, Conv.winogradMinChannels) = saved }
        let x = Tensor.uniform([2, 16, 6, 6], seed: 1), dy = Tensor.uniform([2, 16, 6, 6], seed: 2)
        let g = ConvGeometry(input: x.shape, weight: [16, 16, 3, 3], padding: 1)
        for winograd in [false, true] {
            (Conv.winogradMinTiles, Conv.winogradMinChannels) = winograd ? (1, 16) : saved
            XCTAssertEqual(Conv.useWinograd(g), winograd)
            BatchGroups.count = 1
            let alone = Conv.backwardWeight(dy, x, g).array
            BatchGroups.count = 4
            XCTAssertEqual(Conv.backwardWeight(dy, x, g).array, alone, winograd ? "Winograd" : "im2col")
        }
    }

    func testBatchGroupRanges() {
        defer { BatchGroups.count = 1 }
        BatchGroups.count = 1
        XCTAssertEqual(BatchGroups.ranges(5), [0..<5])
        XCTAssertEqual(BatchGroups.ranges(5, limit: 2), [0..<2, 2..<4, 4..<5])
        BatchGroups.count = 2
        XCTAssertEqual(BatchGroups.ranges(6, limit: 2), [0..<2, 2..<3, 3..<5, 5..<6])
        XCTAssertEqual(BatchGroups.ranges(3), [0..<1, 1..<2, 2..<3])       // not whole groups: one sample at a time
        XCTAssertEqual(BatchGroups.ranges(0), [])
    }
}

final class ThreadCountTests: XCTestCase {
    /// One train-mode step of every demo model at its demo size (batch 8, crop 64): loss, logits and
    /// every parameter gradient bit-identical at 1 and 2 threads.
    func testDemoModelTrainStepIsBitIdenticalAcrossThreadCounts() throws {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for name in ["cnn-rgb", "cnn-dct", "mit"] {
            func step() throws -> [(String, [Float])] {
                let m = try Segmentor(config: try ModelConfig.load("\(ReplicaTests.demo)/\(name).yaml"), seed: 3)
                m.train(true)
                let x = Tensor.uniform(m.domain == .dct ? [8, 64, 16, 16] : [8, 3, 64, 64], -1, 1, seed: 5)
                let t = LabelMap(shape: [8, 64, 64])
                for i in 0..<t.count { t[i] = UInt8((i / 64 + i % 64) % 3) }
                let logits = m(Variable(x), outputSize: (64, 64))
                let loss = crossEntropy(logits, t)
                backward(loss)
                return [("loss", loss.value.array), ("logits", logits.value.array)]
                    + m.trainableParameters().map { ($0.0, $0.1.grad?.array ?? []) }
            }
            Parallel.setThreads(1)
            let one = try step()
            Parallel.setThreads(2)
            let two = try step()
            let differ = zip(one, two).filter { $0.1 != $1.1 }.map(\.0.0)
            XCTAssertEqual(differ, [], "\(name): differ between 1 and 2 threads")
        }
    }
}

final class VectorLevelTests: XCTestCase {
    override func tearDown() { VectorISA.cap(2) }

    /// The demo MiT on every vector-kernel level this CPU has (AVX-512, AVX2 + FMA, portable Swift):
    /// inference logits, train logits and every parameter gradient agree to float rounding, and at
    /// each level 1 and 2 threads give the same bits.
    func testDemoMiTOnEveryVectorLevel() throws {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        // Relative L2 error with an absolute floor: a gradient the head's batch norm cancels to ~0
        // (the last stage norm's bias) is rounding noise on every path.
        func rel(_ a: [Float], _ b: [Float]) -> Double {
            var num = 0.0, den = 0.0
            for i in 0..<a.count { num += Double(a[i] - b[i]) * Double(a[i] - b[i]); den += Double(b[i]) * Double(b[i]) }
            return num.squareRoot() / (den.squareRoot() + 1e-5)
        }
        func run() throws -> [(String, [Float])] {
            let m = try Segmentor(config: try ModelConfig.load("\(ReplicaTests.demo)/mit.yaml"), seed: 3)
            let x = Tensor.uniform([4, 3, 48, 48], -1, 1, seed: 5)
            let t = LabelMap(shape: [4, 48, 48])
            for i in 0..<t.count { t[i] = UInt8((i / 48 + i % 48) % 3) }
            m.eval()
            let inference = withNoGrad { m(Variable(x), outputSize: (48, 48)).value.array }
            m.train(true)
            let logits = m(Variable(x), outputSize: (48, 48))
            backward(crossEntropy(logits, t))
            return [("inference", inference), ("logits", logits.value.array)]
                + m.trainableParameters().map { ($0.0, $0.1.grad?.array ?? []) }
        }
        var reference: [(String, [Float])]? = nil
        for level in (0...VectorISA.supported).reversed() {
            VectorISA.cap(level)
            Parallel.setThreads(1)
            let one = try run()
            Parallel.setThreads(2)
            let two = try run()
            XCTAssertEqual(zip(one, two).filter { $0.1 != $1.1 }.map(\.0.0), [], "level \(level): 1 vs 2 threads")
            if let reference {
                for (a, b) in zip(two, reference) where !b.1.isEmpty {
                    XCTAssertLessThanOrEqual(rel(a.1, b.1), a.0 == "inference" || a.0 == "logits" ? 1e-5 : 1e-3,
                                             "level \(level) vs \(VectorISA.supported): \(a.0)")
                }
            } else { reference = two }
        }
    }
}

