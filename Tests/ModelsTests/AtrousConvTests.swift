// The tap-skipping atrous conv against its naive twin, conv2d (im2col): forward, input and weight
// gradients on random shapes, including taps that fall wholly in the padding.
import XCTest
import Tensor
import Autograd
import Models

final class AtrousConvTests: XCTestCase {
    func testMatchesConv2d() {
        for (n, c, o, h, w, d, k) in [(2, 5, 4, 7, 9, 3, 3), (1, 3, 2, 5, 5, 6, 3), (3, 4, 6, 11, 8, 4, 3), (2, 2, 3, 9, 9, 2, 5)] {
            let p = d * (k - 1) / 2
            let xv = Tensor.normal([n, c, h, w], seed: 1), wv = Tensor.normal([o, c, k, k], seed: 2)
            let cot = Tensor.normal([n, o, h, w], seed: 3)
            let x1 = Variable(xv, requiresGrad: true), w1 = Variable(wv, requiresGrad: true)
            let y1 = atrousConv2d(x1, w1, dilation: d, padding: p)
            backward(y1, seed: cot)
            let x2 = Variable(xv, requiresGrad: true), w2 = Variable(wv, requiresGrad: true)
            let y2 = conv2d(x2, w2, padding: p, dilation: d)
            backward(y2, seed: cot)
            let what = "n\(n) c\(c) o\(o) \(h)x\(w) d\(d) k\(k)"
            XCTAssertLessThan(y1.value.maxAbsDifference(y2.value), 1e-4, what)
            XCTAssertLessThan(x1.grad!.maxAbsDifference(x2.grad!), 1e-4, what)
            XCTAssertLessThan(w1.grad!.maxAbsDifference(w2.grad!), 1e-4, what)
        }
        XCTAssertEqual(AtrousConv.keptFraction(k: 3, h: 21, w: 21, dilation: 18, padding: 18), pow(1 + 2 * 3.0 / 21, 2) / 9, accuracy: 1e-12)
    }
}
