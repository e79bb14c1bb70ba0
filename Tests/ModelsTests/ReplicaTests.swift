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

    /// Forward of 4 samples at once equals the forward of each 2-sample and 1-sample chunk, bit for bit
    /// (eval mode: no batch statistics), for every demo architecture and both input domains.
    func testForwardOfASampleDoesNotDependOnItsBatch() throws {
        for name in ["cnn-rgb", "cnn-dct", "mit"] {
            let m = try Segmentor(config: try ModelConfig.load("\(Self.demo)/\(name).yaml"), seed: 3)
            m.train(false)
            let shape = m.domain == .dct ? [4, 64, 8, 8] : [4, 3, 32, 32]
            let x = Tensor.uniform(shape, -1, 1, seed: 5)
            let whole = withNoGrad { m(Variable(x), outputSize: (32, 32)).value }
            for per in [2, 1] {
                for r in 0..<(4 / per) {
                    let part = withNoGrad { m(Variable(ShapeKernel.slice(x, axis: 0, start: r * per, length: per)), outputSize: (32, 32)).value }
                    XCTAssertEqual(part.array, ShapeKernel.slice(whole, axis: 0, start: r * per, length: per).array,
                                   "\(name): rows \(r * per)..<\(r * per + per) of a batch of 4 vs alone in a batch of \(per)")
                }
            }
        }
    }
}
