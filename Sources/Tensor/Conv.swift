// 2-D convolution kernels. x: [N, C, H, W], w: [O, C/groups, KH, KW] (OIHW), y: [N, O, HO, WO].
// im2col/col2im + sgemm (1x1 stride-1 unpadded convs skip im2col); depthwise 3x3 has its own kernel
// (DepthwiseConv.swift). Backward uses sgemm for both the input and the weight gradient.

import CNative

public struct ConvGeometry: Equatable, Sendable {
    public let n, c, h, w, o, kh, kw, stride, padding, dilation, groups, ho, wo: Int

    public init(input: [Int], weight: [Int], stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        precondition(input.count == 4 && weight.count == 4, "conv2d expects x [N,C,H,W], w [O,C/g,KH,KW]")
        (n, c, h, w) = (input[0], input[1], input[2], input[3])
        (o, kh, kw) = (weight[0], weight[2], weight[3])
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        precondition(c % groups == 0 && o % groups == 0 && weight[1] == c / groups,
                     "conv2d: x \(input), w \(weight), groups \(groups) do not match")
        ho = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        wo = (w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
        precondition(ho > 0 && wo > 0, "conv2d: empty output for input \(input)")
    }

    public var cg: Int { c / groups }
    public var og: Int { o / groups }
    /// Rows of the column matrix of one group: C/g * KH * KW.
    public var colRows: Int { cg * kh * kw }
    public var outShape: [Int] { [n, o, ho, wo] }
    public var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && padding == 0 }
    public var isDepthwise3x3: Bool { groups == c && c == o && kh == 3 && kw == 3 }
    /// Multiply-adds x 2 of the forward pass.
    public var flops: Double { 2.0 * Double(n * o * ho * wo) * Double(colRows) }
}

public enum Conv {
    // MARK: im2col / col2im (samples side by side, channels c0..<c0+cg)

    /// The planes im2col reads and col2im writes: x itself when unpadded, else a copy of channels
    /// c0..<c0+cg with `padding` zeros around each plane, so every tap's rows are in bounds and the
    /// copies need no per-row clipping (16-float rows of 16x16 maps were dominated by the clipping
    /// branches and memset/memmove calls: cnn-dct inference profile, im2col 26 %).
    @usableFromInline
    struct Planes {
        @usableFromInline let base: UnsafeMutablePointer<Float>     // channel c0 of sample 0
        @usableFromInline let hp: Int, wp: Int, channelStride: Int, sampleStride: Int
        @usableFromInline let owner: Tensor?

        @inlinable
        init(base: UnsafeMutablePointer<Float>, hp: Int, wp: Int, channelStride: Int, sampleStride: Int, owner: Tensor?) {
            (self.base, self.hp, self.wp, self.channelStride, self.sampleStride, self.owner) = (base, hp, wp, channelStride, sampleStride, owner)
        }
    }

    @inlinable
    static func planes(_ x: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ c0: Int, samples: Int, copyIn: Bool,
                       channels: Int? = nil) -> Planes {
        let hw = g.h &* g.w, cn = channels ?? g.cg
        if g.padding == 0 { return Planes(base: x + c0 &* hw, hp: g.h, wp: g.w, channelStride: hw, sampleStride: g.c &* hw, owner: nil) }
        let p = g.padding, hp = g.h &+ 2 &* p, wp = g.w &+ 2 &* p, plane = hp &* wp
        let t = Tensor(shape: [samples &* cn &* plane])
        let out = Planes(base: t.data, hp: hp, wp: wp, channelStride: plane, sampleStride: cn &* plane, owner: t)
        if copyIn {
            let dst = t.data, inC = copiesInC && VectorISA.level == 2
            Parallel.for(samples &* cn, grain: max(1, 2048 / max(plane, 1))) { range in
                for idx in range {
                    let s = idx / cn, ci = idx &- s &* cn
                    let from = x + (s &* g.c &+ c0 &+ ci) &* hw, to = dst + idx &* plane
                    if inC {
                        let rc = cn_pad_plane(from, g.h, g.w, p, to)
                        precondition(rc == CN_OK, "cn_pad_plane failed with code \(rc)")
                        continue
                    }
                    zeroFloats(to, p &* wp &+ p)
                    for y in 0..<g.h {
                        let row = to + ((y &+ p) &* wp &+ p)
                        copyFloats(from + y &* g.w, row, g.w)
                        zeroFloats(row + g.w, 2 &* p)                      // right pad, then next row's left pad
                    }
                    zeroFloats(to + ((g.h &+ p) &* wp &+ p), p &* wp &- p)
                }
            }
        }
        return out
    }

