// Mix-FFN in bands of rows (FeedForwardBands) against its three ops: the same bits for every band
// height, row-part count, thread count, SIMD level, with and without biases, residual and packed
// weights.
import XCTest
import Autograd
import Tensor

final class FeedForwardBandsTests: XCTestCase {
    struct Shapes { let n, h, w, c, hidden: Int }

    /// fc1 -> depthwise 3x3 + GELU -> fc2 (+ residual) as `MixFFN` runs them without bands.
    func threeOps(_ x: Tensor, _ s: Shapes, w1: Tensor, b1: Tensor?, dw: Tensor, db: Tensor?, w2: Tensor, b2: Tensor?,
                  residual: Tensor?) -> Tensor {
        withNoGrad {
            let h = linear(Variable(x), Variable(w1), bias: b1.map { Variable($0) })
            let y = depthwiseConv3x3GeluTokens(h, Variable(dw), bias: db.map { Variable($0) }, height: s.h, width: s.w)
            guard let residual else { return linear(y, Variable(w2), bias: b2.map { Variable($0) }).value }
            return linear(y, Variable(w2), bias: b2.map { Variable($0) }, adding: Variable(residual)).value
        }
    }

    func testBandsKeepTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "dcot's GEMM (AVX-512) is not on this CPU")
        let saved = (Gemm.native, Parallel.threads, FeedForwardBands.bandBytes, FeedForwardBands.partsPerThread, VectorISA.level)
        Gemm.setNative(true)
        defer {
            Gemm.setNative(saved.0); Parallel.setThreads(saved.1)
            (FeedForwardBands.bandBytes, FeedForwardBands.partsPerThread) = (saved.2, saved.3)
            VectorISA.cap(saved.4)
        }
        // 13 x 11 tokens: bands of 1, 2, 3 and 6 rows (the last ones shorter); 48 x 4 rows of 96 and
        // more tokens (the 12 x 32 tile) beside bands under 96 (the 8 x 48 one); hidden 40: tail lanes.
        for (si, s) in [Shapes(n: 2, h: 13, w: 11, c: 16, hidden: 64), Shapes(n: 1, h: 9, w: 7, c: 8, hidden: 40),
                        Shapes(n: 3, h: 48, w: 4, c: 32, hidden: 128)].enumerated() {
            let seed = UInt64(100 * si)
            let x = Tensor.uniform([s.n, s.h * s.w, s.c], -1, 1, seed: seed + 1)
            let w1 = Tensor.uniform([s.hidden, s.c], -0.5, 0.5, seed: seed + 2), b1 = Tensor.uniform([s.hidden], -0.2, 0.2, seed: seed + 3)
            let dw = Tensor.uniform([s.hidden, 1, 3, 3], -0.5, 0.5, seed: seed + 4), db = Tensor.uniform([s.hidden], -0.2, 0.2, seed: seed + 5)
            let w2 = Tensor.uniform([s.c, s.hidden], -0.3, 0.3, seed: seed + 6), b2 = Tensor.uniform([s.c], -0.2, 0.2, seed: seed + 7)
            let res = Tensor.uniform(x.shape, -1, 1, seed: seed + 8)
            let pack1: (Int) -> Gemm.PackedB? = { m in Gemm.packB(transB: true, m: m, n: s.hidden, k: s.c, b: w1.data, ldb: s.c) }
            let pack2: (Int) -> Gemm.PackedB? = { m in Gemm.packB(transB: true, m: m, n: s.c, k: s.hidden, b: w2.data, ldb: s.hidden) }
            let rowBytes = s.w * s.hidden * 4
            for level in [VectorISA.supported, 0] {
                VectorISA.cap(level)
                for (biases, residual, packed) in [(true, true, true), (false, false, false), (true, false, false), (false, true, true)] {
                    let expected = threeOps(x, s, w1: w1, b1: biases ? b1 : nil, dw: dw, db: biases ? db : nil, w2: w2,
                                            b2: biases ? b2 : nil, residual: residual ? res : nil)
                    for rows in [1, 2, 3, 6] {
                        FeedForwardBands.bandBytes = (2 * rows + 2) * rowBytes
                        XCTAssertTrue(FeedForwardBands.applies(hidden: s.hidden, channels: s.c, height: s.h, width: s.w) == (s.h >= 2 * rows))
                        for threads in [1, 2] {
                            for parts in [1, 3] {
                                Parallel.setThreads(threads)
                                FeedForwardBands.partsPerThread = parts
                                let y = FeedForwardBands.forward(x, height: s.h, width: s.w, w1: w1, b1: biases ? b1 : nil,
                                                                 packed1: packed ? pack1 : nil, dw: dw, dwBias: biases ? db : nil,
                                                                 w2: w2, b2: biases ? b2 : nil, packed2: packed ? pack2 : nil,
                                                                 residual: residual ? res : nil)
                                let same = (0..<y.count).allSatisfy { y[$0].bitPattern == expected[$0].bitPattern }
                                XCTAssertTrue(same, "shapes \(s), level \(level), biases \(biases), residual \(residual), packed \(packed), rows \(rows), threads \(threads), parts \(parts)")
                            }
                        }
                    }
                }
            }
            VectorISA.cap(saved.4)
        }
        // Not where the whole fc2 would be a dot-product one (16 tokens, K = 512), nor without
        // dcot's GEMM, nor switched off.
        FeedForwardBands.bandBytes = 6 * 17 * 512 * 4
        XCTAssertTrue(FeedForwardBands.applies(hidden: 512, channels: 128, height: 4, width: 17))
        FeedForwardBands.bandBytes = 6 * 4 * 512 * 4
        XCTAssertFalse(FeedForwardBands.applies(hidden: 512, channels: 128, height: 4, width: 4))
        FeedForwardBands.bandBytes = 4 * 11 * 64 * 4
        XCTAssertTrue(FeedForwardBands.applies(hidden: 64, channels: 16, height: 13, width: 11))
        Gemm.setNative(false)
        XCTAssertFalse(FeedForwardBands.applies(hidden: 64, channels: 16, height: 13, width: 11))
        Gemm.setNative(true)
        FeedForwardBands.enabled = false
        XCTAssertFalse(FeedForwardBands.applies(hidden: 64, channels: 16, height: 13, width: 11))
        FeedForwardBands.enabled = true
    }
}
