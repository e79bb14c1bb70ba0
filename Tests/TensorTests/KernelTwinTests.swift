// Fast kernels against their naive twins on random shapes, determinism, and the buffer pool.
import Foundation
import XCTest
import Tensor
import CNative

final class KernelTwinTests: XCTestCase {
    func close(_ a: Tensor, _ b: Tensor, atol: Float = 1e-4, rtol: Float = 1e-4, _ what: String,
               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        var worst: Float = 0, at = -1
        for i in 0..<a.count {
            let e = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
            if e > worst { worst = e; at = i }
        }
        XCTAssertTrue(at < 0, "\(what): element \(at) fast \(at >= 0 ? a[at] : 0) naive \(at >= 0 ? b[at] : 0)", file: file, line: line)
    }

    /// a and b bit for bit; a failure names how many elements differ and the first.
    func sameBits(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let differ = (0..<min(a.count, b.count)).filter { a[$0].bitPattern != b[$0].bitPattern }
        XCTAssertTrue(differ.isEmpty, "\(what): \(differ.count) of \(a.count) elements differ, the first at \(differ.first ?? -1)",
                      file: file, line: line)
    }

    func testConvMatchesNaiveOnRandomShapes() {
        // (n, c, h, w, o, k, stride, pad, dil, groups)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (2, 3, 7, 9, 4, 3, 1, 1, 1, 1), (1, 4, 11, 8, 6, 3, 2, 1, 1, 2), (2, 5, 9, 10, 3, 3, 1, 2, 2, 1),
            (1, 6, 8, 7, 6, 1, 1, 0, 1, 1), (2, 6, 9, 9, 4, 1, 2, 0, 1, 2), (1, 3, 12, 13, 5, 5, 3, 2, 1, 1),
            (2, 8, 10, 9, 8, 3, 1, 1, 1, 8), (1, 6, 13, 11, 6, 3, 2, 1, 1, 6), (2, 5, 12, 9, 5, 3, 1, 2, 2, 5),
            (1, 4, 6, 6, 8, 2, 2, 0, 1, 1), (1, 4, 9, 9, 4, 3, 1, 4, 3, 2),
            (2, 3, 5, 37, 3, 3, 1, 1, 1, 3), (1, 4, 20, 33, 4, 3, 1, 2, 2, 4), (1, 3, 9, 17, 3, 3, 1, 0, 1, 3),
            (1, 2, 8, 19, 2, 3, 1, 3, 2, 2), (1, 2, 9, 23, 2, 3, 2, 1, 1, 2),
            (2, 4, 9, 8, 6, 1, 2, 0, 1, 1), (1, 4, 10, 11, 3, 1, 3, 0, 1, 1), (1, 4, 7, 7, 4, 1, 2, 0, 1, 2),
            (3, 5, 8, 9, 7, 3, 2, 1, 1, 1), (3, 6, 7, 7, 5, 1, 1, 0, 1, 1), (3, 4, 9, 9, 6, 1, 2, 0, 1, 1),
        ]
        let saved = Conv.batchedColumns
        defer { Conv.batchedColumns = saved }
        // One GEMM per sample, all samples in one GEMM, and chunks of 2 (3 samples: a chunk of 2 and one alone).
        for (idx, t) in cases.enumerated() { for columns in [0, 1 << 20, 2] {
            let (n, c, h, w, o, k, s, p, d, g) = t
            let geo = ConvGeometry(input: [n, c, h, w], weight: [o, c / g, k, k], stride: s, padding: p, dilation: d, groups: g)
            Conv.batchedColumns = columns * geo.ho * geo.wo
            convCase(idx, t, "\(columns) samples per GEMM")
        } }
    }

    func convCase(_ idx: Int, _ t: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int), _ how: String) {
        let (n, c, h, w, o, k, s, p, d, g) = t
        let x = Tensor.uniform([n, c, h, w], seed: UInt64(idx))
        let wt = Tensor.uniform([o, c / g, k, k], seed: UInt64(100 + idx))
        let b = Tensor.uniform([o], seed: UInt64(200 + idx))
        let geo = ConvGeometry(input: x.shape, weight: wt.shape, stride: s, padding: p, dilation: d, groups: g)
        let y = Conv.forward(x, wt, bias: b, geo)
        let yN = ConvNaive.forward(x, wt, bias: b, geo)
        close(y, yN, "forward case \(idx), \(how)")
        let yr = Conv.forward(x, wt, bias: b, geo, relu: true)
        close(yr, Tensor(shape: yN.shape, values: yN.array.map { max($0, 0) }), "forward + relu case \(idx), \(how)")
        let dy = Tensor.uniform(geo.outShape, seed: UInt64(300 + idx))
        let (dxN, dwN) = ConvNaive.backward(dy, x, wt, geo)
        close(Conv.backwardInput(dy, wt, geo), dxN, "backward input case \(idx), \(how)")
        close(Conv.backwardWeight(dy, x, geo), dwN, atol: 3e-4, "backward weight case \(idx), \(how)")
    }

    func testMaxPoolPassesEqualNaive() {
        // (n, c, h, w, k, s, p); values on a coarse grid (ties), with -0/+0 and NaNs (two side by side).
        // Rows of 17-45 floats take the stem pool's 8-lane path (k 3, stride 2, padding 1), its overlapping
        // last block (w 32, 33, 40, 45: wo - 8 or (w - 16) / 2) and its scalar tail (w 17, 45).
        for (idx, t) in [(2, 3, 9, 11, 3, 2, 1), (1, 2, 8, 8, 2, 2, 0), (1, 3, 7, 10, 3, 1, 1), (2, 2, 13, 6, 5, 3, 2),
                         (2, 3, 7, 45, 3, 2, 1), (1, 2, 6, 40, 3, 2, 1), (1, 1, 3, 33, 3, 2, 1), (2, 3, 5, 32, 3, 2, 1),
                         (1, 2, 4, 17, 3, 2, 1), (1, 2, 5, 18, 3, 2, 1), (1, 1, 9, 161, 3, 2, 1)].enumerated() {
            let (n, c, h, w, k, s, p) = t
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(500 + idx))
            for i in 0..<x.count { x[i] = (x[i] * 3).rounded() }
            for i in stride(from: 0, to: x.count, by: 7) { x[i] = i % 2 == 0 ? 0 : -0.0 }
            x[x.count / 2] = .nan; x[x.count / 2 + 1] = .nan; x[x.count / 3] = .nan
            let (y, i) = PoolKernel.maxPoolNaive(x, kernel: k, stride: s, padding: p)
            let (yf, iF) = PoolKernel.maxPool(x, kernel: k, stride: s, padding: p)
            let v = PoolKernel.maxPoolValues(x, kernel: k, stride: s, padding: p)
            XCTAssertEqual(y.shape, v.shape)
            XCTAssertEqual(y.array.map(\.bitPattern), v.array.map(\.bitPattern), "max pool values case \(idx)")
            XCTAssertEqual(y.array.map(\.bitPattern), yf.array.map(\.bitPattern), "max pool case \(idx)")
            XCTAssertEqual(i, iF, "max pool indices case \(idx)")
        }
    }

    func testWinogradMatchesNaive() {
        // (n, c, h, w, o, pad): odd sizes, partial edge tiles, paddings 0..2.
        let saved = (Conv.winogradMinTiles, Conv.winogradMaxBytes, Conv.winogradMinChannels)
        (Conv.winogradMinTiles, Conv.winogradMinChannels) = (1, 16)
        defer { (Conv.winogradMinTiles, Conv.winogradMaxBytes, Conv.winogradMinChannels) = saved }
        // Rows of 18-41 take the forward transforms' eight-tile path beside the one-tile edges; it must
        // give the one-tile path's bits, forward and (the same transforms on dy) backward input.
        let cases = [(2, 16, 7, 9, 17, 1), (1, 19, 10, 5, 16, 0), (2, 16, 6, 11, 18, 2), (1, 20, 3, 3, 16, 1), (1, 16, 1, 4, 16, 2),
                     (1, 16, 5, 41, 16, 1), (2, 17, 4, 18, 16, 0), (1, 16, 6, 33, 17, 2)]
        for (idx, (n, c, h, w, o, p)) in cases.enumerated() {
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(idx)), wt = Tensor.uniform([o, c, 3, 3], seed: UInt64(50 + idx))
            let geo = ConvGeometry(input: x.shape, weight: wt.shape, padding: p)
            XCTAssertTrue(Conv.useWinograd(geo))
            let dyBits = Tensor.uniform(geo.outShape, seed: UInt64(190 + idx))
            let eight = (Conv.forward(x, wt, bias: nil, geo), Conv.backwardInput(dyBits, wt, geo))
            Conv.winogradTileLanes = false
            let one = (Conv.forward(x, wt, bias: nil, geo), Conv.backwardInput(dyBits, wt, geo))
            Conv.winogradTileLanes = true
            XCTAssertEqual(eight.0.array.map(\.bitPattern), one.0.array.map(\.bitPattern), "F(2x2) tile lanes forward, case \(idx)")
            XCTAssertEqual(eight.1.array.map(\.bitPattern), one.1.array.map(\.bitPattern), "F(2x2) tile lanes backward input, case \(idx)")
            close(Conv.forward(x, wt, bias: nil, geo), ConvNaive.forward(x, wt, bias: nil, geo), atol: 2e-4, "winograd forward \(idx)")
            let dy = Tensor.uniform(geo.outShape, seed: UInt64(90 + idx))
            let (dxN, dwN) = ConvNaive.backward(dy, x, wt, geo)
            close(Conv.backwardInput(dy, wt, geo), dxN, atol: 2e-4, "winograd backward input \(idx)")
            close(Conv.backwardWeight(dy, x, geo), dwN, atol: 5e-4, "winograd backward weight \(idx)")
            Conv.winogradMaxBytes = 1                                     // one sample per chunk
            close(Conv.forward(x, wt, bias: nil, geo), ConvNaive.forward(x, wt, bias: nil, geo), atol: 2e-4, "chunked forward \(idx)")
            close(Conv.backwardInput(dy, wt, geo), dxN, atol: 2e-4, "chunked backward input \(idx)")
            close(Conv.backwardWeight(dy, x, geo), dwN, atol: 5e-4, "chunked backward weight \(idx)")
            Conv.winogradMaxBytes = saved.1
        }
        (Conv.winogradMinTiles, Conv.winogradMinChannels) = (saved.0, saved.2)
        // The defaults: many tiles (the decoder at crop 321) or a large map (R50's layer2 at crop 321,
        // any batch); not layer3's 21 x 21 at batch 2 nor the demo models' maps.
        for (shape, o, yes) in [([2, 304, 81, 81], 256, true), ([2, 128, 41, 41], 128, true), ([1, 128, 41, 41], 128, true),
                                ([2, 256, 21, 21], 256, false), ([16, 64, 12, 12], 64, false), ([2, 32, 161, 161], 32, false)] {
            XCTAssertEqual(Conv.useWinograd(ConvGeometry(input: shape, weight: [o, shape[1], 3, 3], padding: 1)), yes, "\(shape)")
        }
    }

    /// Winograd F(4x4, 3x3) (inference) against the naive twin: odd sizes, partial edge tiles,
    /// paddings 0-2, bias and ReLU, one sample per chunk, within 1e-4 x sqrt(9 C) (Winograd4.swift's
    /// error study: 3.1e-5 x sqrt(9 C) at most over 200 tiles of 256 channels).
    func testWinograd4MatchesNaive() {
        let saved = (Conv.winograd4MinTiles, Conv.winograd4MaxBytes, Conv.winograd4MinChannels, Conv.winograd4MinSide)
        (Conv.winograd4MinTiles, Conv.winograd4MinChannels, Conv.winograd4MinSide) = (1, 16, 1)
        defer { (Conv.winograd4MinTiles, Conv.winograd4MaxBytes, Conv.winograd4MinChannels, Conv.winograd4MinSide) = saved }
        // The Swift transforms (the C ones, where they run, are compared with these bit for bit in
        // testWinograd4PackedPathKeepsTheBits).
        let savedPacked = Conv.winograd4Packed
        Conv.winograd4Packed = false
        defer { Conv.winograd4Packed = savedPacked }
        // Rows of 34-81 take the transforms' eight-tile path beside the one-tile edges (bit for bit).
        let cases = [(2, 16, 7, 9, 17, 1), (1, 19, 10, 5, 16, 0), (3, 16, 6, 11, 18, 2), (1, 20, 3, 3, 16, 1),
                     (1, 16, 1, 4, 16, 2), (2, 64, 13, 12, 32, 1), (1, 16, 6, 45, 16, 1), (2, 16, 9, 34, 17, 0),
                     (1, 16, 5, 81, 16, 1), (1, 17, 7, 70, 16, 2), (1, 17, 6, 9, 17, 1)]   // the last: O x C = 289, a filter tail
        for (idx, (n, c, h, w, o, p)) in cases.enumerated() {
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(idx)), wt = Tensor.uniform([o, c, 3, 3], seed: UInt64(50 + idx))
            let b = Tensor.uniform([o], seed: UInt64(70 + idx))
            let geo = ConvGeometry(input: x.shape, weight: wt.shape, padding: p)
            XCTAssertTrue(Conv.useWinograd4(geo))
            let u = Conv.winograd4Filter(wt.data, o: o, c: c)
            let naive = ConvNaive.forward(x, wt, bias: b, geo)
            let atol = 1e-4 * Float(9 * c).squareRoot()
            for bytes in [saved.1, 1] {
                Conv.winograd4MaxBytes = bytes
                close(Conv.winograd4Forward(x, u, geo, bias: b, relu: false), naive, atol: atol, rtol: 0, "F(4x4) case \(idx), \(bytes) bytes")
                close(Conv.winograd4Forward(x, u, geo, bias: b, relu: true), Tensor(shape: naive.shape, values: naive.array.map { max($0, 0) }),
                      atol: atol, rtol: 0, "F(4x4) + relu case \(idx), \(bytes) bytes")
                for relu in [false, true] {
                    let eight = Conv.winograd4Forward(x, u, geo, bias: b, relu: relu)
                    Conv.winograd4TileLanes = false
                    let one = Conv.winograd4Forward(x, u, geo, bias: b, relu: relu)
                    Conv.winograd4TileLanes = true
                    XCTAssertEqual(eight.array.map(\.bitPattern), one.array.map(\.bitPattern), "F(4x4) tile lanes, case \(idx), relu \(relu)")
                }
            }
        }
        (Conv.winograd4MinTiles, Conv.winograd4MinChannels, Conv.winograd4MinSide) = (saved.0, saved.2, saved.3)
        // The defaults: R50's layer1, layer2, layer3 and decoder convs at crop 321 (batch 1 or 2) and the
        // demo models' 32-88-channel convs on maps of 16 x 16 and more; not the small maps (under
        // 16 x 16) nor 16 channels on 16 x 16. Inside a training step (the teachers' forwards) the
        // rule of 128 channels: the demo models' convs stay off it there.
        let geometries: [([Int], Int, Bool, Bool)] = [   // shape, O, inference, inside a step
            ([2, 304, 81, 81], 256, true, true), ([2, 256, 21, 21], 256, true, true), ([1, 256, 21, 21], 256, true, true),
            ([2, 128, 41, 41], 128, true, true), ([16, 128, 6, 6], 128, false, false), ([8, 256, 12, 12], 256, false, false),
            ([2, 64, 81, 81], 64, true, true), ([8, 88, 24, 24], 64, true, false), ([8, 64, 28, 28], 64, true, false),
            ([16, 32, 16, 16], 32, true, false), ([2, 32, 161, 161], 32, true, false), ([16, 64, 8, 8], 64, false, false),
            ([4, 16, 16, 16], 16, false, false)]
        for (shape, o, inference, step) in geometries {
            let g = ConvGeometry(input: shape, weight: [o, shape[1], 3, 3], padding: 1)
            XCTAssertEqual(Conv.useWinograd4(g), inference, "\(shape)")
            XCTAssertEqual(Conv.insideTrainingStep { Conv.useWinograd4(g) }, step, "\(shape) inside a step")
        }
        XCTAssertFalse(Conv.insideTrainingStep { _ = Conv.insideTrainingStep { 0 }; return Conv.useWinograd4(
            ConvGeometry(input: [8, 88, 24, 24], weight: [64, 88, 3, 3], padding: 1)) }, "nested scopes restore the step rule")
    }

    /// The AVX-512 filter transform (winograd4.c) gives the Swift loop's bits: filter counts off and on
    /// multiples of 8 and 16, ranges cut anywhere by the thread split, signed zeros and large values.
    func testWinograd4FilterInCKeepsTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = Conv.winograd4FilterInC
        defer { Conv.winograd4FilterInC = saved }
        for (i, (o, c)) in [(1, 1), (3, 5), (16, 1), (17, 1), (8, 2), (17, 17), (128, 128), (257, 3)].enumerated() {
            var w = Tensor.uniform([o, c, 3, 3], seed: UInt64(400 + i)).array
            if w.count > 9 { w[0] = -0.0; w[4] = 0; w[7] = 3e30; w[9] = -1e-30 }
            let wt = Tensor(shape: [o, c, 3, 3], values: w)
            Conv.winograd4FilterInC = false
            let swift = Conv.winograd4Filter(wt.data, o: o, c: c)
            Conv.winograd4FilterInC = true
            let fast = Conv.winograd4Filter(wt.data, o: o, c: c)
            sameBits(fast.array, swift.array, "F(4x4) filter transform \(o) x \(c)")
        }
    }

    /// Training's F(4x4) (forward and input gradient of large convs) against the naive twin within
    /// F(4x4)'s bound (1e-4 x sqrt(9 C)), the gate on channels and map size, and the switch that
    /// keeps training on F(2x2) / im2col.
    func testWinograd4TrainingMatchesNaive() {
        let saved = (Conv.winograd4TrainingMinChannels, Conv.winograd4Training, Conv.winograd4MinChannels, Conv.winograd4MinSide,
                     Conv.winograd4MinTiles)
        defer {
            (Conv.winograd4TrainingMinChannels, Conv.winograd4Training, Conv.winograd4MinChannels, Conv.winograd4MinSide,
             Conv.winograd4MinTiles) = saved
        }
        Conv.winograd4TrainingMinChannels = 128
        Conv.winograd4Training = true
        // R50's layer3 at batch 2 (21 x 21, 256 channels; im2col before), a decoder-like 304 -> 256 map;
        // off it: R50's layer1 and an 88 -> 64 conv on 32 x 32 maps (F(2x2) runs them), 8 x 8 maps.
        let big = ConvGeometry(input: [2, 256, 21, 21], weight: [256, 256, 3, 3], padding: 1)
        XCTAssertTrue(Conv.useWinograd4Training(big))
        XCTAssertTrue(Conv.useWinograd4Training(ConvGeometry(input: [1, 304, 81, 81], weight: [256, 304, 3, 3], padding: 1)))
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [2, 64, 81, 81], weight: [64, 64, 3, 3], padding: 1)))
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [8, 128, 8, 8], weight: [128, 128, 3, 3], padding: 1)))
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [8, 88, 32, 32], weight: [64, 88, 3, 3], padding: 1)))
        (Conv.winograd4TrainingMinChannels, Conv.winograd4MinChannels, Conv.winograd4MinSide, Conv.winograd4MinTiles) = (16, 16, 1, 1)
        for (idx, (n, c, h, w, o, p)) in [(2, 24, 21, 21, 20, 1), (1, 16, 17, 19, 32, 0), (2, 20, 18, 16, 16, 2)].enumerated() {
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(500 + idx)), wt = Tensor.uniform([o, c, 3, 3], seed: UInt64(510 + idx))
            let geo = ConvGeometry(input: x.shape, weight: wt.shape, padding: p)
            XCTAssertTrue(Conv.useWinograd4Training(geo), "case \(idx)")
            let dy = Tensor.uniform(geo.outShape, seed: UInt64(520 + idx))
            let (dxN, _) = ConvNaive.backward(dy, x, wt, geo)
            let f4 = (Conv.forward(x, wt, bias: nil, geo), Conv.backwardInput(dy, wt, geo))
            close(f4.0, ConvNaive.forward(x, wt, bias: nil, geo), atol: 1e-4 * Float(9 * c).squareRoot(), rtol: 0, "F(4x4) training forward \(idx)")
            close(f4.1, dxN, atol: 1e-4 * Float(9 * o).squareRoot(), rtol: 0, "F(4x4) training input gradient \(idx)")
            Conv.winograd4Training = false
            let off = (Conv.forward(x, wt, bias: nil, geo), Conv.backwardInput(dy, wt, geo))
            Conv.winograd4Training = true
            XCTAssertNotEqual(off.0.array.map(\.bitPattern), f4.0.array.map(\.bitPattern), "the switch changes the path, case \(idx)")
            close(off.1, dxN, atol: 2e-4, "input gradient off F(4x4) \(idx)")
        }
    }

    /// The rule for 32-127 channels where F(2x2) does not run (the demo models' convs on 16 x 16 maps):
    /// on F(4x4) within its bound, whatever inference's minimum says; off for fewer channels, smaller
    /// maps, F(2x2)'s convs, or with the minimum at .max (the bits of the rule before).
    func testWinograd4TrainingOnSmallMaps() {
        let saved = (Conv.winograd4TrainingSmallMinChannels, Conv.winograd4Training, Conv.winograd4MinChannels)
        defer { (Conv.winograd4TrainingSmallMinChannels, Conv.winograd4Training, Conv.winograd4MinChannels) = saved }
        (Conv.winograd4TrainingSmallMinChannels, Conv.winograd4Training) = (32, true)
        let layer1 = ConvGeometry(input: [16, 32, 16, 16], weight: [32, 32, 3, 3], padding: 1)
        let fuse = ConvGeometry(input: [16, 88, 16, 16], weight: [64, 88, 3, 3], padding: 1)
        for least in [32, 1 << 20] {
            Conv.winograd4MinChannels = least                // inference's minimum does not enter
            XCTAssertTrue(Conv.useWinograd4Training(layer1), "cnn-rgb's layer1, inference minimum \(least)")
            XCTAssertTrue(Conv.useWinograd4Training(fuse), "cnn-rgb's decoder conv, inference minimum \(least)")
        }
        Conv.winograd4MinChannels = saved.2
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [16, 16, 16, 16], weight: [16, 16, 3, 3], padding: 1)))
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [16, 64, 8, 8], weight: [64, 64, 3, 3], padding: 1)))
        XCTAssertFalse(Conv.useWinograd4Training(ConvGeometry(input: [2, 64, 81, 81], weight: [64, 64, 3, 3], padding: 1)))
        XCTAssertTrue(Conv.useWinograd4Training(ConvGeometry(input: [2, 32, 161, 161], weight: [64, 32, 3, 3], padding: 1)),
                      "R50's deep stem")
        for (idx, geo) in [layer1, fuse].enumerated() {
            let x = Tensor.uniform([geo.n, geo.c, geo.h, geo.w], seed: UInt64(540 + idx)), wt = Tensor.uniform([geo.o, geo.c, 3, 3], seed: UInt64(550 + idx))
            let dy = Tensor.uniform(geo.outShape, seed: UInt64(560 + idx))
            let (dxN, dwN) = ConvNaive.backward(dy, x, wt, geo)
            let f4 = (Conv.forward(x, wt, bias: nil, geo), Conv.backwardInput(dy, wt, geo), Conv.backwardWeight(dy, x, geo))
            close(f4.0, ConvNaive.forward(x, wt, bias: nil, geo), atol: 1e-4 * Float(9 * geo.c).squareRoot(), rtol: 0, "forward \(idx)")
            close(f4.1, dxN, atol: 1e-4 * Float(9 * geo.o).squareRoot(), rtol: 0, "input gradient \(idx)")
            close(f4.2, dwN, atol: 1e-3, rtol: 1e-5, "weight gradient (im2col) \(idx)")
            Conv.winograd4TrainingSmallMinChannels = .max
            XCTAssertFalse(Conv.useWinograd4Training(geo))
            let off = Conv.forward(x, wt, bias: nil, geo)
            Conv.winograd4TrainingSmallMinChannels = 32
            XCTAssertNotEqual(off.array.map(\.bitPattern), f4.0.array.map(\.bitPattern), "the minimum changes the path, case \(idx)")
        }
    }

    /// A residual added in the conv's output pass (inference's bottleneck conv3) gives the bits of the
    /// conv with its bias, then Elementwise.addRelu (or add): batched and per-sample GEMMs, 1x1 and 3x3.
    func testConvResidualInTheOutputPass() {
        let saved = Conv.batchedColumns
        defer { Conv.batchedColumns = saved }
        for (idx, (n, c, h, w, o, k, batched)) in [(3, 8, 9, 7, 16, 1, true), (2, 8, 9, 7, 16, 1, false), (2, 5, 6, 6, 7, 3, true),
                                                   (1, 5, 6, 6, 7, 3, false)].enumerated() {
            Conv.batchedColumns = batched ? saved : 0
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(600 + idx)), wt = Tensor.uniform([o, c, k, k], seed: UInt64(610 + idx))
            let geo = ConvGeometry(input: x.shape, weight: wt.shape, padding: k / 2)
            var r = Tensor.uniform(geo.outShape, seed: UInt64(630 + idx)).array
            r[0] = -0.0                                       // signed zeros take the two passes' signs
            let res = Tensor(shape: geo.outShape, values: r)
            for b in [Tensor.uniform([o], seed: UInt64(620 + idx)), nil] {
                let plain = Conv.forward(x, wt, bias: b, geo)
                let sum = Tensor(shape: plain.shape, values: zip(plain.array, res.array).map { $0 + $1 })
                for relu in [false, true] {
                    let fused = Conv.forward(x, wt, bias: b, geo, relu: relu, residual: res)
                    let twoPasses = relu ? Elementwise.addRelu(plain, res) : sum
                    sameBits(fused.array, twoPasses.array, "residual in the output pass, case \(idx), bias \(b != nil), relu \(relu)")
                }
            }
        }
    }

    /// im2col (padded-plane copies) and col2im against their definitions: strides 1-3, dilation,
    /// padding 0-4, groups, several samples side by side with ld > samples * HO*WO, tiny and
    /// 16/17-wide rows; col2im bit for bit (same tap order) and only inside its own planes.
    func testIm2colAndCol2imMatchNaive() {
        // (n, c, h, w, o, k, stride, pad, dil, groups)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (3, 4, 16, 16, 4, 3, 1, 1, 1, 1), (2, 3, 17, 19, 2, 3, 2, 1, 1, 1), (2, 4, 4, 4, 4, 3, 1, 2, 2, 2),
            (1, 2, 9, 33, 2, 3, 2, 1, 1, 1), (2, 3, 12, 13, 3, 5, 3, 2, 1, 1), (2, 2, 6, 7, 2, 3, 1, 4, 3, 1),
            (3, 2, 8, 8, 2, 1, 2, 0, 1, 1), (2, 6, 5, 40, 6, 3, 2, 1, 1, 3), (1, 3, 10, 11, 3, 3, 1, 0, 1, 1),
            (2, 2, 3, 3, 2, 3, 1, 1, 1, 1),
        ]
        for (idx, (n, c, h, w, o, k, st, p, d, gr)) in cases.enumerated() {
            let g = ConvGeometry(input: [n, c, h, w], weight: [o, c / gr, k, k], stride: st, padding: p, dilation: d, groups: gr)
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(idx))
            let ld = n * g.ho * g.wo + 5
            for c0 in stride(from: 0, to: c, by: g.cg) {
                let col = Tensor(shape: [g.colRows * ld], repeating: -7)
                Conv.im2col(x.data, g, c0, col.data, samples: n, ld: ld)
                let naive = ConvNaive.im2col(x, g, c0, samples: n, ld: ld)
                for r in 0..<g.colRows {
                    for q in 0..<(n * g.ho * g.wo) where col[r * ld + q] != naive[r * ld + q] {
                        XCTFail("im2col case \(idx) c0 \(c0) row \(r) col \(q): \(col[r * ld + q]) vs \(naive[r * ld + q])"); return
                    }
                }
                let dy = Tensor.uniform([g.colRows * ld], seed: UInt64(idx + 50))
                let dx = Tensor(shape: [n, c, h, w], repeating: 3)
                Conv.col2im(dy.data, g, c0, dx.data, samples: n, ld: ld)
                let ref = ConvNaive.col2im(dy.array, g, samples: n, ld: ld)
                for s in 0..<n {
                    for ch in 0..<c {
                        for e in 0..<(h * w) {
                            let got = dx[(s * c + ch) * h * w + e]
                            let want = ch >= c0 && ch < c0 + g.cg ? ref[((s * g.cg + ch - c0) * h * w) + e] : 3
                            if got != want { XCTFail("col2im case \(idx) c0 \(c0) sample \(s) ch \(ch) at \(e): \(got) vs \(want)"); return }
                        }
                    }
                }
            }
        }
    }

    /// F(4x4)'s C transforms with packed GEMM operands (winograd4.c) give the Swift path's bits:
    /// rows of 1-81 tiles (groups of 16 across rows and samples, partial edge tiles), paddings 0-2,
    /// 8- and 12-row tiles, channels across two K blocks, tile counts off multiples of 16 and of the
    /// panels, bias and ReLU, several sample chunks.
    func testWinograd4PackedPathKeepsTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = (Gemm.native, Conv.winograd4MaxBytes, Conv.winograd4Packed)
        defer { Gemm.setNative(saved.0); Conv.winograd4MaxBytes = saved.1; Conv.winograd4Packed = saved.2; Gemm.setNativeTile(0) }
        Gemm.setNative(true)
        let cases = [(2, 16, 7, 9, 17, 1), (3, 16, 6, 11, 18, 2), (1, 20, 3, 3, 16, 1), (1, 16, 1, 4, 16, 2),
                     (2, 64, 13, 12, 32, 1), (1, 16, 6, 45, 16, 1), (2, 16, 9, 34, 17, 0), (1, 17, 5, 81, 100, 1),
                     (1, 300, 10, 21, 130, 1), (2, 40, 23, 66, 97, 1), (2, 24, 21, 21, 96, 1), (1, 8, 70, 70, 8, 0)]
        for (idx, (n, c, h, w, o, p)) in cases.enumerated() {
            let x = Tensor.uniform([n, c, h, w], seed: UInt64(200 + idx)), wt = Tensor.uniform([o, c, 3, 3], seed: UInt64(250 + idx))
            let b = Tensor.uniform([o], seed: UInt64(270 + idx))
            let geo = ConvGeometry(input: x.shape, weight: wt.shape, padding: p)
            let u = Conv.winograd4Filter(wt.data, o: o, c: c)
            for (tile, bytes) in [(0, saved.1), (1, 1), (2, saved.1)] {
                Gemm.setNativeTile(tile)
                Conv.winograd4MaxBytes = bytes
                let packedU = Conv.winograd4PackFilter(u)
                XCTAssertEqual(packedU.count, 36)
                for relu in [false, true] {
                    Conv.winograd4Packed = true
                    let fast = Conv.winograd4Forward(x, nil, geo, bias: b, relu: relu, packedU: packedU)  // packed filters only
                    Conv.winograd4Packed = false
                    let swift = Conv.winograd4Forward(x, u, geo, bias: b, relu: relu, packedU: packedU)
                    sameBits(fast.array, swift.array, "F(4x4) packed path, case \(idx), tile \(tile), \(bytes) bytes, relu \(relu)")
                    Conv.winograd4Packed = true                  // training's call: C transforms, filters read in place
                    let inPlace = Conv.winograd4Forward(x, u, geo, bias: b, relu: relu)
                    sameBits(inPlace.array, swift.array, "F(4x4) filters in place, case \(idx), tile \(tile), \(bytes) bytes, relu \(relu)")
                }
            }
        }
    }

    /// The GEMMs this CPU can run: OpenBLAS, and dcot's own AVX-512 one where the CPU has AVX-512.
    var gemmEngines: [Bool] { VectorISA.supported >= 2 ? [false, true] : [false] }

    func testGemmMatchesNaive() {
        let saved = Gemm.native
        defer { Gemm.setNative(saved) }
        for native in gemmEngines {
            Gemm.setNative(native)
            for (i, (m, n, k)) in [(5, 7, 3), (17, 9, 33), (64, 65, 66)].enumerated() {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let a = Tensor.uniform([m * k], seed: UInt64(i)), b = Tensor.uniform([k * n], seed: UInt64(i + 10))
                    let c1 = Tensor(shape: [m, n]), c2 = Tensor(shape: [m, n])
                    Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n, c: c1.data, ldc: n)
                    Gemm.sgemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n, c: c2.data, ldc: n)
                    close(c1, c2, "gemm \(m)x\(n)x\(k) \(ta) \(tb) \(Gemm.engine)")
                }
            }
        }
    }

    /// dcot's AVX-512 GEMM on the edges of its 12 x 32 tiles, 256-long K blocks and 16-wide packing
    /// steps, with padded leading dimensions, alpha and beta (beta 0 must not read C: it holds NaN).
    func testNativeGemmEdgesMatchNaive() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = Gemm.native
        defer { Gemm.setNative(saved) }
        Gemm.setNative(true)
        var seed: UInt64 = 100
        for (m, n, k) in [(1, 1, 1), (11, 15, 255), (12, 16, 256), (13, 17, 257), (25, 31, 16), (24, 32, 17), (36, 33, 600),
                          (1, 65, 40), (40, 1, 513), (130, 97, 31), (13, 70, 1100), (5, 7, 2050)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (1, 0.25)] {
                    seed += 1
                    let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2
                    let a = Tensor.uniform([(ta ? k : m) * lda], seed: seed), b = Tensor.uniform([(tb ? n : k) * ldb], seed: seed + 50)
                    let start = Tensor.uniform([m * ldc], seed: seed + 99)
                    let got = Tensor(shape: [m * ldc]), want = Tensor(shape: [m * ldc])
                    for i in 0..<(m * ldc) { (got[i], want[i]) = (beta == 0 && i % ldc < n ? .nan : start[i], start[i]) }
                    Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda, b: b.data, ldb: ldb,
                               beta: beta, c: got.data, ldc: ldc)
                    Gemm.sgemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda, b: b.data, ldb: ldb,
                                    beta: beta, c: want.data, ldc: ldc)
                    close(got, want, atol: 1e-4 * Float(k).squareRoot(), "native gemm \(m)x\(n)x\(k) \(ta) \(tb) alpha \(alpha) beta \(beta)")
                }
            }
        }
    }

    /// Each element of dcot's GEMM is computed the same way wherever its tile is: the product as one
    /// call and as calls on row and column blocks cut anywhere (not at tile multiples) agree bit for bit.
    func testNativeGemmBitsDoNotDependOnTheSplit() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = Gemm.native
        defer { Gemm.setNative(saved) }
        Gemm.setNative(true)
        let (m, n, k) = (77, 150, 700)
        let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2)
        let whole = Tensor(shape: [m, n])
        Gemm.sgemmUnsplit(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: whole.data, ldc: n)
        let pieces = Tensor(shape: [m, n])
        for (r0, r1) in [(0, 5), (5, 40), (40, 77)] {
            for (c0, c1) in [(0, 3), (3, 70), (70, 150)] {
                Gemm.sgemmUnsplit(m: r1 - r0, n: c1 - c0, k: k, a: a.data + r0 * k, lda: k, b: b.data + c0, ldb: n,
                                  c: pieces.data + r0 * n + c0, ldc: n)
            }
        }
        XCTAssertEqual(whole.array, pieces.array)
        // A B^T as dot products (short M or N, long K): whole and in blocks cut anywhere, bit for bit.
        let (dm, dn, dk) = (45, 70, 2100)
        XCTAssertTrue(Gemm.useDotProducts(transA: false, transB: true, m: dm, n: dn, k: dk))
        let da = Tensor.uniform([dm * dk], seed: 3), db = Tensor.uniform([dn * dk], seed: 4)
        let dotWhole = Tensor(shape: [dm, dn], repeating: 0.5), dotPieces = Tensor(shape: [dm, dn], repeating: 0.5)
        Gemm.sgemmUnsplit(transB: true, m: dm, n: dn, k: dk, alpha: 0.5, a: da.data, lda: dk, b: db.data, ldb: dk, beta: 0.25,
                          c: dotWhole.data, ldc: dn)
        for (r0, r1) in [(0, 3), (3, 30), (30, 45)] {
            for (c0, c1) in [(0, 5), (5, 41), (41, 70)] {
                XCTAssertEqual(Int(cn_sgemm_nt_dot(dm, dn, dk, 0.5, da.data, dk, db.data, dk, 0.25, dotPieces.data, dn, r0, r1, c0, c1)), Int(CN_OK))
            }
        }
        sameBits(dotWhole.array, dotPieces.array, "dot products in blocks")
        // The tile shape (12 x 32 for many rows, 8 x 48 for few) does not change an element's sums.
        defer { Gemm.setNativeTile(0) }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            func product(tile: Int) -> [Float] {
                Gemm.setNativeTile(tile)
                let c = Tensor(shape: [m, n], repeating: 0.5)
                Gemm.sgemmUnsplit(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data,
                                  ldb: tb ? k : n, beta: 0.25, c: c.data, ldc: n)
                return c.array
            }
            XCTAssertEqual(product(tile: 1), product(tile: 2), "12 x 32 vs 8 x 48 tiles, transA \(ta) transB \(tb)")
        }
    }

    /// Prepacked operands give every element the bits of the unpacked product: op(A) packed once
    /// (all four transposes, both tiles, products cut over threads by rows and by columns), op(B)
    /// packed by cn_sgemm_pack_b, and both, whole and on tile-aligned blocks.
    func testPackedGemmOperandsKeepTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = (Gemm.native, Gemm.splitMinMNK)
        defer { Gemm.setNative(saved.0); Gemm.splitMinMNK = saved.1; Gemm.setNativeTile(0) }
        Gemm.setNative(true)
        Gemm.splitMinMNK = 1          // cut every product into blocks, as large ones are
        var seed: UInt64 = 300
        for tile in [0, 1, 2] {
            Gemm.setNativeTile(tile)
            for (m, n, k) in [(7, 300, 40), (100, 33, 520), (300, 50, 257), (64, 6561, 64), (13, 1, 3)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    seed += 1
                    let lda = ta ? m : k, ldb = tb ? k : n
                    let a = Tensor.uniform([m * k], seed: seed), b = Tensor.uniform([k * n], seed: seed + 7)
                    let plain = Tensor(shape: [m, n], repeating: 0.5), packedA = Tensor(shape: [m, n], repeating: 0.5)
                    Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: lda, b: b.data, ldb: ldb,
                               beta: 0.25, c: plain.data, ldc: n)
                    let pa = try XCTUnwrap(Gemm.packA(transA: ta, m: m, k: k, a: a.data, lda: lda))
                    Gemm.sgemm(packed: pa, transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: lda, b: b.data,
                               ldb: ldb, beta: 0.25, c: packedA.data, ldc: n)
                    let what = "\(m)x\(n)x\(k) transA \(ta) transB \(tb) tile \(tile)"
                    sameBits(plain.array, packedA.array, "packed A, " + what)
                    // Both packed, computed as four tile-aligned blocks (not for A B^T as dot products,
                    // which do not run on the packed kernel).
                    if Gemm.useDotProducts(transA: ta, transB: tb, m: m, n: n, k: k) { continue }
                    let pb = Tensor(shape: [cn_sgemm_packed_b_floats(m, n, k)])
                    XCTAssertEqual(Int(cn_sgemm_pack_b(tb ? 1 : 0, m, n, k, b.data, ldb, pb.data)), Int(CN_OK))
                    let both = Tensor(shape: [m, n], repeating: 0.5)
                    let mr = cn_sgemm_tile_rows(m), nr = cn_sgemm_tile_cols(m)
                    let iCut = min(m, (m / 2) / mr * mr), jCut = min(n, (n / 2) / nr * nr)
                    for (i0, i1) in [(0, iCut), (iCut, m)] { for (j0, j1) in [(0, jCut), (jCut, n)] {
                        XCTAssertEqual(Int(cn_sgemm_block(ta ? 1 : 0, tb ? 1 : 0, m, n, k, 0.75, a.data, lda, pa.data, b.data, ldb,
                                                          pb.data, 0.25, both.data, n, i0, i1, j0, j1)), Int(CN_OK))
                    } }
                    sameBits(plain.array, both.array, "packed A and B, " + what)
                }
            }
        }
        // Products of at most 96 rows read op(B) in place (whole panels; the last one packed): the
        // same bits as packing it, with a padded leading dimension.
        defer { cn_sgemm_set_direct_b(1) }
        for (m, n, k) in [(64, 3281, 64), (8, 47, 300), (96, 97, 513), (30, 48, 1)] {
            seed += 1
            let ldb = n + 3
            let a = Tensor.uniform([m * k], seed: seed), b = Tensor.uniform([k * ldb], seed: seed + 7)
            func product(direct: Bool) -> [UInt32] {
                cn_sgemm_set_direct_b(direct ? 1 : 0)
                let c = Tensor(shape: [m, n], repeating: 0.5)
                Gemm.sgemmUnsplit(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: ldb, beta: 0.25, c: c.data, ldc: n)
                return c.array.map(\.bitPattern)
            }
            XCTAssertTrue(product(direct: true) == product(direct: false), "op(B) in place, \(m)x\(n)x\(k): other bits")
        }
        // op(B) packed once (a linear layer's inference weights): the bits of packing it in the
        // product, both tiles, products cut over the threads by rows (300 x 64) and by columns
        // (97 x 1000, cut at a multiple of the tile's columns).
        for (m, n, k) in [(300, 64, 256), (40, 200, 64), (8, 33, 17), (97, 1000, 70)] {
            for tb in [false, true] {
                seed += 1
                let b = Tensor.uniform([k * n], seed: seed), a = Tensor.uniform([m * k], seed: seed + 3)
                let ldb = tb ? k : n
                let pb = try XCTUnwrap(Gemm.packB(transB: tb, m: m, n: n, k: k, b: b.data, ldb: ldb))
                XCTAssertTrue(pb.current(m: m))
                let viaPack = Tensor(shape: [m, n], repeating: 0.5), plain = Tensor(shape: [m, n], repeating: 0.5)
                Gemm.sgemm(packedB: pb, transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: k, b: b.data, ldb: ldb,
                           beta: 0.25, c: viaPack.data, ldc: n)
                Gemm.sgemm(transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: k, b: b.data, ldb: ldb,
                           beta: 0.25, c: plain.data, ldc: n)
                sameBits(viaPack.array, plain.array, "packed B, \(m)x\(n)x\(k) transB \(tb)")
            }
        }
        // op(A) is read in place, transposed or not (whole panels; a last partial one packed): the same
        // bits as packing it, with a padded leading dimension, both tiles, split blocks.
        defer { cn_sgemm_set_direct_a(1) }
        for (m, n, k) in [(13122 / 9, 64, 256), (8, 47, 300), (97, 97, 513), (30, 48, 1), (256, 72, 600), (13, 33, 17)] {
            for ta in [false, true] {
                seed += 1
                let lda = (ta ? m : k) + 5
                let a = Tensor.uniform([(ta ? k : m) * lda], seed: seed), b = Tensor.uniform([k * n], seed: seed + 7)
                func product(direct: Bool, blocks: Bool) -> [UInt32] {
                    cn_sgemm_set_direct_a(direct ? 1 : 0)
                    let c = Tensor(shape: [m, n], repeating: 0.5)
                    if blocks {
                        let cut = m / 2 / 16 * 16
                        for (i0, i1) in [(0, cut), (cut, m)] {
                            XCTAssertEqual(Int(cn_sgemm_block(ta ? 1 : 0, 0, m, n, k, 0.75, a.data, lda, nil, b.data, n, nil, 0.25,
                                                              c.data, n, i0, i1, 0, n)), Int(CN_OK))
                        }
                    } else {
                        Gemm.sgemmUnsplit(transA: ta, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: lda, b: b.data, ldb: n,
                                          beta: 0.25, c: c.data, ldc: n)
                    }
                    return c.array.map(\.bitPattern)
                }
                let packed = product(direct: false, blocks: false)
                XCTAssertTrue(product(direct: true, blocks: false) == packed, "op(A) in place, \(m)x\(n)x\(k) transA \(ta): other bits")
                XCTAssertTrue(product(direct: true, blocks: true) == packed, "op(A) in place, blocks, \(m)x\(n)x\(k) transA \(ta): other bits")
                var naive = [Float](repeating: 0.5, count: m * n)
                Gemm.sgemmNaive(transA: ta, m: m, n: n, k: k, alpha: 0.75, a: a.data, lda: lda, b: b.data, ldb: n, beta: 0.25, c: &naive, ldc: n)
                let got = product(direct: true, blocks: false).map(Float.init(bitPattern:))
                let worst = zip(got, naive).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "op(A) in place against the naive twin, \(m)x\(n)x\(k) transA \(ta)")
            }
        }
        // Last partial panels run kernels of their own rows and vectors: the same bits as the whole
        // tile over zero padding, both tiles, all transposes, packed or in-place operands, split blocks.
        defer { cn_sgemm_set_edge_tiles(1); Gemm.setNativeTile(0) }
        for tile in [1, 2] {
            Gemm.setNativeTile(tile)
            for (m, n, k) in [(256, 72, 300), (13, 17, 40), (100, 33, 520), (9, 5, 3), (28, 40, 257), (4, 90, 64), (44, 130, 31)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    seed += 1
                    let lda = ta ? m : k, ldb = tb ? k : n
                    let a = Tensor.uniform([m * k], seed: seed), b = Tensor.uniform([k * n], seed: seed + 7)
                    func product(edges: Bool, packed: Bool) -> [UInt32] {
                        cn_sgemm_set_edge_tiles(edges ? 1 : 0)
                        let c = Tensor(shape: [m, n], repeating: 0.5)
                        if packed {
                            let pa = Gemm.packA(transA: ta, m: m, k: k, a: a.data, lda: lda)!
                            let pb = Tensor(shape: [cn_sgemm_packed_b_floats(m, n, k)])
                            XCTAssertEqual(Int(cn_sgemm_pack_b(tb ? 1 : 0, m, n, k, b.data, ldb, pb.data)), Int(CN_OK))
                            let mr = cn_sgemm_tile_rows(m), nr = cn_sgemm_tile_cols(m)
                            let iCut = min(m, (m / 2) / mr * mr), jCut = min(n, (n / 2) / nr * nr)
                            for (i0, i1) in [(0, iCut), (iCut, m)] { for (j0, j1) in [(0, jCut), (jCut, n)] {
                                XCTAssertEqual(Int(cn_sgemm_block(ta ? 1 : 0, tb ? 1 : 0, m, n, k, 0.75, a.data, lda, pa.data, b.data,
                                                                  ldb, pb.data, 0.25, c.data, n, i0, i1, j0, j1)), Int(CN_OK))
                            } }
                        } else {
                            XCTAssertEqual(Int(cn_sgemm_block(ta ? 1 : 0, tb ? 1 : 0, m, n, k, 0.75, a.data, lda, nil, b.data, ldb, nil,
                                                              0.25, c.data, n, 0, m, 0, n)), Int(CN_OK))
                        }
                        return c.array.map(\.bitPattern)
                    }
                    let what = "\(m)x\(n)x\(k) transA \(ta) transB \(tb) tile \(tile)"
                    for packed in [false, true] {
                        XCTAssertTrue(product(edges: true, packed: packed) == product(edges: false, packed: packed),
                                      "edge tiles, packed \(packed), \(what): other bits")
                    }
                }
            }
        }
        // A block that does not start on a tile of a packed operand is refused, not computed wrongly.
        let a = Tensor.uniform([40 * 8], seed: 1), c = Tensor(shape: [40, 8])
        let pa = try XCTUnwrap(Gemm.packA(m: 40, k: 8, a: a.data, lda: 8))
        XCTAssertEqual(Int(cn_sgemm_block(0, 0, 40, 8, 8, 1, a.data, 8, pa.data, a.data, 8, nil, 0, c.data, 8, 3, 40, 0, 8)), Int(CN_E_ARG))
    }

    /// `sgemmAdding` (a linear layer's bias and residual added in the GEMM's own pass): the bits of
    /// writing rows + bias into C first and adding the product with beta 1, for bias only, rows
    /// only and both, K over several blocks, edge tiles, both tiles, B packed once or not, products
    /// cut over the threads; and within the naive twin's bound.
    func testGemmAddingKeepsTheBits() throws {
        try XCTSkipIf(VectorISA.supported < 2, "no AVX-512 on this CPU")
        let saved = (Gemm.native, Gemm.splitMinMNK, Gemm.addsInKernel)
        defer { Gemm.setNative(saved.0); Gemm.splitMinMNK = saved.1; Gemm.addsInKernel = saved.2; Gemm.setNativeTile(0) }
        Gemm.setNative(true)
        Gemm.splitMinMNK = 1
        var seed: UInt64 = 900
        for tile in [0, 1, 2] {
            Gemm.setNativeTile(tile)
            for (m, n, k) in [(300, 64, 256), (97, 100, 520), (13, 33, 17), (6561, 64, 64), (40, 1000, 300)] {
                for tb in [false, true] {
                    for (withBias, withRows) in [(true, false), (false, true), (true, true)] {
                        seed += 1
                        let ldb = tb ? k : n, ldr = n + 3
                        let a = Tensor.uniform([m * k], seed: seed), b = Tensor.uniform([k * n], seed: seed + 1)
                        let bias = Tensor.uniform([n], seed: seed + 2), rows = Tensor.uniform([m * ldr], seed: seed + 3)
                        let pb = Gemm.packB(transB: tb, m: m, n: n, k: k, b: b.data, ldb: ldb)
                        func product(inKernel: Bool, packed: Bool) -> [Float] {
                            Gemm.addsInKernel = inKernel
                            let c = Tensor(shape: [m, n], repeating: .nan)
                            Gemm.sgemmAdding(packedB: packed ? pb : nil, transB: tb, m: m, n: n, k: k, a: a.data, lda: k,
                                             b: b.data, ldb: ldb, bias: withBias ? UnsafePointer(bias.data) : nil,
                                             rows: withRows ? UnsafePointer(rows.data) : nil, ldr: ldr, c: c.data, ldc: n)
                            return c.array
                        }
                        let what = "\(m)x\(n)x\(k) transB \(tb) bias \(withBias) rows \(withRows) tile \(tile)"
                        let separate = product(inKernel: false, packed: false)
                        sameBits(product(inKernel: true, packed: false), separate, "in the kernel, " + what)
                        sameBits(product(inKernel: true, packed: true), separate, "in the kernel, B packed, " + what)
                        if m * n > 40_000 { continue }
                        var naive = [Float](repeating: 0, count: m * n)
                        for i in 0..<m { for j in 0..<n {
                            naive[i * n + j] = (withRows ? rows.data[i * ldr + j] : 0) + (withBias ? bias.data[j] : 0)
                        } }
                        Gemm.sgemmNaive(transB: tb, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: ldb, beta: 1, c: &naive, ldc: n)
                        let worst = zip(separate, naive).map { abs($0 - $1) }.max() ?? .nan
                        XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "against the naive twin, " + what)
                    }
                }
            }
        }
    }

    /// The default GEMM: dcot's own on any AVX-512 CPU, unless DCOT_GEMM chooses.
    func testGemmEngineChoice() {
        if ProcessInfo.processInfo.environment["DCOT_GEMM"] == nil {
            XCTAssertEqual(Gemm.native, VectorISA.supported >= 2, "vector level \(VectorISA.supported)")
        }
        print("GEMM engine: \(Gemm.engine)")
    }

    /// Products large enough to be cut into blocks on the thread pool (Gemm.pieces 2 and 4, split
    /// over N and over M, all transposes) against the naive twin, and bit-identical at 1, 2 and 3
    /// threads and to one OpenBLAS call.
    func testSplitGemmMatchesNaiveAndOneCall() {
        let saved = (Parallel.threads, Gemm.maxBlocks, Gemm.native)
        defer { Parallel.setThreads(saved.0); Gemm.setSplitAcrossThreads(true); Gemm.maxBlocks = saved.1; Gemm.setNative(saved.2) }
        Gemm.maxBlocks = 4
        for native in gemmEngines {
            Gemm.setNative(native)
            XCTAssertEqual(Gemm.pieces(m: 8, n: 8, k: 8), 1)
            XCTAssertEqual(Gemm.pieces(m: 32, n: 1536, k: 288), 2)
            XCTAssertEqual(Gemm.pieces(m: 256, n: 1024, k: 576), 4)
            for (m, n, k) in [(32, 1536, 288), (300, 40, 200), (256, 1024, 576), (1000, 130, 600), (40, 100, 1300)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let a = Tensor.uniform([m * k], seed: 7), b = Tensor.uniform([k * n], seed: 8)
                    func product() -> Tensor {
                        let c = Tensor(shape: [m, n], repeating: 0.5)
                        Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                                   beta: 0.25, c: c.data, ldc: n)
                        return c
                    }
                    let what = "m \(m) n \(n) k \(k) transA \(ta) transB \(tb) \(Gemm.engine)"
                    Parallel.setThreads(2)
                    let two = product()
                    let naive = Tensor(shape: [m, n], repeating: 0.5)
                    Gemm.sgemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                                    beta: 0.25, c: naive.data, ldc: n)
                    close(two, naive, atol: 1e-3, "split gemm vs naive, " + what)
                    for t in [1, 3] {
                        Parallel.setThreads(t)
                        XCTAssertEqual(two.array, product().array, "\(t) vs 2 threads, " + what)
                    }
                    Gemm.setSplitAcrossThreads(false)
                    Parallel.setThreads(1)
                    XCTAssertEqual(two.array, product().array, "one OpenBLAS call vs blocks, " + what)
                    Gemm.setSplitAcrossThreads(true)
                }
            }
        }
    }

    /// The pool runs every task once, inline when nested, and serves several calling threads.
    func testParallelPoolRunsEveryTaskOnce() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for t in [1, 2, 4] {
            Parallel.setThreads(t)
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 1000)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            nonisolated(unsafe) let c = counts
            for round in 0..<200 {
                let n = 1 + round * 5 % 997
                Parallel.for(n) { r in
                    for i in r { c[i] += 1 }
                    Parallel.for(3) { inner in for _ in inner { } }          // nested: inline
                }
                XCTAssertTrue(c[0..<n].allSatisfy { $0 == 1 }, "threads \(t), n \(n)")
                for i in 0..<n { c[i] = 0 }
            }
            // Four threads call Parallel.for at once: each sees all of its own tasks done.
            let ok = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 4)
            defer { ok.deallocate() }
            nonisolated(unsafe) let okp = ok
            DispatchQueue.concurrentPerform(iterations: 4) { caller in
                var good = true
                for _ in 0..<300 {
                    var local = [Int](repeating: 0, count: 64)
                    local.withUnsafeMutableBufferPointer { lp in
                        nonisolated(unsafe) let l = lp
                        Parallel.blocks(64) { i in l[i] = i &* 3 }
                    }
                    good = good && local == (0..<64).map { $0 * 3 }
                }
                okp[caller] = good
            }
            XCTAssertEqual(Array(ok), [true, true, true, true], "concurrent callers, threads \(t)")
        }
    }

    func testFastMathMatchesLibm() {
        var worstExp = 0.0, worstErf = 0.0
        for i in 0..<200_001 {
            let x = Float(-87 + 95 * Double(i) / 200_000)                 // [-87, 8]
            let e = Double(FastMath.exp(x)), ref = Foundation.exp(Double(x))
            worstExp = max(worstExp, abs(e - ref) / ref)
            let z = Float(-6 + 12 * Double(i) / 200_000)
            worstErf = max(worstErf, abs(Double(FastMath.erf(z)) - Foundation.erf(Double(z))))
        }
        XCTAssertLessThan(worstExp, 3e-7, "exp relative error")
        XCTAssertLessThan(worstErf, 6e-7, "erf absolute error (A-S bound 1.5e-7 plus float32 rounding)")
        XCTAssertEqual(FastMath.exp(-200), 0)                             // underflow flushes to 0
        XCTAssertEqual(FastMath.exp(-1e6), 0)
        XCTAssertEqual(FastMath.exp(0), 1)
        let v = SIMD8<Float>(-3, -1, -0.5, 0, 0.25, 1, 2, 5)
        for k in 0..<8 { XCTAssertEqual(FastMath.erf(v)[k], FastMath.erf(v[k])) }
    }

    func testReductionsMatchDouble() {
        let x = Tensor.uniform([1003], seed: 5)
        var s = 0.0, d = 0.0
        for i in 0..<x.count { s += Double(x[i]); d += Double(x[i]) * Double(x[i]) }
        XCTAssertEqual(Double(Reduce.sum(x.data, x.count)), s, accuracy: 1e-4)
        XCTAssertEqual(Double(Reduce.dot(x.data, x.data, x.count)), d, accuracy: 1e-3)
    }

    func testColumnSumsMatchDoubleAndThreadCounts() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for (rows, cols) in [(1, 5), (300, 37), (1000, 64), (513, 8)] {
            let x = Tensor.uniform([rows, cols], seed: UInt64(rows))
            Parallel.setThreads(1)
            let one = Reduce.columnSums(x.data, rows: rows, cols: cols)
            Parallel.setThreads(2)
            XCTAssertEqual(one, Reduce.columnSums(x.data, rows: rows, cols: cols), "\(rows)x\(cols): 1 vs 2 threads")
            for j in 0..<cols {
                let ref = (0..<rows).reduce(0.0) { $0 + Double(x[$1 * cols + j]) }
                XCTAssertEqual(Double(one[j]), ref, accuracy: 1e-4 * max(1, abs(ref)), "\(rows)x\(cols) column \(j)")
            }
        }
    }

    /// Sums of a range of columns are those columns' sums in the whole, bit for bit.
    func testColumnSumsOfColumnRangesAreTheWholes() {
        for (rows, cols) in [(300, 37), (4096, 32), (513, 8)] {
            let x = Tensor.uniform([rows, cols], seed: UInt64(cols))
            let whole = Reduce.columnSums(x.data, rows: rows, cols: cols)
            for range in [0..<(cols / 2), (cols / 2)..<cols, 3..<(cols - 1)] {
                XCTAssertEqual(Reduce.columnSums(x.data, rows: rows, cols: cols, columns: range), Array(whole[range]),
                               "\(rows)x\(cols) columns \(range)")
            }
        }
    }

    /// The parts `Gemm.sgemmPart` computes are the whole product's elements, bit for bit, for the
    /// shapes of a small linear layer's gradients (dcot's GEMM only).
    func testGemmPartsAreTheWholeProduct() throws {
        try XCTSkipUnless(Gemm.native, "dcot's GEMM is not in use on this CPU")
        for (transA, transB, m, n, k) in [(true, false, 32, 32, 4096), (false, false, 4096, 32, 32), (true, false, 128, 32, 1024),
                                          (false, false, 1000, 40, 128), (false, true, 64, 200, 1024), (false, false, 20, 16, 50)] {
            let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2)
            let (lda, ldb) = (transA ? m : k, transB ? k : n)
            let whole = Tensor(shape: [m * n]), parts = Tensor(shape: [m * n])
            Gemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                       c: whole.data, ldc: n)
            for part in 0..<2 {
                Gemm.sgemmPart(part, of: 2, transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda,
                               b: b.data, ldb: ldb, c: parts.data, ldc: n)
            }
            XCTAssertEqual(parts.array, whole.array, "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m) x \(n) x \(k)")
        }
    }

    func testTiledTransposeMatchesGeneralPermute() {
        for shape in [[2, 70, 33], [1, 31, 64], [3, 5, 4, 37], [100, 1], [1, 6561, 64]] {
            let x = Tensor.uniform(shape, seed: UInt64(shape.count))
            let r = shape.count, perm = Array(0..<(r - 2)) + [r - 1, r - 2]
            let y = ShapeKernel.permute(x, perm)
            XCTAssertEqual(y.shape, perm.map { shape[$0] })
            XCTAssertEqual(y.array, ShapeKernel.permuteGeneral(x, perm).array, "\(shape)")
        }
    }

    func testResizeIdentityAndCorners() {
        let x = Tensor.uniform([1, 2, 5, 7], seed: 1)
        close(ResizeKernel.bilinear(x, height: 5, width: 7, alignCorners: true), x, atol: 1e-6, "identity ac=true")
        close(ResizeKernel.bilinear(x, height: 5, width: 7, alignCorners: false), x, atol: 1e-6, "identity ac=false")
        let y = ResizeKernel.bilinear(x, height: 9, width: 13, alignCorners: true)
        XCTAssertEqual(y[12], x[6]); XCTAssertEqual(y[8 * 13], x[4 * 7])   // corners map exactly
        // Resizing into an accumulator: the bits of resizing, then adding.
        for ac in [true, false] {
            let acc = Tensor.uniform([1, 2, 9, 13], seed: 2), expected = acc.copy()
            expected.addInPlace(ResizeKernel.bilinear(x, height: 9, width: 13, alignCorners: ac))
            let got = ResizeKernel.bilinear(x, height: 9, width: 13, alignCorners: ac, adding: acc)
            XCTAssertTrue(got === acc)
            sameBits(acc.array, expected.array, "bilinear adding, align corners \(ac)")
        }
    }

    /// GEMMs whose K OpenBLAS would cut differently at 1 and 2 threads (K between its block size and
    /// twice that, not a multiple of 32) give the same bits at both, in all four transposes; and a
    /// narrow product of dot products (32 x 27, A B^T), cut into 16-row blocks at 2 threads.
    func testGemmDoesNotDependOnThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        XCTAssertEqual(Gemm.kChunks(200), [0..<200])
        XCTAssertEqual(Gemm.kChunks(576), [0..<576])
        XCTAssertEqual(Gemm.kChunks(720), [0..<704, 704..<720])
        for (m, n, k) in [(64, 256, 360), (100, 441, 400), (64, 1024, 720), (256, 49, 1000), (32, 27, 2048)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2)
                func product() -> [Float] {
                    let c = Tensor(shape: [m, n])
                    Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                               c: c.data, ldc: n)
                    return c.array
                }
                Parallel.setThreads(1)
                let one = product()
                Parallel.setThreads(2)
                XCTAssertEqual(one, product(), "m \(m) n \(n) k \(k) transA \(ta) transB \(tb)")
            }
        }
    }

    /// Convs on small maps as one pool job (each thread its samples, or its weight-gradient columns):
    /// the bits of the step path, with bias, ReLU, residual and packed weights, strides, dilation,
    /// 1x1, several GEMM chunks, K steps of several samples, dot-product weight gradients, samples
    /// too large to share a GEMM.
    func testConvSampleTasksKeepTheBits() throws {
        let saved = Parallel.threads, small = Conv.winograd4TrainingSmallMinChannels
        defer { Parallel.setThreads(saved); Conv.sampleTasks = true; Conv.winograd4TrainingSmallMinChannels = small }
        Parallel.setThreads(2)
        Conv.winograd4TrainingSmallMinChannels = .max       // the 32-channel 3x3 convs on im2col, not F(4x4)
        // (n, c, h, w, o, k, stride, pad, dil)
        let shapes = [(16, 8, 16, 16, 12, 3, 1, 1, 1), (5, 16, 8, 8, 32, 3, 2, 1, 1), (6, 24, 8, 8, 20, 1, 1, 0, 1),
                      (4, 8, 9, 9, 16, 1, 2, 0, 1), (7, 8, 12, 12, 8, 3, 1, 2, 2), (4, 8, 24, 24, 16, 3, 1, 1, 1),
                      (4, 40, 16, 16, 24, 3, 1, 1, 1), (16, 32, 16, 16, 32, 3, 1, 1, 1), (16, 8, 8, 8, 12, 3, 1, 1, 1),
                      // one sample per GEMM (its columns and output over half the batched cap): 3x3, 1x1
                      (4, 32, 32, 32, 32, 3, 1, 1, 1), (4, 200, 32, 32, 200, 1, 1, 0, 1)]
        var seed: UInt64 = 70
        for (n, c, h, w, o, k, st, pad, dil) in shapes {
            seed += 1
            let x = Tensor.uniform([n, c, h, w], seed: seed), wt = Tensor.uniform([o, c, k, k], seed: seed + 1)
            let g = ConvGeometry(input: x.shape, weight: wt.shape, stride: st, padding: pad, dilation: dil)
            let bias = Tensor.uniform([o], seed: seed + 2), res = Tensor.uniform(g.outShape, seed: seed + 3)
            let dy = Tensor.uniform(g.outShape, seed: seed + 4)
            let packed = Gemm.packA(m: o, k: g.colRows, a: wt.data, lda: g.colRows)
            func run(_ on: Bool) -> [[Float]] {
                Conv.sampleTasks = on
                XCTAssertEqual(Conv.useSampleTasks(g), on && Gemm.native, "\(g): the path under test")
                return [Conv.forward(x, wt, bias: bias, g, relu: true, residual: res).array,
                        Conv.forward(x, wt, bias: nil, g, packed: packed).array,
                        Conv.backwardInput(dy, wt, g).array, Conv.backwardWeight(dy, x, g).array]
            }
            let step = run(false), tasks = run(true)
            for (i, what) in ["forward", "forward, packed", "input gradient", "weight gradient"].enumerated() {
                sameBits(tasks[i], step[i], "sample tasks, \(what), \(n)x\(c)x\(h)x\(w) -> \(o) k\(k) s\(st) p\(pad) d\(dil)")
            }
        }
    }

    /// conv_cols.c's padded planes, im2col and col2im against the Swift loops: the same bits, row
    /// widths under, at and over a vector, strides 1-3, dilation, padding 0-2, several samples.
    func testConvCopiesInCKeepTheBits() throws {
        guard VectorISA.supported == 2 else { throw XCTSkip("conv_cols.c runs on AVX-512 only") }
        defer { Conv.copiesInC = true }
        // (n, c, h, w, o, k, stride, pad, dil)
        let shapes = [(3, 5, 4, 4, 6, 3, 1, 1, 1), (2, 4, 9, 35, 5, 3, 1, 1, 1), (2, 3, 17, 33, 4, 3, 2, 1, 1),
                      (2, 3, 16, 16, 4, 3, 3, 1, 1), (2, 4, 12, 12, 3, 3, 1, 2, 2), (2, 3, 19, 40, 4, 7, 2, 3, 1),
                      (2, 6, 9, 9, 5, 1, 2, 0, 1), (3, 2, 8, 8, 4, 3, 2, 0, 1)]
        var seed: UInt64 = 90
        for (n, c, h, w, o, k, st, pad, dil) in shapes {
            seed += 1
            let x = Tensor.uniform([n, c, h, w], seed: seed), wt = Tensor.uniform([o, c, k, k], seed: seed + 1)
            let g = ConvGeometry(input: x.shape, weight: wt.shape, stride: st, padding: pad, dilation: dil)
            let rows = g.colRows, cols = n * g.ho * g.wo
            let colIn = Tensor.uniform([rows * cols], seed: seed + 2), dy = Tensor.uniform(g.outShape, seed: seed + 3)
            func run(_ inC: Bool) -> [[Float]] {
                Conv.copiesInC = inC
                let col = Tensor(shape: [rows * cols], repeating: 7), dx = Tensor(shape: x.shape, repeating: 7)
                Conv.im2col(x.data, g, 0, col.data, samples: n, ld: cols)
                Conv.col2im(colIn.data, g, 0, dx.data, samples: n, ld: cols)
                return [col.array, dx.array, Conv.forward(x, wt, bias: nil, g).array, Conv.backwardInput(dy, wt, g).array,
                        Conv.backwardWeight(dy, x, g).array]
            }
            let swift = run(false), c = run(true)
            for (i, what) in ["im2col", "col2im", "forward", "input gradient", "weight gradient"].enumerated() {
                sameBits(c[i], swift[i], "conv_cols.c, \(what), \(n)x\(c)x\(h)x\(w) -> \(o) k\(k) s\(st) p\(pad) d\(dil)")
            }
            XCTAssertEqual(swift[0], ConvNaive.im2col(x, g, 0, samples: n, ld: cols), "im2col against the naive twin, \(g)")
        }
    }

    /// Synchronised BN's per-replica sums and input gradient, computed per (sample, channel) plane:
    /// the bits of a channel's loop over its samples (Float per plane, Double across planes in order).
    func testBatchNormReplicaSumsKeepTheChannelLoopBits() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        let (n, c, hw) = (8, 5, 37)
        let x = Tensor.uniform([n, c, hw, 1], seed: 11), dy = Tensor.uniform([n, c, hw, 1], seed: 12)
        let gamma = Tensor.uniform([c], seed: 13)
        let mean = (0..<c).map { Double($0) * 0.01 - 0.02 }, meanF = mean.map(Float.init)
        let invstd = (0..<c).map { 1 + Float($0) * 0.1 }, sumDy = (0..<c).map { Float($0) - 1.5 }, sumDyX = (0..<c).map { Float($0) * 0.3 }
        for threads in [1, 2, 3] {
            Parallel.setThreads(threads)
            for replicas in [1, 2, 4] {
                let per = n / replicas
                var sums = [Double](), devs = [Double](), back = [Double](repeating: 0, count: replicas * 2 * c)
                for rep in 0..<replicas {
                    for ch in 0..<c {
                        var s = 0.0, v = 0.0, sdy = 0.0, sdyx = 0.0
                        for i in (rep * per)..<((rep + 1) * per) {
                            let plane = x.data + (i * c + ch) * hw, g = dy.data + (i * c + ch) * hw
                            s += Double(Reduce.sum(plane, hw))
                            v += Double(Reduce.sumSquaredDeviation(plane, hw, Float(mean[ch])))
                            let sg = Double(Reduce.sum(g, hw))
                            sdy += sg
                            sdyx += Double(Reduce.dot(g, plane, hw)) - Double(meanF[ch]) * sg
                        }
                        sums.append(s); devs.append(v)
                        back[rep * 2 * c + ch] = sdy; back[rep * 2 * c + c + ch] = sdyx
                    }
                }
                XCTAssertEqual(BatchNormKernel.partialSums(x, replicas: replicas), sums, "sums, \(replicas) replicas, \(threads) threads")
                XCTAssertEqual(BatchNormKernel.partialSums(x, replicas: replicas, mean: mean), devs, "squared deviations")
                XCTAssertEqual(BatchNormKernel.backwardPartials(dy, x, mean: meanF, replicas: replicas), back, "backward partials")
            }
            let dx = BatchNormKernel.backwardInput(dy, x, mean: meanF, invstd: invstd, gamma: gamma, sumDy: sumDy, sumDyXhat: sumDyX,
                                                   count: 123)
            var expected = [Float](repeating: 0, count: x.count)
            for ch in 0..<c {
                let k = gamma[ch] * invstd[ch], a = sumDy[ch] / 123, b = sumDyX[ch] / 123
                for i in 0..<n { for t in 0..<hw {
                    let e = (i * c + ch) * hw + t
                    expected[e] = k * (dy[e] - a - (x[e] - meanF[ch]) * invstd[ch] * b)
                } }
            }
            sameBits(dx.array, expected, "BN input gradient, \(threads) threads")
        }
    }

    func testKernelsDoNotDependOnThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        let x = Tensor.uniform([2, 6, 17, 19], seed: 3)
        let dw = Tensor.uniform([6, 1, 3, 3], seed: 4)
        func run() -> [[Float]] {
            let g = ConvGeometry(input: x.shape, weight: dw.shape, padding: 1, groups: 6)
            let y = Conv.forward(x, dw, bias: nil, g)
            let gw = Conv.backwardWeight(y, x, g)
            let (m, v) = BatchNormKernel.statistics(x)
            let ln = LayerNormKernel.forward(x, gamma: Tensor(shape: [19], repeating: 1), beta: Tensor(zeros: [19]), eps: 1e-5)
            let lb = LayerNormKernel.backward(ln.0, x, mean: ln.1, invstd: ln.2, gamma: Tensor(shape: [19], repeating: 1.5), needInput: true)
            let up = ResizeKernel.bilinearBackward(ResizeKernel.bilinear(x, height: 33, width: 40, alignCorners: false), inputShape: x.shape, alignCorners: false)
            return [y.array, gw.array, m.map { Float($0) }, v.map { Float($0) }, lb.0!.array, lb.1.array, up.array]
        }
        Parallel.setThreads(1)
        let a = run()
        Parallel.setThreads(2)
        let b = run(), c = run()
        XCTAssertEqual(a, b, "depthwise conv, BN stats, layer norm, resize: 1 vs 2 threads")
        XCTAssertEqual(b, c, "run to run")
    }

    /// With the minimum thread timeout, OpenBLAS's workers stop keeping a core busy after a GEMM
    /// (with its default they burnt ~80-90 ms of CPU per 200 ms idle on a quiet machine; that side
    /// depends on the machine's load, so it is measured by dcot-bench, not asserted here).
    func testBlasThreadTimeout() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved); BLAS.setThreadTimeout(exponent: 28) }
        Parallel.setThreads(2)
        BLAS.setThreadTimeout(exponent: 4)
        XCTAssertLessThan(BLAS.idleBurnAfterGemm(), 30, "ms of CPU burnt while idle after a GEMM (timeout 2^4)")
    }

    func testBufferPoolReusesBuffers() {
        XCTAssertEqual(BufferPool.sizeClass(1), 64)
        XCTAssertEqual(BufferPool.sizeClass(1000), 1024)
        XCTAssertEqual(BufferPool.sizeClass(1025), 1280)
        XCTAssertGreaterThanOrEqual(BufferPool.sizeClass(123_457), 123_457)
        XCTAssertLessThanOrEqual(BufferPool.sizeClass(123_457), 123_457 * 5 / 4)
        // Each size class has its own free list, numbered in size order.
        var last = -1
        for n in [1, 64, 65, 80, 81, 96, 113, 128, 129, 1000, 1025, 123_457, 1 << 20, (1 << 20) + 1, 3_000_017, 1 << 40] {
            let cap = BufferPool.sizeClass(n), i = BufferPool.classIndex(cap)
            XCTAssertEqual(BufferPool.classCapacity(i), cap, "size class of \(n)")
            XCTAssertGreaterThanOrEqual(i, last); last = i
        }
        XCTAssertEqual((0..<12).map(BufferPool.classCapacity), [64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448])
        do { _ = Tensor(shape: [3, 77, 91]) }
        let before = BufferPool.shared.hits
        do { _ = Tensor(shape: [3, 77, 91]) }
        XCTAssertEqual(BufferPool.shared.hits, before + 1)
    }

    /// Slices and their adjoint over a few long runs (a weight's rows, outer count under the thread
    /// count: the runs are cut across threads) and over many short ones, against plain loops.
    func testSliceAndAddSliceOverLongRuns() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for threads in [1, 2] {
            Parallel.setThreads(threads)
            for (shape, axis, start, length) in [([3 * 200, 300], 0, 200, 400), ([2, 5, 9000], 1, 1, 3), ([40, 12], 1, 4, 5)] {
                let x = Tensor.uniform([shape.reduce(1, *)], seed: 5).reshaped(shape)
                let y = ShapeKernel.slice(x, axis: axis, start: start, length: length)
                let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
                var want = [Float](), sum = x.array
                for o in 0..<outer {
                    for i in 0..<(length * inner) {
                        let at = o * shape[axis] * inner + start * inner + i
                        want.append(x.data[at]); sum[at] += x.data[at]
                    }
                }
                XCTAssertEqual(y.array, want, "slice \(shape) axis \(axis), \(threads) threads")
                let dst = x.copy()
                ShapeKernel.addSlice(y, into: dst, axis: axis, start: start)
                XCTAssertEqual(dst.array, sum, "addSlice \(shape) axis \(axis), \(threads) threads")
            }
        }
    }

    /// Threads taking and returning buffers at the same moment (the pool's sample tasks) under the
    /// spin lock: no buffer is handed to two tensors alive at once, and the books balance.
    func testBufferPoolUnderConcurrentThreads() {
        let threads = 4, rounds = 30_000
        let cachedBefore = BufferPool.shared.cachedBytes
        nonisolated(unsafe) var clashes = [Int](repeating: 0, count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for r in 0..<rounds {
                let n = 64 * (1 + (r * 7 + t) % 5)                  // a few size classes, shared by all
                let a = Tensor(shape: [n]), b = Tensor(shape: [n])
                a.fill(Float(t)); b.fill(Float(-1 - t))
                if a.data == b.data || a.data[n - 1] != Float(t) || b.data[0] != Float(-1 - t) { clashes[t] += 1 }
            }
        }
        XCTAssertEqual(clashes, [Int](repeating: 0, count: threads), "a buffer served two live tensors")
        XCTAssertGreaterThanOrEqual(BufferPool.shared.cachedBytes, cachedBefore, "buffers lost from the books")
    }

    /// A request whose size class has no idle buffer takes the smallest idle one of up to twice
    /// its class (pages already resident) instead of a new allocation.
    func testBufferPoolServesFromLargerIdleBuffer() {
        let big = 3_000_017, small = BufferPool.sizeClass(big) / 2 + 1        // one class, or a few, below
        XCTAssertLessThan(BufferPool.sizeClass(small), BufferPool.sizeClass(big))
        do { _ = Tensor(shape: [big]) }
        let misses = BufferPool.shared.misses
        let t = Tensor(shape: [small])
        XCTAssertEqual(BufferPool.shared.misses, misses, "an idle buffer of up to twice the size was not reused")
        XCTAssertGreaterThan(t.storage.capacity, BufferPool.sizeClass(small))
        XCTAssertLessThanOrEqual(t.storage.capacity, 2 * BufferPool.sizeClass(small))
    }
}
