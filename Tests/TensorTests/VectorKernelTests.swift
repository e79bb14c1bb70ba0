// CNative's vector kernels (GELU, softmax rows) on every instruction set this CPU has (AVX-512,
// AVX2 + FMA, and the portable Swift path at level 0) against libm / Double naive twins, with tails
// that are not a multiple of the vector width, and split-independence (1 vs 2 threads).
import Foundation
import XCTest
import Tensor

final class VectorKernelTests: XCTestCase {
    override func tearDown() { VectorISA.cap(2) }

    /// Levels to test: every one the CPU supports, down to the portable path.
    var levels: [Int] { Array((0...VectorISA.supported).reversed()) }

    func testGeluMatchesLibmOnEveryPath() {
        print("vector ISA supported: \(VectorISA.supported)")
        let n = 4099
        let x = Tensor(shape: [n])
        for i in 0..<n { x[i] = Float(-8 + 16 * Double(i) / Double(n - 1)) }
        let g = Tensor.uniform([n], -2, 2, seed: 3)
        for level in levels {
            VectorISA.cap(level)
            XCTAssertEqual(VectorISA.level, level)
            let y = Elementwise.gelu(x), dx = Elementwise.geluBackward(g, input: x)
            var worstY = 0.0, worstD = 0.0
            for i in 0..<n {
                let v = Double(x[i])
                let cdf = 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot()))
                let pdf = Foundation.exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
                worstY = max(worstY, abs(Double(y[i]) - v * cdf) - 1e-6 * abs(v * cdf))
                let d = Double(g[i]) * (cdf + v * pdf)
                worstD = max(worstD, abs(Double(dx[i]) - d) - 1e-6 * abs(d))
            }
            XCTAssertLessThan(worstY, 2e-6, "GELU, level \(level)")
            XCTAssertLessThan(worstD, 2e-6, "GELU backward, level \(level)")
        }
    }

    func testSoftmaxRowsMatchDoubleOnEveryPath() {
        for cols in [1, 7, 16, 100, 121, 133] {
            let rows = 37
            let x = Tensor.uniform([rows, cols], -20, 20, seed: UInt64(cols))
            for level in levels {
                VectorISA.cap(level)
                let y = SoftmaxKernel.forward(x, axis: 1, log: false)
                var worst = 0.0
                for r in 0..<rows {
                    let row = (0..<cols).map { Double(x[r * cols + $0]) }
                    let m = row.max()!, z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
                    for j in 0..<cols { worst = max(worst, abs(Double(y[r * cols + j]) - Foundation.exp(row[j] - m) / z)) }
                }
                XCTAssertLessThan(worst, 1e-6, "softmax rows of \(cols), level \(level)")
            }
        }
    }

    func testVectorKernelsDoNotDependOnThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        let x = Tensor.uniform([3, 5, 1001], -4, 4, seed: 9), g = Tensor.uniform([3, 5, 1001], seed: 10)
        for level in levels {
            VectorISA.cap(level)
            func run() -> [[Float]] {
                [Elementwise.gelu(x).array, Elementwise.geluBackward(g, input: x).array,
                 SoftmaxKernel.forward(x, axis: 2, log: false).array]
            }
            Parallel.setThreads(1)
            let a = run()
            Parallel.setThreads(2)
            XCTAssertEqual(a, run(), "level \(level): 1 vs 2 threads")
        }
    }
}
