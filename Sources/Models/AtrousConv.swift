// Atrous (dilated) stride-1 convolution that skips taps reading padding: x [N, C, H, W],
// w [O, C, K, K], padding = dilation·(K-1)/2 -> y [N, O, H, W]. Each tap (i, j) is a GEMM
// W[:, :, i, j] · x shifted, over only the output rectangle where the shifted input is inside the
// image. ASPP's rates 6/12/18 on a 21x21 map (VOC 321, output stride 16) leave 65/38/18 % of
// im2col's multiply-adds; conv2d (im2col) is the naive twin (AtrousConvTests).
import CNative
import Tensor
import Autograd
import NN

public enum AtrousConv {
    /// The tap rectangles of a K x K kernel: output rows/cols where tap (i, j) reads inside the image.
    struct Tap {
        let index: Int, dy: Int, dx: Int
        let y0: Int, y1: Int, x0: Int, x1: Int
        var rows: Int { y1 - y0 }
        var cols: Int { x1 - x0 }
        var count: Int { rows * cols }
    }

    static func taps(k: Int, h: Int, w: Int, dilation: Int, padding: Int) -> [Tap] {
        var out: [Tap] = []
        for i in 0..<k {
            for j in 0..<k {
                let dy = i * dilation - padding, dx = j * dilation - padding
                let y0 = max(0, -dy), y1 = min(h, h - dy), x0 = max(0, -dx), x1 = min(w, w - dx)
                if y1 > y0 && x1 > x0 { out.append(Tap(index: i * k + j, dy: dy, dx: dx, y0: y0, y1: y1, x0: x0, x1: x1)) }
            }
        }
        return out
    }

    /// Multiply-adds kept relative to im2col (1 = nothing to skip).
    public static func keptFraction(k: Int, h: Int, w: Int, dilation: Int, padding: Int) -> Double {
        Double(taps(k: k, h: h, w: w, dilation: dilation, padding: padding).reduce(0) { $0 + $1.count }) / Double(k * k * h * w)
    }

    /// Used instead of im2col when it keeps at most this fraction of the work.
    nonisolated(unsafe) public static var maxKeptFraction = 0.7

    /// Whether `conv` on input `shape` takes this path.
    public static func applies(_ conv: Conv2d, _ shape: [Int]) -> Bool {
        let s = conv.weight.shape
        guard conv.stride == 1, conv.groups == 1, conv.dilation > 1, s[2] == s[3], s[2] % 2 == 1,
              conv.padding == conv.dilation * (s[2] - 1) / 2, shape.count == 4 else { return false }
        return keptFraction(k: s[2], h: shape[2], w: shape[3], dilation: conv.dilation, padding: conv.padding) <= maxKeptFraction
    }

    /// Whether a tap's gather and adjoint take conv_cols.c's 16-float windows (`cn_tap_copy`): AVX-512,
    /// planes of at least 16 floats, rows under 16 floats (longer rows are whole vectors in the row
    /// loops already). cnn-dct inference (batch 16, crop 64, 2 threads), these two were 8.7 % of the
    /// profile with the row loops. `tapsInC = false`: the row loops (the same bits; AtrousConvTests).
    nonisolated(unsafe) public static var tapsInC = true

    static func useC(_ t: Tap, h: Int, w: Int) -> Bool {
        tapsInC && VectorISA.level == 2 && h * w >= 16 && t.cols < 16
    }

    /// cn_tap_copy for channels `r`: true when it ran, false when the rectangle spans more windows
    /// than it takes (the row loops then); a rejected argument is a bug here, not a fallback.
    static func tapCopy(_ adjoint: Int32, _ src: UnsafePointer<Float>, _ hw: Int, _ c: Int, _ r: Range<Int>, _ n: Int,
                        _ first: Int, _ t: Tap, _ w: Int, _ dst: UnsafeMutablePointer<Float>, _ ld: Int) -> Bool {
        let rc = cn_tap_copy(adjoint, src, hw, c, r.lowerBound, r.upperBound, n, first, t.rows, t.cols, w, dst, ld)
        precondition(rc == CN_OK || rc == CN_E_UNSUPPORTED, "cn_tap_copy failed with code \(rc)")
        return rc == CN_OK
    }

