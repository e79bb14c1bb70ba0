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

    /// The vector kernels take rows four at a time (their reductions' latency chains side by side):
    /// a row's bits must be those it gets alone, for softmax and layer norm, on every level, in place
    /// too, with row counts that leave a remainder after the groups of four.
    func testRowGroupsKeepEachRowsBits() {
        for level in levels {
            VectorISA.cap(level)
            for (rows, d) in [(11, 100), (7, 64), (6, 33), (9, 7), (5, 320)] {
                let ld = d + 3
                let x = Tensor.uniform([rows * ld], -6, 6, seed: UInt64(d + rows))
                let together = Tensor(shape: [rows * ld]), alone = Tensor(shape: [rows * ld])
                SoftmaxKernel.rows(x.data, together.data, rows: rows, cols: d, ld: ld, scale: 0.7)
                for r in 0..<rows { SoftmaxKernel.rows(x.data + r * ld, alone.data + r * ld, rows: 1, cols: d, ld: ld, scale: 0.7) }
                let inPlace = Tensor(shape: [rows * ld])
                inPlace.data.update(from: x.data, count: x.count)
                SoftmaxKernel.rows(inPlace.data, inPlace.data, rows: rows, cols: d, ld: ld, scale: 0.7)
                for r in 0..<rows {
                    for j in 0..<d {
                        XCTAssertEqual(together[r * ld + j].bitPattern, alone[r * ld + j].bitPattern, "softmax \(rows)x\(d), level \(level)")
                        XCTAssertEqual(inPlace[r * ld + j].bitPattern, alone[r * ld + j].bitPattern, "softmax in place, level \(level)")
                    }
                }
                let xs = Tensor.uniform([rows, d], -3, 3, seed: UInt64(d)), gamma = Tensor.uniform([d], 0.5, 1.5, seed: 3)
                let beta = Tensor.uniform([d], seed: 4)
                let (y, mean, inv) = LayerNormKernel.forward(xs, gamma: gamma, beta: beta, eps: 1e-6)
                for r in 0..<rows {
                    let row = Tensor(shape: [1, d])
                    row.data.update(from: xs.data + r * d, count: d)
                    let (y1, m1, i1) = LayerNormKernel.forward(row, gamma: gamma, beta: beta, eps: 1e-6)
                    XCTAssertEqual(m1[0].bitPattern, mean[r].bitPattern, "layer norm mean \(rows)x\(d), level \(level)")
                    XCTAssertEqual(i1[0].bitPattern, inv[r].bitPattern, "layer norm invstd \(rows)x\(d), level \(level)")
                    for j in 0..<d { XCTAssertEqual(y1[j].bitPattern, y[r * d + j].bitPattern, "layer norm \(rows)x\(d), level \(level)") }
                }
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

final class DepthwiseTokensTests: XCTestCase {
    override func tearDown() { VectorISA.cap(2) }

    func close(_ a: Tensor, _ b: Tensor, _ tol: Float, _ what: String) {
        XCTAssertEqual(a.shape, b.shape, what)
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) - tol * abs(b[i])) }
        XCTAssertLessThan(worst, tol, what)
    }

    /// The channels-last kernels against the NCHW depthwise conv on transposed data, every ISA level,
    /// odd sizes and channel counts that are not a multiple of the vector width.
    func testMatchesNCHWDepthwiseOnEveryPath() {
        for (n, h, w, c) in [(2, 5, 7, 16), (1, 1, 4, 21), (2, 6, 1, 40), (3, 9, 8, 35), (1, 3, 3, 8)] {
            let x = Tensor.uniform([n, h * w, c], seed: UInt64(c)), wt = Tensor.uniform([c, 1, 3, 3], seed: 2)
            let b = Tensor.uniform([c], seed: 3), dy = Tensor.uniform([n, h * w, c], seed: 4)
            let toNCHW = { (t: Tensor) in ShapeKernel.permute(t, [0, 2, 1]).reshaped([n, c, h, w]) }
            let toTokens = { (t: Tensor) in ShapeKernel.permute(t.reshaped([n, c, h * w]), [0, 2, 1]) }
            let g = ConvGeometry(input: [n, c, h, w], weight: wt.shape, padding: 1, groups: c)
            let y0 = toTokens(Conv.forward(toNCHW(x), wt, bias: b, g))
            let dx0 = toTokens(Conv.backwardInput(toNCHW(dy), wt, g))
            let dw0 = Conv.backwardWeight(toNCHW(dy), toNCHW(x), g), db0 = Conv.backwardBias(toNCHW(dy))
            for level in (0...VectorISA.supported).reversed() {
                VectorISA.cap(level)
                let what = "n \(n) h \(h) w \(w) c \(c) level \(level)"
                close(DepthwiseTokens.forward(x, wt, bias: b, height: h, width: w), y0, 1e-5, "forward " + what)
                close(DepthwiseTokens.forward(x, wt, bias: b, height: h, width: w, gelu: true), Elementwise.gelu(y0), 1e-5, "gelu " + what)
                close(DepthwiseTokens.backwardInput(dy, wt, height: h, width: w), dx0, 1e-5, "dx " + what)
                let (dw, db) = DepthwiseTokens.backwardWeight(dy, x, height: h, width: w)
                close(dw, dw0, 1e-5, "dw " + what)
                close(db, db0, 1e-5, "db " + what)
            }
        }
    }

    func testDoesNotDependOnThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        let (n, h, w, c) = (2, 11, 13, 48)
        let x = Tensor.uniform([n, h * w, c], seed: 1), wt = Tensor.uniform([c, 1, 3, 3], seed: 2), dy = Tensor.uniform([n, h * w, c], seed: 4)
        for level in (0...VectorISA.supported).reversed() {
            VectorISA.cap(level)
            func run() -> [[Float]] {
                let (dw, db) = DepthwiseTokens.backwardWeight(dy, x, height: h, width: w)
                return [DepthwiseTokens.forward(x, wt, bias: nil, height: h, width: w, gelu: true).array,
                        DepthwiseTokens.backwardInput(dy, wt, height: h, width: w).array, dw.array, db.array]
            }
            Parallel.setThreads(1)
            let a = run()
            Parallel.setThreads(2)
            XCTAssertEqual(a, run(), "level \(level): 1 vs 2 threads")
        }
    }
}

