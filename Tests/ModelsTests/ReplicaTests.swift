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