    /// dst[c][s·P + r·cols + q] = src[s][c][(y0+r+dy)·W + x0+q+dx] for a tap over all samples.
    static func gather(_ src: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, _ t: Tap, dy: Int, dx: Int,
                       _ dst: UnsafeMutablePointer<Float>) {
        let p = t.count, ld = n * p
        // A tap over whole rows (cols == w, so x0 + dx == 0) reads its rows as one run.
        let (rows, cols) = t.cols == w ? (1, p) : (t.rows, t.cols)
        let first = (t.y0 + dy) * w + t.x0 + dx, inC = useC(t, h: h, w: w)
        Parallel.for(c, grain: 8) { r in
            if inC && tapCopy(0, src, h * w, c, r, n, first, t, w, dst, ld) { return }
            for ci in r {
                for s in 0..<n {
                    let plane = src + (s * c + ci) * h * w
                    let out = dst + ci * ld + s * p
                    for row in 0..<rows {            // rows of 2-21 floats: inline copies, not memmove calls
                        Conv.copyFloats(plane + ((t.y0 &+ row &+ dy) &* w &+ t.x0 &+ dx), out + row &* cols, cols)
                    }
                }
            }
        }
    }

    /// dst[s][c][(y0+r+dy)·W + x0+q+dx] += src[c][s·P + r·cols + q] (the adjoint of gather).
    static func scatterAdd(_ src: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, _ t: Tap, dy: Int, dx: Int,
                           _ dst: UnsafeMutablePointer<Float>) {
        let p = t.count, ld = n * p
        let (rows, cols) = t.cols == w ? (1, p) : (t.rows, t.cols)      // as gather
        let first = (t.y0 + dy) * w + t.x0 + dx, inC = useC(t, h: h, w: w)
        Parallel.for(c, grain: 8) { r in
            if inC && tapCopy(1, src, h * w, c, r, n, first, t, w, dst, ld) { return }
            for ci in r {
                for s in 0..<n {
                    let plane = dst + (s * c + ci) * h * w
                    let inp = src + ci * ld + s * p
                    for row in 0..<rows {
                        let at: Int = (t.y0 &+ row &+ dy) &* w &+ t.x0 &+ dx
                        let d = plane + at, q = inp + row &* cols
                        for k in 0..<cols { d[k] += q[k] }
                    }
                }
            }
        }
    }

    /// w [O, C, K, K] -> [K·K, O, C] (one contiguous [O, C] matrix per tap). With `only` (tap
    /// indices), just those taps' matrices are written: a training step packs the taps its input
    /// reads (ASPP's rates 4 and 6 on the demo's 4 x 4 maps read the centre tap alone).
    public static func packTaps(_ w: Tensor, only: [Int]? = nil) -> Tensor {
        let (o, c, kk) = (w.shape[0], w.shape[1], w.shape[2] * w.shape[3])
        let out = Tensor(shape: [kk, o, c]), src = w.data, dst = out.data
        let list = only ?? Array(0..<kk)
        // One output filter's C·K·K floats at a time (in L1), each tap's row of C written in one
        // run: a long inner loop of strided reads, where one of K·K scattered writes per input
        // channel cost about 1 ns a float (3.3 % of a 1-thread cnn-dct process on a Zen 4, now 0.9 %).
        list.withUnsafeBufferPointer { taps in
            Parallel.for(o, grain: max(1, 4096 / max(c &* kk, 1))) { r in
                for oi in r {
                    let from = src + oi &* c &* kk
                    for t in taps {
                        let row = dst + (t &* o &+ oi) &* c, column = from + t
                        for ci in 0..<c { row[ci] = column[ci &* kk] }
                    }
                }
            }
        }
        return out
    }

    /// Calls `one` on each batch group (BatchGroups: a replica's samples compute the same bits in
    /// any batch) and stacks the results.
    static func perGroup(_ x: Tensor, outShape: [Int], _ one: (Tensor) -> Tensor) -> Tensor {
        let n = x.shape[0], ranges = BatchGroups.ranges(n)
        if ranges.count == 1 { return one(x) }
        let out = Tensor(shape: outShape), per = out.count / n
        for r in ranges {
            let y = one(ShapeKernel.slice(x, axis: 0, start: r.lowerBound, length: r.count))
            (out.data + r.lowerBound * per).update(from: y.data, count: per * r.count)
        }
        return out
    }