final class LayerNormPathTests: XCTestCase {
    override func tearDown() { VectorISA.cap(2) }

    /// Forward and backward on every ISA level against a Double twin (row widths around the vector
    /// widths), and 1 vs 2 threads bit-identical on each level.
    func testLayerNormMatchesDoubleOnEveryPath() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for (rows, d) in [(70, 64), (5, 7), (131, 33), (9, 320)] {
            let x = Tensor.uniform([rows, d], -3, 3, seed: UInt64(d)), dy = Tensor.uniform([rows, d], seed: 2)
            let gamma = Tensor.uniform([d], 0.5, 1.5, seed: 3), beta = Tensor.uniform([d], seed: 4)
            var y0 = [Double](repeating: 0, count: rows * d), dx0 = y0, dg0 = [Double](repeating: 0, count: d), db0 = dg0
            for r in 0..<rows {
                let row = (0..<d).map { Double(x[r * d + $0]) }
                let mu = row.reduce(0, +) / Double(d)
                let iv = 1 / (row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(d) + 1e-6).squareRoot()
                let xh = row.map { ($0 - mu) * iv }
                var a = 0.0, c = 0.0
                for i in 0..<d {
                    y0[r * d + i] = xh[i] * Double(gamma[i]) + Double(beta[i])
                    let g = Double(dy[r * d + i]), dh = g * Double(gamma[i])
                    dg0[i] += g * xh[i]; db0[i] += g; a += dh; c += dh * xh[i]
                }
                for i in 0..<d { dx0[r * d + i] = iv * (Double(dy[r * d + i]) * Double(gamma[i]) - a / Double(d) - xh[i] * c / Double(d)) }
            }
            func worst(_ t: Tensor, _ ref: [Double]) -> Double {
                (0..<t.count).reduce(0.0) { max($0, abs(Double(t[$1]) - ref[$1]) - 1e-5 * abs(ref[$1])) }
            }
            for level in (0...VectorISA.supported).reversed() {
                VectorISA.cap(level)
                func run() -> [Tensor] {
                    let (y, mean, inv) = LayerNormKernel.forward(x, gamma: gamma, beta: beta, eps: 1e-6)
                    let (dx, dg, db) = LayerNormKernel.backward(dy, x, mean: mean, invstd: inv, gamma: gamma, needInput: true)
                    return [y, dx!, dg, db]
                }
                Parallel.setThreads(1)
                let one = run()
                let what = "rows \(rows) d \(d) level \(level)"
                XCTAssertLessThan(worst(one[0], y0), 2e-5, "forward " + what)
                XCTAssertLessThan(worst(one[1], dx0), 2e-5, "dx " + what)
                XCTAssertLessThan(worst(one[2], dg0), 1e-4, "dgamma " + what)
                XCTAssertLessThan(worst(one[3], db0), 1e-4, "dbeta " + what)
                Parallel.setThreads(2)
                XCTAssertEqual(one.map { $0.array }, run().map { $0.array }, "1 vs 2 threads " + what)
            }
        }
    }
}
