// Finite-difference checks of every differentiable op on tiny odd shapes with random cotangents.
import XCTest
import Tensor
import Autograd

final class GradientTests: XCTestCase {
    func u(_ shape: [Int], _ seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(shape, lo, hi, seed: seed) }

    func testConvStridePaddingDilationGroupsBias() {
        // (c, h, w, o, k, stride, pad, dil, groups)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (3, 5, 6, 2, 3, 1, 1, 1, 1), (4, 7, 5, 4, 3, 2, 1, 1, 2), (2, 7, 7, 3, 3, 1, 2, 2, 1),
            (3, 4, 5, 2, 1, 1, 0, 1, 1), (4, 5, 5, 2, 1, 2, 0, 1, 2),
        ]
        for (i, t) in cases.enumerated() {
            let (c, h, w, o, k, s, p, d, g) = t
            gradCheck([u([2, c, h, w], UInt64(i)), u([o, c / g, k, k], UInt64(i + 10)), u([o], UInt64(i + 20))]) { v in
                conv2d(v[0], v[1], bias: v[2], stride: s, padding: p, dilation: d, groups: g)
            }
        }
    }

    func testWinogradConv() {
        let saved = (Conv.winogradMinChannels, Conv.winogradMinTiles)
        (Conv.winogradMinChannels, Conv.winogradMinTiles) = (1, 1)
        defer { (Conv.winogradMinChannels, Conv.winogradMinTiles) = saved }
        for (i, p) in [0, 1, 2].enumerated() {
            gradCheck([u([2, 3, 5, 6], UInt64(i)), u([4, 3, 3, 3], UInt64(i + 10)), u([4], UInt64(i + 20))]) { v in
                conv2d(v[0], v[1], bias: v[2], padding: p)
            }
        }
    }

    /// The gradients of a conv on training's F(4x4) path (forward and input gradient by F(4x4), the
    /// weight gradient by F(2x2) or im2col).
    func testWinograd4TrainingConv() {
        let saved = (Conv.winograd4TrainingMinChannels, Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide,
                     Conv.winograd4Training)
        (Conv.winograd4TrainingMinChannels, Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide) = (1, 1, 1, 1)
        Conv.winograd4Training = true
        defer {
            (Conv.winograd4TrainingMinChannels, Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide,
             Conv.winograd4Training) = saved
        }
        for (i, p) in [0, 1, 2].enumerated() {
            XCTAssertTrue(Conv.useWinograd4Training(ConvGeometry(input: [2, 3, 5, 6], weight: [4, 3, 3, 3], padding: p)))
            gradCheck([u([2, 3, 5, 6], UInt64(i)), u([4, 3, 3, 3], UInt64(i + 10)), u([4], UInt64(i + 20))]) { v in
                conv2d(v[0], v[1], bias: v[2], padding: p)
            }
        }
    }

    func testDepthwiseConv3x3() {
        for (i, (s, p, d)) in [(1, 1, 1), (2, 1, 1), (1, 2, 2)].enumerated() {
            gradCheck([u([2, 3, 6, 7], UInt64(i)), u([3, 1, 3, 3], UInt64(i + 5)), u([3], UInt64(i + 9))]) { v in
                conv2d(v[0], v[1], bias: v[2], stride: s, padding: p, dilation: d, groups: 3)
            }
        }
    }

    func testBatchNormTrainAndEval() {
        let x = u([3, 2, 3, 5], 1, -2, 2), wt = u([2], 2, 0.5, 1.5), b = u([2], 3)
        gradCheck([x, wt, b], atol: 3e-3) { v in
            batchNorm2d(v[0], weight: v[1], bias: v[2], runningMean: Tensor(zeros: [2]), runningVar: Tensor(shape: [2], repeating: 1), training: true)
        }
        let rm = u([2], 4), rv = u([2], 5, 0.5, 2)
        gradCheck([x, wt, b]) { v in
            batchNorm2d(v[0], weight: v[1], bias: v[2], runningMean: rm, runningVar: rv, training: false)
        }
    }

    func testLayerNormLinearGelu() {
        gradCheck([u([2, 3, 7], 1, -2, 2), u([7], 2, 0.5, 1.5), u([7], 3)], atol: 3e-3) { v in
            layerNorm(v[0], weight: v[1], bias: v[2], eps: 1e-6)
        }
        gradCheck([u([2, 3, 5], 4), u([4, 5], 5), u([4], 6)]) { v in linear(v[0], v[1], bias: v[2]) }
        gradCheck([u([3, 5, 2], 7, -3, 3)]) { v in gelu(v[0]) }
        gradCheck([awayFromZero([3, 4, 5], seed: 8)]) { v in relu(v[0]) }
    }

    func testBroadcastAddMulSub() {
        let a = u([2, 3, 4, 5], 1)
        for (i, bs) in [[2, 3, 4, 5], [1, 3, 1, 1], [2, 1, 1, 1], [2, 3, 1, 1], [1, 1, 4, 5]].enumerated() {
            let b = u(bs, UInt64(10 + i))
            gradCheck([a, b]) { v in add(v[0], v[1]) }
            gradCheck([a, b]) { v in mul(v[0], v[1]) }
            gradCheck([b, a]) { v in mul(v[0], v[1]) }          // the broadcast operand first
            gradCheck([a, b]) { v in sub(v[0], v[1]) }
        }
        gradCheck([a]) { v in add(v[0], v[0]) }                  // a reused node
        gradCheck([a]) { v in mul(add(v[0], scale(v[0], 2)), v[0]) }
    }

    func testAddReluEqualsReluOfAdd() {
        // The residual blocks' fused op: values and both gradients bit for bit as relu(add(a, b)), with
        // exact zeros, -0 and a reused operand; and a finite-difference check away from the kink.
        let a = u([2, 3, 4, 5], 3), b = u([2, 3, 4, 5], 4)
        for i in stride(from: 0, to: a.count, by: 9) { b[i] = -a[i] }
        a[5] = -0.0; b[5] = 0
        for reuse in [false, true] {
            func run(_ f: (Variable, Variable) -> Variable) -> ([UInt32], [UInt32], [UInt32]) {
                let va = Variable(a.copy(), requiresGrad: true), vb = reuse ? va : Variable(b.copy(), requiresGrad: true)
                let y = f(va, vb)
                backward(sum(mul(y, Variable(u(a.shape, 7)))))
                return (y.value.array.map(\.bitPattern), va.grad!.array.map(\.bitPattern), vb.grad!.array.map(\.bitPattern))
            }
            let fused = run { addRelu($0, $1) }, plain = run { relu(add($0, $1)) }
            XCTAssertEqual(fused.0, plain.0, "values, reuse \(reuse)")
            XCTAssertEqual(fused.1, plain.1, "gradient of a, reuse \(reuse)")
            XCTAssertEqual(fused.2, plain.2, "gradient of b, reuse \(reuse)")
        }
        gradCheck([u([2, 3, 4], 5, 0.2, 1), u([2, 3, 4], 6, -1, 1)]) { v in addRelu(v[0], v[1]) }
        XCTAssertEqual(withNoGrad { addRelu(Variable(a), Variable(b)) }.value.array.map(\.bitPattern),
                       Elementwise.relu(Elementwise.binary(a, b, .add)).array.map(\.bitPattern))
    }

    func testShapeOps() {
        let a = u([2, 3, 4, 5], 1), b = u([2, 2, 4, 5], 2)
        gradCheck([a, b]) { v in concat([v[0], v[1], v[0]], axis: 1) }
        gradCheck([a]) { v in let p = split(v[0], sizes: [1, 2]); return mul(p[1], concat([p[0], p[0]])) }
        gradCheck([a]) { v in permute(v[0], [0, 2, 3, 1]) }
        gradCheck([u([2, 1, 3, 4], 5)]) { v in permute(v[0], [0, 2, 1, 3]) }     // only a size-1 axis moves: a view
        let p = permute(Variable(Tensor(shape: [2, 1, 3], values: [0, 1, 2, 3, 4, 5])), [1, 2, 0]).value
        XCTAssertEqual(p.shape, [1, 3, 2]); XCTAssertEqual(p.array, [0, 3, 1, 4, 2, 5])
        gradCheck([a]) { v in transpose(reshape(v[0], [6, 20]), 0, 1) }
        gradCheck([a]) { v in sum(v[0]) }
        gradCheck([a]) { v in mean(v[0]) }
        gradCheck([a]) { v in sum(v[0], to: [1, 3, 1, 1]) }
        gradCheck([a]) { v in mean(v[0], to: [2, 1, 4, 1]) }
    }

    func testPooling() {
        gradCheck([distinct([2, 3, 7, 6], seed: 1)]) { v in maxPool2d(v[0]) }
        gradCheck([distinct([1, 2, 8, 9], seed: 2)]) { v in maxPool2d(v[0], kernel: 2, stride: 2, padding: 0) }
        gradCheck([u([2, 3, 5, 4], 3)]) { v in globalAvgPool(v[0]) }
    }

    func testResize() {
        let x = u([2, 2, 5, 6], 1)
        for ac in [true, false] {
            for (h, w) in [(9, 11), (3, 4), (5, 6), (1, 1), (7, 3)] {
                gradCheck([x]) { v in resizeBilinear(v[0], height: h, width: w, alignCorners: ac) }
            }
        }
        gradCheck([x]) { v in resizeNearest(v[0], height: 8, width: 13) }
        gradCheck([x]) { v in resizeNearest(v[0], height: 3, width: 4) }
    }

    func testMatmulAndSoftmax() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = u(ta ? [2, 4, 3] : [2, 3, 4], 1), b = u(tb ? [2, 5, 4] : [2, 4, 5], 2)
                gradCheck([a, b]) { v in matmul(v[0], v[1], transA: ta, transB: tb) }
            }
        }
        gradCheck([u([2, 3, 6], 3, -2, 2)]) { v in softmax(v[0], axis: 2) }
        gradCheck([u([2, 4, 3, 5], 4, -2, 2)]) { v in softmax(v[0], axis: 1) }
        gradCheck([u([2, 4, 3, 5], 5, -2, 2)]) { v in logSoftmax(v[0], axis: 1) }
    }

    func labels(_ shape: [Int], classes: Int, seed: UInt64, ignoreEvery: Int = 5) -> LabelMap {
        let t = LabelMap(shape: shape)
        for i in 0..<t.count {
            t[i] = i % ignoreEvery == 3 ? 255 : UInt8(Random.bits(seed: seed, counter: UInt64(i)) % UInt64(classes))
        }
        return t
    }

    func testCrossEntropyIgnoreMaskNormaliser() {
        let t = labels([2, 3, 4], classes: 5, seed: 1)
        let w = Tensor.uniform([2, 3, 4], 0, 1, seed: 2)
        for i in stride(from: 0, to: w.count, by: 4) { w[i] = 0 }
        let x = u([2, 5, 3, 4], 3, -2, 2)
        gradCheck([x]) { v in crossEntropy(v[0], t) }
        gradCheck([x]) { v in crossEntropy(v[0], t, weight: w, normalizer: .count(17)) }
        gradCheck([x]) { v in crossEntropy(v[0], t, weight: w, normalizer: .validPixels) }
    }

    func testOhemCrossEntropy() {
        let t = labels([2, 4, 5], classes: 3, seed: 4, ignoreEvery: 7)
        let x = u([2, 3, 4, 5], 5, -2, 2)
        gradCheck([x], h: 1e-3, atol: 3e-3) { v in ohemCrossEntropy(v[0], t, threshold: 0.7, minKept: 10) }
        gradCheck([x], h: 1e-3, atol: 3e-3) { v in ohemCrossEntropy(v[0], t, threshold: 0.2, minKept: 5) }
    }

    func testDropouts() {
        let x = u([3, 4, 3, 2], 1)
        gradCheck([x]) { v in dropout(v[0], p: 0.3, seed: 9) }
        gradCheck([x]) { v in dropout2d(v[0], p: 0.5, seed: 10) }
        gradCheck([x]) { v in dropPath(v[0], p: 0.5, seed: 11) }
        // Dropout2d drops whole channels; DropPath whole samples, survivors scaled 1/(1-p).
        let y = dropout2d(Variable(Tensor(shape: [4, 8, 3, 3], repeating: 1)), p: 0.5, seed: 3).value
        for plane in 0..<32 {
            let vals = Set((0..<9).map { y[plane * 9 + $0] })
            XCTAssertTrue(vals == [0] || vals == [2], "channel \(plane): \(vals)")
        }
        let z = dropPath(Variable(Tensor(shape: [64, 2, 2], repeating: 1)), p: 0.25, seed: 4).value
        let kept = (0..<64).filter { z[$0 * 4] != 0 }
        XCTAssertTrue(kept.allSatisfy { s in (0..<4).allSatisfy { z[s * 4 + $0] == Float(1 / 0.75) } })
        XCTAssertTrue(kept.count > 32 && kept.count < 64)
    }

    /// The fused attention core with query blocks of 2 rows (several blocks per head, a short last one).
    func testFusedAttention() {
        let saved = (AttentionCore.blockRows, AttentionCore.backwardBlockRows)
        defer { (AttentionCore.blockRows, AttentionCore.backwardBlockRows) = saved }
        for rows in [2, 256] {
            (AttentionCore.blockRows, AttentionCore.backwardBlockRows) = (rows, rows == 2 ? 3 : rows)
            gradCheck([u([2, 5, 4], 1, -2, 2), u([2, 3, 8], 2, -2, 2)]) { v in
                attention(query: v[0], keyValue: v[1], heads: 2, scale: 0.7)
            }
        }
    }

    func testDepthwiseConvTokens() {
        for (h, w, c) in [(3, 4, 5), (1, 3, 2), (4, 1, 17)] {
            gradCheck([u([2, h * w, c], 1), u([c, 1, 3, 3], 2), u([c], 3)]) { v in
                depthwiseConv3x3Tokens(v[0], v[1], bias: v[2], height: h, width: w)
            }
            gradCheck([u([2, h * w, c], 4), u([c, 1, 3, 3], 5), u([c], 6)]) { v in
                depthwiseConv3x3GeluTokens(v[0], v[1], bias: v[2], height: h, width: w)
            }
            // The fused op is the two ops, bit for bit (values and gradients).
            let (x, wt, b, cot) = (u([2, h * w, c], 7), u([c, 1, 3, 3], 8), u([c], 9), u([2, h * w, c], 10))
            func grads(_ fused: Bool) -> [[Float]] {
                let v = [Variable(x, requiresGrad: true), Variable(wt, requiresGrad: true), Variable(b, requiresGrad: true)]
                let y = fused ? depthwiseConv3x3GeluTokens(v[0], v[1], bias: v[2], height: h, width: w)
                    : gelu(depthwiseConv3x3Tokens(v[0], v[1], bias: v[2], height: h, width: w))
                backward(y, seed: cot)
                return [y.value.array] + v.map { $0.grad!.array }
            }
            XCTAssertEqual(grads(true), grads(false), "fused conv + GELU vs the two ops, \(h)x\(w)x\(c)")
        }
    }

    /// Patches + linear = the kernel = stride conv on NCHW (values and all gradients), including
    /// maps whose size is not a multiple of the patch; and the finite-difference check.
    func testPatchTokensEqualStridedConv() {
        for (h, w, c, s) in [(5, 7, 3, 2), (8, 8, 4, 4), (9, 6, 2, 3)] {
            let x = u([2, h * w, c], 1), wt = u([5, c, s, s], 2), bias = u([5], 3)
            let cot = u([2, (h / s) * (w / s), 5], 4)
            let (xv, wv, bv) = (Variable(x, requiresGrad: true), Variable(wt, requiresGrad: true), Variable(bias, requiresGrad: true))
            let y = linear(patchTokens(xv, height: h, width: w, size: s), reshape(wv, [5, c * s * s]), bias: bv)
            backward(y, seed: cot)
            let (xr, wr, br) = (Variable(x, requiresGrad: true), Variable(wt, requiresGrad: true), Variable(bias, requiresGrad: true))
            let map = reshape(transpose(xr, 1, 2), [2, c, h, w])
            let conv = conv2d(map, wr, bias: br, stride: s)
            let ref = transpose(reshape(conv, [2, 5, (h / s) * (w / s)]), 1, 2)
            backward(ref, seed: cot)
            for (a, b, what) in [(y.value, ref.value, "y"), (xv.grad!, xr.grad!, "dx"), (wv.grad!, wr.grad!, "dw"), (bv.grad!, br.grad!, "db")] {
                XCTAssertEqual(a.shape.reduce(1, *), b.shape.reduce(1, *))
                for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * max(1, abs(b[i])), "\(what) \(h)x\(w) s \(s) [\(i)]") }
            }
            gradCheck([u([2, h * w, c], 5)]) { v in patchTokens(v[0], height: h, width: w, size: s) }
        }
    }
}