    /// `packed`: packTaps(w) when the caller keeps it (inference with fixed weights); `packedTaps`:
    /// Gemm.packA(stack: packed), the same, packed for dcot's GEMM (the same bits).
    /// With every tap in `packedTaps` current, w is read for its shape only.
    public static func forward(_ x: Tensor, _ w: Tensor, dilation: Int, padding: Int, packed: Tensor? = nil,
                               packedTaps: [Gemm.PackedA] = []) -> Tensor {
        let taps = w.shape[2] * w.shape[3]
        let tapsPacked = packedTaps.count == taps && packedTaps.allSatisfy(\.current)
        let packed = tapsPacked ? nil : packed ?? packTaps(w)
        return perGroup(x, outShape: [x.shape[0], w.shape[0], x.shape[2], x.shape[3]]) {
            forwardGroup($0, w, packed, tapsPacked ? packedTaps : [], dilation: dilation, padding: padding)
        }
    }

    /// `packed` (packTaps(w)) or `packedTaps` (every tap, current).
    static func forwardGroup(_ x: Tensor, _ w: Tensor, _ packed: Tensor?, _ packedTaps: [Gemm.PackedA], dilation: Int,
                             padding: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k) = (w.shape[0], w.shape[2])
        let y = Tensor(zeros: [n, o, h, wd])
        let tapList = taps(k: k, h: h, w: wd, dilation: dilation, padding: padding)
        // Samples s0 ..< s1 through every tap in order: gather, the tap's GEMM, the adjoint add; each
        // thread its own share (Conv.sampleTasks: dcot's GEMM computes an element the same way
        // whatever the product's columns, so the same bits).
        Conv.forEachSampleShare(n) { share in
            let (s0, ns) = (share.lowerBound, share.count), xs = x.data + s0 * c * h * wd, ys = y.data + s0 * o * h * wd
            for t in tapList {
                let p = t.count
                let xt = Tensor(shape: [c, ns * p]), yt = Tensor(shape: [o, ns * p])
                gather(xs, n: ns, c: c, h: h, w: wd, t, dy: t.dy, dx: t.dx, xt.data)
                let tapA: Gemm.PackedA? = packedTaps.isEmpty ? nil : packedTaps[t.index]
                Gemm.sgemm(packed: tapA, m: o, n: ns * p, k: c, a: packed.map { $0.data + t.index * o * c } ?? tapA!.data,
                           lda: c, b: xt.data, ldb: ns * p, c: yt.data, ldc: ns * p)
                scatterAdd(yt.data, n: ns, c: o, h: h, w: wd, t, dy: 0, dx: 0, ys)
            }
        }
        return y
    }

    public static func backwardInput(_ g: Tensor, _ w: Tensor, inputShape: [Int], dilation: Int, padding: Int,
                                     packed: Tensor? = nil) -> Tensor {
        let packed = packed ?? packTaps(w)
        return perGroup(g, outShape: inputShape) {
            backwardInputGroup($0, w, packed, inputShape: [$0.shape[0]] + inputShape.dropFirst(), dilation: dilation, padding: padding)
        }
    }

    static func backwardInputGroup(_ g: Tensor, _ w: Tensor, _ packed: Tensor, inputShape: [Int], dilation: Int,
                                   padding: Int) -> Tensor {
        let (n, c, h, wd) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (o, k) = (w.shape[0], w.shape[2])
        let dx = Tensor(zeros: inputShape)
        let tapList = taps(k: k, h: h, w: wd, dilation: dilation, padding: padding)
        Conv.forEachSampleShare(n) { share in                     // as forwardGroup
            let (s0, ns) = (share.lowerBound, share.count), gs = g.data + s0 * o * h * wd, dxs = dx.data + s0 * c * h * wd
            for t in tapList {
                let p = t.count
                let gt = Tensor(shape: [o, ns * p]), dxt = Tensor(shape: [c, ns * p])
                gather(gs, n: ns, c: o, h: h, w: wd, t, dy: 0, dx: 0, gt.data)
                Gemm.sgemm(transA: true, m: c, n: ns * p, k: o, a: packed.data + t.index * o * c, lda: c, b: gt.data, ldb: ns * p,
                           c: dxt.data, ldc: ns * p)
                scatterAdd(dxt.data, n: ns, c: c, h: h, w: wd, t, dy: t.dy, dx: t.dx, dxs)
            }
        }
        return dx
    }

    public static func backwardWeight(_ g: Tensor, _ x: Tensor, weightShape: [Int], dilation: Int, padding: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, k) = (weightShape[0], weightShape[2])
        let dw = Tensor(shape: weightShape)
        let kk = k * k
        // Each tap's slice of dW is one product of its own: with dcot's GEMM on the pool, the taps are
        // the tasks of one job (largest first), each product whole on one thread, where each tap
        // was four jobs (two gathers, the product cut over the threads, the copy into dW). The same
        // products, so the same bits.
        let tapList = taps(k: k, h: h, w: wd, dilation: dilation, padding: padding).sorted { $0.count > $1.count }
        // The taps that read only padding get zeros, the others their product below: no serial
        // memset of the whole gradient first (cnn-dct's ASPP: ~0.4 ms of one thread per step).
        let skipped = Set(0..<kk).subtracting(tapList.map(\.index)).sorted()
        if !skipped.isEmpty {
            let dst = dw.data, rows = o * c
            Parallel.for(rows, grain: 4096) { r in for row in r { for ti in skipped { dst[row * kk + ti] = 0 } } }
        }
        func one(_ t: Tap) {
            let p = t.count
            let gt = Tensor(shape: [o, n * p]), xt = Tensor(shape: [c, n * p]), dwt = Tensor(shape: [o, c])
            gather(g.data, n: n, c: o, h: h, w: wd, t, dy: 0, dx: 0, gt.data)
            gather(x.data, n: n, c: c, h: h, w: wd, t, dy: t.dy, dx: t.dx, xt.data)
            Gemm.sgemm(transB: true, m: o, n: c, k: n * p, a: gt.data, lda: n * p, b: xt.data, ldb: n * p,
                       c: dwt.data, ldc: c)
            let src = dwt.data, dst = dw.data + t.index
            Parallel.for(o, grain: 16) { r in
                for e in (r.lowerBound &* c)..<(r.upperBound &* c) { dst[e &* kk] = src[e] }
            }
        }
        if Conv.sampleTaskCount(n) > 0 && tapList.count > 1 {
            Gemm.independent(tapList.count) { one(tapList[$0]) }
        } else {
            for t in tapList { one(t) }
        }
        return dw
    }
}