    /// col[(ci*KH + i)*KW + j][s*HO*WO + oy*WO + ox] = x[s][c0+ci][oy*s - p + i*d][ox*s - p + j*d] (0
    /// outside), for `samples` consecutive samples from x; rows of col are `ld` floats apart.
    /// Naive twin: ConvNaive.im2col.
    @inlinable
    public static func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ col: UnsafeMutablePointer<Float>,
                              samples: Int = 1, ld: Int? = nil) {
        let rows = g.colRows, howo = g.ho &* g.wo, ld = ld ?? howo
        let src = planes(UnsafeMutablePointer(mutating: x), g, c0, samples: samples, copyIn: true)
        Parallel.for(rows, grain: max(1, 8 / max(samples, 1))) { range in
            im2colRows(src, g, range, col + range.lowerBound &* ld, samples: samples, ld: ld)
        }
        withExtendedLifetime(src.owner) {}
    }

    /// Whether the copies around im2col convs (padded planes, im2col, col2im) run conv_cols.c's
    /// AVX-512 loops where the CPU has them (false, or below VectorISA level 2: the Swift loops; the
    /// same bits, tests compare them).
    nonisolated(unsafe) public static var copiesInC = true

    /// Rows `rows` of the column matrix (row r at dst + (r - rows.lowerBound) * ld).
    @inlinable
    static func im2colRows(_ src: Planes, _ g: ConvGeometry, _ rows: Range<Int>, _ dst: UnsafeMutablePointer<Float>,
                           samples: Int, ld: Int) {
        if copiesInC && VectorISA.level == 2 {
            let rc = cn_im2col(src.base, src.wp, src.channelStride, src.sampleStride, g.kh, g.kw, g.stride, g.dilation,
                               g.ho, g.wo, samples, rows.lowerBound, rows.upperBound, dst, ld)
            precondition(rc == CN_OK, "cn_im2col failed with code \(rc)")
            return
        }
        let howo = g.ho &* g.wo
        for r in rows { im2colRow(src, g, r, dst + (r &- rows.lowerBound) &* ld, samples: samples, howo: howo) }
    }

    /// Row r of the column matrix for `samples` samples (HO*WO floats each, side by side at dst).
    @inlinable @inline(__always)
    static func im2colRow(_ src: Planes, _ g: ConvGeometry, _ r: Int, _ dst: UnsafeMutablePointer<Float>,
                          samples: Int, howo: Int) {
        let j = r % g.kw, i = (r / g.kw) % g.kh, ci = r / (g.kw &* g.kh)
        let jd = j &* g.dilation, offset = ci &* src.channelStride &+ i &* g.dilation &* src.wp &+ jd
        let rowStep = g.stride &* src.wp
        for s in 0..<samples {
            var from = src.base + (s &* src.sampleStride &+ offset)
            var d = dst + s &* howo
            for _ in 0..<g.ho {
                if g.stride == 1 {
                    copyFloats(from, d, g.wo)
                } else if g.stride == 2 {
                    // 16 loaded, even lanes kept, while the 16 floats stay inside the padded row.
                    var ox = 0
                    while ox &+ 8 <= g.wo && 2 &* ox &+ jd &+ 16 <= src.wp {
                        let v = UnsafeRawPointer(from + 2 &* ox).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(d + ox).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                        ox &+= 8
                    }
                    while ox < g.wo { d[ox] = from[2 &* ox]; ox &+= 1 }
                } else {
                    var ox = 0
                    while ox < g.wo { d[ox] = from[ox &* g.stride]; ox &+= 1 }
                }
                from += rowStep
                d += g.wo
            }
        }
    }

    /// Copies of the short rows of small maps inline: a memmove call per 16-float row cost more
    /// than the copy.
    @inlinable @inline(__always)
    public static func copyFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        if n > 64 { dst.update(from: src, count: n); return }
        var i = 0
        while i &+ 16 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self),
                                                        as: SIMD16<Float>.self)
            i &+= 16
        }
        if i &+ 8 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self),
                                                        as: SIMD8<Float>.self)
            i &+= 8
        }
        if i &+ 4 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD4<Float>.self),
                                                        as: SIMD4<Float>.self)
            i &+= 4
        }
        while i < n { dst[i] = src[i]; i &+= 1 }
    }

    @inlinable @inline(__always)
    static func zeroFloats(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        if n > 64 { dst.update(repeating: 0, count: n); return }
        var i = 0
        while i < n { dst[i] = 0; i &+= 1 }
    }

    /// dx[s][c0+ci] = the scatter-add of col (the adjoint of im2col) for `samples` samples whose
    /// columns sit side by side in col (rows `ld` apart); overwrites those planes. Parallel over
    /// (sample, channel): deterministic. Taps add in (i, j, oy, ox) order. Naive twin: ConvNaive.col2im.
    @inlinable
    public static func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ dx: UnsafeMutablePointer<Float>,
                              samples: Int = 1, ld: Int? = nil) {
        let hw = g.h &* g.w, howo = g.ho &* g.wo, ld = ld ?? howo, p = g.padding
        let dst = planes(dx, g, c0, samples: samples, copyIn: false)
        let plane = dst.hp &* dst.wp, rowStep = g.stride &* dst.wp, inC = copiesInC && VectorISA.level == 2
        Parallel.for(g.cg &* samples, grain: 1) { range in
            for idx in range {
                let sample = idx / g.cg, ci = idx &- sample &* g.cg
                let acc = dst.base + (sample &* dst.sampleStride &+ ci &* dst.channelStride)
                if inC {
                    let rc = cn_col2im_plane(col + (ci &* g.kh &* g.kw &* ld &+ sample &* howo), ld, acc, dst.wp, plane, g.kh, g.kw,
                                             g.stride, g.dilation, g.ho, g.wo)
                    precondition(rc == CN_OK, "cn_col2im_plane failed with code \(rc)")
                    if p > 0 {
                        let out = dx + (sample &* g.c &+ c0 &+ ci) &* hw
                        for y in 0..<g.h { copyFloats(acc + ((y &+ p) &* dst.wp &+ p), out + y &* g.w, g.w) }
                    }
                    continue
                }
                acc.update(repeating: 0, count: plane)
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        var s = col + (((ci &* g.kh &+ i) &* g.kw &+ j) &* ld &+ sample &* howo)
                        var d = acc + (i &* g.dilation &* dst.wp &+ j &* g.dilation)
                        for _ in 0..<g.ho {
                            if g.stride == 1 {
                                for ox in 0..<g.wo { d[ox] += s[ox] }
                            } else {
                                for ox in 0..<g.wo { d[ox &* g.stride] += s[ox] }
                            }
                            s += g.wo
                            d += rowStep
                        }
                    }
                }
                if p > 0 {
                    let out = dx + (sample &* g.c &+ c0 &+ ci) &* hw
                    for y in 0..<g.h { copyFloats(acc + ((y &+ p) &* dst.wp &+ p), out + y &* g.w, g.w) }
                }
            }
        }
        withExtendedLifetime(dst.owner) {}
    }

    /// col2im for a 1x1 unpadded conv with stride s: each input pixel gets at most one value, so
    /// dx is written in one pass (zeros between the sampled pixels) instead of zero-fill + scatter.
    @inlinable
    public static func scatterStrided1x1(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ dx: UnsafeMutablePointer<Float>,
                                         samples: Int = 1, ld: Int? = nil) {
        let hw = g.h &* g.w, howo = g.ho &* g.wo, s = g.stride, ld = ld ?? howo, sampleStride = g.c &* hw
        Parallel.for(g.cg &* samples, grain: 1) { range in
            for idx in range {
                let sample = idx / g.cg, ci = idx &- sample &* g.cg
                let plane = dx + (sample &* sampleStride &+ (c0 &+ ci) &* hw), src = col + (ci &* ld &+ sample &* howo)
                for iy in 0..<g.h {
                    let row = plane + iy &* g.w
                    row.update(repeating: 0, count: g.w)
                    if iy % s != 0 || iy / s >= g.ho { continue }
                    let sr = src + (iy / s) &* g.wo
                    var ox = 0
                    while ox < g.wo { row[ox &* s] = sr[ox]; ox &+= 1 }
                }
            }
        }
    }

    /// Planes [samples][rows][plane] <-> a matrix [rows][samples * plane] (rows `ld` apart): the
    /// layout change around a GEMM over several samples' columns.
    @inlinable
    public static func gatherPlanes(_ src: UnsafePointer<Float>, rows: Int, plane: Int, samples: Int,
                                    _ dst: UnsafeMutablePointer<Float>) {
        let ld = samples &* plane
        Parallel.for(rows &* samples, grain: max(1, 4096 / max(plane, 1))) { range in
            for idx in range {
                let r = idx / samples, s = idx &- r &* samples
                copyFloats(src + (s &* rows &+ r) &* plane, dst + (r &* ld &+ s &* plane), plane)
            }
        }
    }

    /// Planes back from a matrix [rows][samples * plane]: dst[s][r] = src[r][s*plane...] + bias[r],
    /// then max(·, 0) if `relu` (the epilogue of a GEMM over several samples' columns).
    @inlinable
    public static func scatterPlanes(_ src: UnsafePointer<Float>, rows: Int, plane: Int, samples: Int,
                                     _ dst: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                                     residual: UnsafePointer<Float>? = nil) {
        let ld = samples &* plane
        Parallel.for(rows &* samples, grain: max(1, 4096 / max(plane, 1))) { range in
            for idx in range {
                let s = idx / rows, r = idx &- s &* rows
                let from = src + (r &* ld &+ s &* plane), to = dst + idx &* plane
                if let residual { biasResidualRelu(from, residual + idx &* plane, to, plane, bias?[r] ?? 0, relu) }
                else { biasRelu(from, to, plane, bias?[r] ?? 0, relu) }
            }
        }
    }

    /// to[i] = (from[i] + b) + res[i], then max(·, 0) if relu (from may equal to): a conv's bias and a
    /// residual block's sum and ReLU in one pass, in the order and with the bits of the two passes
    /// (biasRelu without ReLU, then Elementwise.addRelu).
    @inlinable @inline(__always)
    static func biasResidualRelu(_ from: UnsafePointer<Float>, _ res: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>,
                                 _ n: Int, _ b: Float, _ relu: Bool) {
        if b == 0 && from == UnsafePointer(to) {     // biasRelu leaves such a row as it is (a -0 stays -0)
            if relu { for i in 0..<n { to[i] = max(from[i] + res[i], 0) } } else { for i in 0..<n { to[i] = from[i] + res[i] } }
            return
        }
        if relu { for i in 0..<n { to[i] = max((from[i] + b) + res[i], 0) } }
        else { for i in 0..<n { to[i] = (from[i] + b) + res[i] } }
    }

    /// to[i] = from[i] + b, then max(·, 0) if relu (from may equal to).
    @inlinable @inline(__always)
    static func biasRelu(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, _ n: Int, _ b: Float, _ relu: Bool) {
        if relu {
            for i in 0..<n { to[i] = max(from[i] + b, 0) }
        } else if b != 0 || from != UnsafePointer(to) {
            for i in 0..<n { to[i] = from[i] + b }
        }
    }

    // MARK: forward / backward

    /// Up to this many columns (samples x HO x WO) share one im2col GEMM: on small maps (the demo
    /// models, dilated last stages) one GEMM over several samples replaces a tiny GEMM per sample
    /// (cnn-rgb at batch 16, crop 64: 16x16 maps, 256 columns per sample). 0: one GEMM per sample.
    nonisolated(unsafe) public static var batchedColumns = 8192
    /// Longest K of one batched weight-gradient GEMM. OpenBLAS's single- and multi-threaded drivers
    /// split a K longer than its K block (GEMM_Q) differently: K = 612 gave other bits at 2 threads
    /// than at 1 (TapeTests.testBitIdenticalAcrossThreadCounts), 256 the same.
    nonisolated(unsafe) public static var batchedMaxK = 256
    /// Cap of the column matrix and GEMM output of one batched GEMM: about what stays in L2 while the
    /// GEMM packs it (cnn-dct / cnn-rgb at 1 thread, batch 16, crop 64: train 136.6 / 206.8 ms with a
    /// 64 MB cap, 124.3 / 191.9 ms with 2 MB, 135.5 / 191.9 ms with one GEMM per sample).
    nonisolated(unsafe) public static var batchedMaxBytes = 2_000_000

    /// Most samples whose columns share one im2col GEMM (1: one GEMM per sample).
    static func batchLimit(_ g: ConvGeometry) -> Int {
        let howo = g.ho * g.wo
        return max(1, g.groups == 1 ? min(batchedColumns / max(howo, 1), batchedMaxBytes / max(bytesPerSample(g), 1)) : 1)
    }

    /// Bytes of one sample's column matrix (or input planes) and GEMM output in a batched GEMM.
    static func bytesPerSample(_ g: ConvGeometry) -> Int { 4 * (max(g.colRows, g.c) + g.o) * g.ho * g.wo }

    /// Sample ranges whose columns share one GEMM, each inside one batch group (BatchGroups), so a
    /// sample's bits do not depend on the batch it is in beyond its replica group, nor on threads.
    /// `oneGroup`: the samples are one replica's rows whatever BatchGroups says (the weight gradient,
    /// which Autograd computes per replica), so the chunks depend on their count only.
    public static func gemmChunks(_ g: ConvGeometry, oneGroup: Bool = false) -> [Range<Int>] {
        let limit = batchLimit(g)
        if oneGroup { return stride(from: 0, to: g.n, by: limit).map { $0..<min($0 + limit, g.n) } }
        return BatchGroups.ranges(g.n, limit: limit)
    }

    /// y = relu?(conv(x, w) + bias); `packed`: w as [O, C·KH·KW] packed once for dcot's GEMM (an
    /// ungrouped conv's fixed inference weights), the same bits as without. `residual` (the output's
    /// shape; only on the im2col / 1x1 path, not depthwise or Winograd): y = relu?((conv + bias) +
    /// residual), a residual block's sum in the output pass. `trainingWinograd4`: whether training's
    /// F(4x4) rule (`useWinograd4Training`) applies; false for inference's folded convs, which
    /// decided on F(4x4) by inference's rule before they come here.
    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry, relu: Bool = false,
                               packed: Gemm.PackedA? = nil, residual: Tensor? = nil, trainingWinograd4: Bool = true) -> Tensor {
        let winograd4 = trainingWinograd4 && useWinograd4Training(g)
        precondition(residual == nil || (!g.isDepthwise3x3 && !useWinograd(g) && !winograd4 && residual!.shape == g.outShape),
                     "Conv.forward: a residual only on the im2col path, of the output's shape")
        if g.isDepthwise3x3 {
            let y = Depthwise.forward(x, w, bias: bias, g)
            if relu { addBiasRelu(y, nil, relu: true) }
            return y
        }
        if winograd4 {
            let u = winograd4Filter(w.data, o: g.o, c: g.c)
            return winograd4Forward(x, u, g, bias: bias, relu: relu)
        }
        let y = Tensor(shape: g.outShape)
        if useWinograd(g) {
            winogradForward(x.data, w.data, g, y.data)
            addBiasRelu(y, bias, relu: relu)
            return y
        }
        let howo = g.ho * g.wo, rows = g.colRows, sampleIn = g.c * g.h * g.w
        if useSampleTasks(g) {
            forEachSampleShare(g.n) { share in
                for r in sampleChunks(g, share) {
                    forwardChunk(x, w, bias: bias, g, r, relu: relu, packed: packed, residual: residual, y)
                }
            }
            return y
        }
        for r in gemmChunks(g) {
            let xs = x.data + r.lowerBound * sampleIn
            if r.count > 1 {
                forwardChunk(x, w, bias: bias, g, r, relu: relu, packed: packed, residual: residual, y)
                continue
            }
            let col: Tensor? = g.isPointwise ? nil : Tensor(shape: [rows * howo])
            for gi in 0..<g.groups {
                let b: UnsafePointer<Float>
                if let col { im2col(xs, g, gi * g.cg, col.data); b = UnsafePointer(col.data) }
                else { b = UnsafePointer(xs + gi * g.cg * howo) }
                Gemm.sgemm(packed: g.groups == 1 ? packed : nil, m: g.og, n: howo, k: rows, a: w.data + gi * g.og * rows, lda: rows, b: b, ldb: howo,
                           c: y.data + (r.lowerBound * g.o + gi * g.og) * howo, ldc: howo)
            }
            addBiasRelu(y.data + r.lowerBound * g.o * howo, bias, relu: relu, planes: g.o, channels: g.o, plane: howo,
                        residual: residual.map { UnsafePointer($0.data + r.lowerBound * g.o * howo) })
        }
        return y
    }

    /// dx = col2im(W^T dy) per sample (or per batched chunk of samples) and group.
    public static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
        if g.isDepthwise3x3 { return Depthwise.backwardInput(dy, w, g) }
        if useWinograd(g) || (isWinogradShape(g) && useWinograd4Training(winogradBackwardGeometry(g))) {
            return winogradBackwardInput(dy, w, g)
        }
        let dx = Tensor(shape: [g.n, g.c, g.h, g.w])
        let howo = g.ho * g.wo, rows = g.colRows, sampleIn = g.c * g.h * g.w
        let strided1x1 = g.kh == 1 && g.kw == 1 && g.padding == 0     // e.g. the stride-2 downsample
        if useSampleTasks(g) {
            forEachSampleShare(g.n) { share in for r in sampleChunks(g, share) { backwardInputChunk(dy, w, g, r, dx) } }
            return dx
        }
        for r in gemmChunks(g) {
            let s = r.lowerBound, dxs = dx.data + s * sampleIn
            if r.count > 1 {
                backwardInputChunk(dy, w, g, r, dx)
                continue
            }
            if g.isPointwise {
                for gi in 0..<g.groups {
                    Gemm.sgemm(transA: true, m: rows, n: howo, k: g.og, a: w.data + gi * g.og * rows, lda: rows,
                               b: dy.data + (s * g.o + gi * g.og) * howo, ldb: howo,
                               c: dx.data + (s * g.c + gi * g.cg) * howo, ldc: howo)
                }
                continue
            }
            let col = Tensor(shape: [rows * howo])
            for gi in 0..<g.groups {
                Gemm.sgemm(transA: true, m: rows, n: howo, k: g.og, a: w.data + gi * g.og * rows, lda: rows,
                           b: dy.data + (s * g.o + gi * g.og) * howo, ldb: howo, c: col.data, ldc: howo)
                if strided1x1 { scatterStrided1x1(col.data, g, gi * g.cg, dxs) }
                else { col2im(col.data, g, gi * g.cg, dxs) }
            }
        }
        return dx
    }

    /// dW = sum over samples of dy x col^T (im2col recomputed here rather than kept from forward).
    public static func backwardWeight(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
        if g.isDepthwise3x3 { return Depthwise.backwardWeight(dy, x, g) }
        if useWinograd(g) { return winogradBackwardWeight(dy, x, g) }
        let dw = Tensor(shape: [g.o, g.cg, g.kh, g.kw])
        let howo = g.ho * g.wo, rows = g.colRows, sampleIn = g.c * g.h * g.w
        if useSampleTasks(g) && rows >= 16 * Parallel.threads {
            backwardWeightByColumns(dy, x, g, dw)
            return dw
        }
        for r in gemmChunks(g, oneGroup: true) {
            let s = r.lowerBound, xs = x.data + s * sampleIn, beta: Float = s == 0 ? 0 : 1
            if r.count > 1 {
                // [O, samples * HO*WO] x [samples * HO*WO, rows]: the sum over the chunk's samples in one GEMM.
                let cols = r.count * howo
                let dyT = Tensor(shape: [g.o * cols]), col = Tensor(shape: [rows * cols])
                gatherPlanes(dy.data + s * g.o * howo, rows: g.o, plane: howo, samples: r.count, dyT.data)
                if g.isPointwise { gatherPlanes(xs, rows: g.c, plane: howo, samples: r.count, col.data) }
                else { im2col(xs, g, 0, col.data, samples: r.count, ld: cols) }
                // K at most `batchedMaxK` per call (whole samples): OpenBLAS's single- and multi-threaded
                // drivers block a longer K differently, and the gradient's bits must not follow the thread count.
                let per = max(1, batchedMaxK / howo)
                for s1 in stride(from: 0, to: r.count, by: per) {
                    let k = min(per, r.count - s1) * howo
                    Gemm.sgemm(transB: true, m: g.o, n: rows, k: k, a: dyT.data + s1 * howo, lda: cols, b: col.data + s1 * howo,
                               ldb: cols, beta: s1 == 0 ? beta : 1, c: dw.data, ldc: rows)
                }
                continue
            }
            let col: Tensor? = g.isPointwise ? nil : Tensor(shape: [rows * howo])
            for gi in 0..<g.groups {
                let b: UnsafePointer<Float>
                if let col { im2col(xs, g, gi * g.cg, col.data); b = UnsafePointer(col.data) }
                else { b = UnsafePointer(xs + gi * g.cg * howo) }
                Gemm.sgemm(transB: true, m: g.og, n: rows, k: howo, a: dy.data + (s * g.o + gi * g.og) * howo, lda: howo,
                           b: b, ldb: howo, beta: beta, c: dw.data + gi * g.og * rows, ldc: rows)
            }
        }
        return dw
    }

    /// Sum of dy over N, H, W per channel: [O].
    public static func backwardBias(_ dy: Tensor) -> Tensor {
        let (n, o) = (dy.shape[0], dy.shape[1]), hw = dy.count / max(n * o, 1)
        let db = Tensor(shape: [o])
        let d = dy.data, out = db.data
        Parallel.for(o) { r in
            for c in r {
                var s = 0.0
                for i in 0..<n { s += Double(Reduce.sum(d + (i * o + c) * hw, hw)) }
                out[c] = Float(s)
            }
        }
        return db
    }

    /// y[n, c, :, :] += bias[c].
    public static func addChannelBias(_ y: Tensor, _ bias: Tensor) { addBiasRelu(y, bias, relu: false) }

    /// y[n, c, :, :] = relu?(y[n, c, :, :] + bias[c]) in place (nothing to do without bias and relu).
    public static func addBiasRelu(_ y: Tensor, _ bias: Tensor?, relu: Bool) {
        let (n, c) = (y.shape[0], y.shape[1])
        addBiasRelu(y.data, bias, relu: relu, planes: n * c, channels: c, plane: y.count / max(n * c, 1))
    }

    /// The same over `planes` consecutive planes of `plane` floats, plane p of channel p % channels.
    public static func addBiasRelu(_ yp: UnsafeMutablePointer<Float>, _ bias: Tensor?, relu: Bool, planes: Int, channels c: Int,
                                   plane hw: Int, residual: UnsafePointer<Float>? = nil) {
        if bias == nil && !relu && residual == nil { return }
        let bp = bias?.data
        Parallel.for(planes, grain: max(1, 4096 / max(hw, 1))) { r in
            for p in r {
                let row = yp + p * hw
                if let residual { biasResidualRelu(row, residual + p * hw, row, hw, bp?[p % c] ?? 0, relu) }
                else { biasRelu(row, row, hw, bp?[p % c] ?? 0, relu) }
            }
        }
    }
}
