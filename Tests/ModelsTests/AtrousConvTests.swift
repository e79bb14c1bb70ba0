// The tap-skipping atrous conv against its naive twin, conv2d (im2col): forward, input and weight
// gradients on random shapes, including taps that fall wholly in the padding; and inference's
// dilation-phase F(4x4) path against conv2d.
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

    /// Each thread its own samples through every tap (Conv.sampleTasks): the bits of the whole batch's
    /// taps, forward (with and without packed taps), input gradient, and the weight gradient's taps as tasks, at 2 threads.
    func testSampleTasksKeepTheBits() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved); Conv.sampleTasks = true }
        Parallel.setThreads(2)
        for (n, c, o, h, w, d) in [(6, 5, 7, 6, 6, 2), (5, 16, 24, 4, 4, 4), (4, 3, 2, 9, 7, 3)] {
            let x = Tensor.normal([n, c, h, w], seed: 5), wt = Tensor.normal([o, c, 3, 3], seed: 6), g = Tensor.normal([n, o, h, w], seed: 7)
            let taps = Gemm.packA(stack: AtrousConv.packTaps(wt))
            func run(_ on: Bool) -> [[Float]] {
                Conv.sampleTasks = on
                XCTAssertEqual(Conv.sampleTaskCount(n) > 0, on && Gemm.native)
                return [AtrousConv.forward(x, wt, dilation: d, padding: d).array,
                        AtrousConv.forward(x, wt, dilation: d, padding: d, packedTaps: taps).array,
                        AtrousConv.backwardInput(g, wt, inputShape: x.shape, dilation: d, padding: d).array,
                        AtrousConv.backwardWeight(g, x, weightShape: wt.shape, dilation: d, padding: d).array]
            }
            let step = run(false), tasks = run(true)
            for i in 0..<4 {
                XCTAssertTrue(zip(step[i], tasks[i]).allSatisfy { $0.bitPattern == $1.bitPattern }, "n\(n) c\(c) o\(o) d\(d), output \(i): other bits")
            }
        }
    }

    /// The taps' gathers and adjoint adds in conv_cols.c's 16-float windows give the row loops' bits:
    /// 4 x 4 to 8 x 8 planes (windows clamped to a plane's end, one to four per tap), non-square
    /// planes, rows of 1-15 floats, planes under 16 floats (the row loops), 1-3 threads.
    func testTapsInCKeepTheBits() throws {
        try XCTSkipIf(VectorISA.level < 2, "no AVX-512 on this CPU")
        let saved = (Parallel.threads, AtrousConv.tapsInC)
        defer { Parallel.setThreads(saved.0); AtrousConv.tapsInC = saved.1 }
        for (i, (n, c, o, h, w, d)) in [(16, 8, 6, 4, 4, 2), (3, 5, 4, 6, 6, 2), (2, 9, 3, 6, 6, 4), (4, 3, 5, 5, 7, 2),
                                         (2, 4, 4, 8, 8, 3), (2, 3, 2, 3, 3, 2), (1, 17, 9, 4, 5, 3), (5, 2, 3, 16, 3, 2)].enumerated() {
            let x = Tensor.normal([n, c, h, w], seed: UInt64(20 + i)), wt = Tensor.normal([o, c, 3, 3], seed: UInt64(40 + i))
            let g = Tensor.normal([n, o, h, w], seed: UInt64(60 + i))
            for threads in [1, 2, 3] {
                Parallel.setThreads(threads)
                func run(_ on: Bool) -> [[UInt32]] {
                    AtrousConv.tapsInC = on
                    return [AtrousConv.forward(x, wt, dilation: d, padding: d).array.map(\.bitPattern),
                            AtrousConv.backwardInput(g, wt, inputShape: x.shape, dilation: d, padding: d).array.map(\.bitPattern),
                            AtrousConv.backwardWeight(g, x, weightShape: wt.shape, dilation: d, padding: d).array.map(\.bitPattern)]
                }
                XCTAssertEqual(run(true), run(false), "n\(n) c\(c) o\(o) \(h)x\(w) d\(d), \(threads) threads")
            }
        }
    }

    /// d x d phase subimages through F(4x4): odd sizes (phases of unequal size), dilations 2-4,
    /// several samples and batch groups, bias and ReLU; within F(4x4)'s tolerance, 1e-4 x sqrt(9 C).
    func testPhaseWinograd4MatchesConv2d() {
        let saved = (Conv.winograd4MinChannels, AtrousConv.phaseMinSide, Conv.winograd4MinTiles)
        defer { (Conv.winograd4MinChannels, AtrousConv.phaseMinSide, Conv.winograd4MinTiles) = saved; BatchGroups.count = 1 }
        (Conv.winograd4MinChannels, AtrousConv.phaseMinSide, Conv.winograd4MinTiles) = (8, 1, 1)
        for (idx, (n, c, o, h, w, d, groups)) in [(2, 8, 9, 21, 21, 2, 1), (1, 12, 8, 17, 10, 3, 1), (3, 9, 8, 9, 14, 4, 1),
                                                  (2, 8, 8, 21, 19, 2, 2), (4, 8, 10, 13, 40, 2, 2)].enumerated() {
            let x = Tensor.normal([n, c, h, w], seed: UInt64(idx)), wt = Tensor.normal([o, c, 3, 3], seed: UInt64(10 + idx))
            let b = Tensor.normal([o], seed: UInt64(20 + idx))
            let g = ConvGeometry(input: x.shape, weight: wt.shape, padding: d, dilation: d)
            BatchGroups.count = groups
            XCTAssertTrue(AtrousConv.usePhaseWinograd4(g))
            let u = Conv.winograd4Filter(wt.data, o: o, c: c)
            let ref = conv2d(Variable(x), Variable(wt), bias: Variable(b), padding: d, dilation: d).value
            let atol = 1e-4 * Float(9 * c).squareRoot()
            let what = "case \(idx): n\(n) c\(c) o\(o) \(h)x\(w) d\(d)"
            XCTAssertLessThan(AtrousConv.phaseWinograd4Forward(x, u, g, bias: b, relu: false).maxAbsDifference(ref), atol, what)
            let relu = Tensor(shape: ref.shape, values: ref.array.map { max($0, 0) })
            XCTAssertLessThan(AtrousConv.phaseWinograd4Forward(x, u, g, bias: b, relu: true).maxAbsDifference(relu), atol, what + " relu")
            if groups > 1 {          // a group's samples give the same bits alone as in the batch
                let one = ShapeKernel.slice(x, axis: 0, start: 0, length: n / groups)
                BatchGroups.count = 1
                let alone = AtrousConv.phaseWinograd4Forward(one, u, ConvGeometry(input: one.shape, weight: wt.shape, padding: d, dilation: d),
                                                             bias: b, relu: false)
                BatchGroups.count = groups
                let all = AtrousConv.phaseWinograd4Forward(x, u, g, bias: b, relu: false)
                XCTAssertEqual(Array(all.array.prefix(alone.count)).map(\.bitPattern), alone.array.map(\.bitPattern), what + " groups")
            }
        }
        BatchGroups.count = 1
        (Conv.winograd4MinChannels, AtrousConv.phaseMinSide, Conv.winograd4MinTiles) = saved
        // The defaults: ResNet-50's layer4 at crop 321 (21 x 21, dilation 2); not ASPP's rates there, nor the demo's maps;
        // 64 channels in inference, not inside a training step (Conv.insideTrainingStep: 128).
        for (shape, d, yes, step) in [([2, 512, 21, 21], 2, true, true), ([1, 512, 21, 21], 2, true, true), ([2, 2048, 21, 21], 6, false, false),
                                      ([8, 256, 6, 6], 2, false, false), ([2, 64, 41, 41], 2, true, false)] {
            let g = ConvGeometry(input: shape, weight: [256, shape[1], 3, 3], padding: d, dilation: d)
            XCTAssertEqual(AtrousConv.usePhaseWinograd4(g), yes, "\(shape) d\(d)")
            XCTAssertEqual(Conv.insideTrainingStep { AtrousConv.usePhaseWinograd4(g) }, step, "\(shape) d\(d) inside a step")
        }
    }
}