// Inference: a dilated stride-1 3x3 conv with padding = dilation d splits into d x d independent
// undilated 3x3 convs with padding 1, one per phase subimage x[:, :, p::d, q::d] (output pixel
// (p + d·i, q + d·j) reads only input pixels of its own phase). The phases, zero-padded to one size
// (the zeros past a short phase's edge are the padding it would read), run through Winograd F(4x4)
// as d² samples each, so ResNet's dilated layer4 (and OS8's layer3) gets F(4x4)'s 4x fewer multiplies
// like the undilated convs. Same rounding study and tolerance as F(4x4) (Winograd4.swift); tested
// against conv2d (AtrousConvTests).
extension AtrousConv {
    /// Phase subimages of at least this many pixels high and wide take the phase path (crop 321's
    /// layer4: 21 x 21 in 2 x 2 phases of 11 x 11).
    nonisolated(unsafe) public static var phaseMinSide = 8

    /// The undilated geometry each phase runs: [N·d², C, ceil(H/d), ceil(W/d)], padding 1.
    static func phaseGeometry(_ g: ConvGeometry) -> ConvGeometry {
        let d = g.dilation
        return ConvGeometry(input: [g.n * d * d, g.c, (g.h + d - 1) / d, (g.w + d - 1) / d], weight: [g.o, g.c, 3, 3], padding: 1)
    }

    /// Whether the inference forward of `g` runs as d² phase convs through F(4x4).
    public static func usePhaseWinograd4(_ g: ConvGeometry) -> Bool {
        guard g.kh == 3, g.kw == 3, g.stride == 1, g.groups == 1, g.dilation > 1, g.padding == g.dilation,
              min(g.c, g.o) >= Conv.winograd4ActiveMinChannels else { return false }
        let p = phaseGeometry(g)
        return min(p.ho, p.wo) >= phaseMinSide && BatchGroups.size(g.n) * g.dilation * g.dilation * ((p.ho + 3) / 4) * ((p.wo + 3) / 4) >= Conv.winograd4MinTiles
    }

    /// body(pixel, p, q, at) for every pixel y·W + x of an H x W plane: its phase (p, q) = (y mod d, x mod d)
    /// and its offset at = (y / d)·pw + x / d in that phase's plane of width pw.
    @inline(__always)
    static func forEachPhasePixel(h: Int, w: Int, d: Int, pw: Int, _ body: (Int, Int, Int, Int) -> Void) {
        for p in 0..<d {
            for q in 0..<d {
                var i = 0, y = p
                while y < h {
                    var j = 0, x = q
                    while x < w { body(y &* w &+ x, p, q, i &* pw &+ j); j &+= 1; x &+= d }
                    i &+= 1; y &+= d
                }
            }
        }
    }

    /// relu?(conv(x, w, dilation, padding = dilation) + bias) for a `usePhaseWinograd4` geometry, u = winograd4Filter(w).
    public static func phaseWinograd4Forward(_ x: Tensor, _ u: Tensor?, _ g: ConvGeometry, bias: Tensor?, relu: Bool,
                                             packedU: [Gemm.PackedA] = []) -> Tensor {
        perGroup(x, outShape: g.outShape) { xg in
            BatchGroups.one {                     // a group's phases are one batch of d² samples each
                let n = xg.shape[0], d = g.dilation, (c, h, w, o) = (g.c, g.h, g.w, g.o)
                let pg = phaseGeometry(ConvGeometry(input: xg.shape, weight: [o, c, 3, 3], padding: d, dilation: d))
                let (ph, pw) = (pg.h, pg.w)
                let xs = Tensor(zeros: [n * d * d, c, ph, pw]), src = xg.data, dst = xs.data
                Parallel.for(n * c, grain: 4) { r in
                    for plane in r {
                        let s = plane / c, ci = plane &- s &* c, from = src + plane &* h &* w
                        forEachPhasePixel(h: h, w: w, d: d, pw: pw) { pixel, p, q, at in
                            dst[(((s &* d &+ p) &* d &+ q) &* c &+ ci) &* ph &* pw &+ at] = from[pixel]
                        }
                    }
                }
                let ys = Conv.winograd4Forward(xs, u, pg, bias: bias, relu: relu, packedU: packedU)
                let out = Tensor(shape: [n, o, h, w]), yp = ys.data, op = out.data
                Parallel.for(n * o, grain: 4) { r in
                    for plane in r {
                        let s = plane / o, oi = plane &- s &* o, to = op + plane &* h &* w
                        forEachPhasePixel(h: h, w: w, d: d, pw: pw) { pixel, p, q, at in
                            to[pixel] = yp[(((s &* d &+ p) &* d &+ q) &* o &+ oi) &* ph &* pw &+ at]
                        }
                    }
                }
                withExtendedLifetime(ys) {}       // read through yp above
                return out
            }
        }
    }
}

/// The autograd op: conv2d(x, w, bias: nil, stride 1, padding, dilation) computed tap by tap.
public func atrousConv2d(_ x: Variable, _ w: Variable, dilation: Int, padding: Int) -> Variable {
    let (k, h, wd) = (w.shape[2], x.shape[2], x.shape[3])
    let packed = AtrousConv.packTaps(w.value, only: AtrousConv.taps(k: k, h: h, w: wd, dilation: dilation, padding: padding).map(\.index))
    let y = AtrousConv.forward(x.value, w.value, dilation: dilation, padding: padding, packed: packed)
    let (sx, sw, xShape, wShape) = (x.slot, w.slot, x.shape, w.shape)
    let xv: Tensor? = sw != nil ? x.value : nil, wv: Tensor? = sx != nil ? w.value : nil
    let pv: Tensor? = sx != nil ? packed : nil                 // the input gradient multiplies by it again
    return Tape.record(y, [x, w]) { g in
        if let sw, let xv {
            accumulatePerReplica(sw, [g, xv]) { t in
                AtrousConv.backwardWeight(t[0], t[1], weightShape: wShape, dilation: dilation, padding: padding)
            }
        }
        if let sx, let wv {
            sx.accumulate(AtrousConv.backwardInput(g, wv, inputShape: xShape, dilation: dilation, padding: padding, packed: pv))
        }
    }
}
