// 2-D convolution kernels. x: [N, C, H, W], w: [O, C/groups, KH, KW] (OIHW), y: [N, O, HO, WO].
// im2col/col2im + sgemm (1x1 stride-1 unpadded convs skip im2col); depthwise 3x3 has its own kernel
// (DepthwiseConv.swift). Backward uses sgemm for both the input and the weight gradient.

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
    // MARK: im2col / col2im (one sample, channels c0..<c0+cg)

    /// col[(ci*KH + i)*KW + j][oy*WO + ox] = x[c0+ci][oy*s - p + i*d][ox*s - p + j*d] (0 outside).
    @inlinable
    public static func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ col: UnsafeMutablePointer<Float>) {
        let rows = g.colRows, hw = g.h &* g.w, howo = g.ho &* g.wo
        Parallel.for(rows, grain: 8) { range in
            for r in range {
                let j = r % g.kw, i = (r / g.kw) % g.kh, ci = r / (g.kw &* g.kh)
                let plane = x + (c0 &+ ci) &* hw
                let dst = col + r &* howo
                let dx = j &* g.dilation &- g.padding
                // valid ox: 0 <= ox*s + dx < w
                var oxLo = 0
                if dx < 0 { oxLo = (-dx + g.stride - 1) / g.stride }
                var oxHi = g.wo
                let lim = g.w - dx                                   // ox*s < lim
                if lim <= 0 { oxHi = 0 } else { oxHi = min(g.wo, (lim + g.stride - 1) / g.stride) }
                if oxHi < oxLo { oxHi = oxLo }
                for oy in 0..<g.ho {
                    let iy = oy &* g.stride &+ i &* g.dilation &- g.padding
                    let d = dst + oy &* g.wo
                    if iy < 0 || iy >= g.h { d.update(repeating: 0, count: g.wo); continue }
                    let src = plane + iy &* g.w
                    if oxLo > 0 { d.update(repeating: 0, count: oxLo) }
                    if g.stride == 1 {
                        (d + oxLo).update(from: src + (oxLo &+ dx), count: oxHi &- oxLo)
                    } else if g.stride == 2 {
                        // 16 loaded, even lanes kept; only while the 16 floats stay inside the row.
                        var ox = oxLo
                        while ox &+ 8 <= oxHi && 2 &* ox &+ dx &+ 16 <= g.w {
                            let v = UnsafeRawPointer(src + (2 &* ox &+ dx)).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(d + ox).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                            ox &+= 8
                        }
                        while ox < oxHi { d[ox] = src[2 &* ox &+ dx]; ox &+= 1 }
                    } else {
                        var ox = oxLo
                        while ox < oxHi { d[ox] = src[ox &* g.stride &+ dx]; ox &+= 1 }
                    }
                    if oxHi < g.wo { (d + oxHi).update(repeating: 0, count: g.wo &- oxHi) }
                }
            }
        }
    }

    /// dx[c0+ci] += scatter of col (the adjoint of im2col). Parallel over channels: deterministic.
    @inlinable
    public static func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ dx: UnsafeMutablePointer<Float>) {
        let hw = g.h &* g.w, howo = g.ho &* g.wo
        Parallel.for(g.cg, grain: 1) { range in
            for ci in range {
                let plane = dx + (c0 &+ ci) &* hw
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let src = col + ((ci &* g.kh &+ i) &* g.kw &+ j) &* howo
                        let dxo = j &* g.dilation &- g.padding
                        var oxLo = 0
                        if dxo < 0 { oxLo = (-dxo + g.stride - 1) / g.stride }
                        let lim = g.w - dxo
                        var oxHi = lim <= 0 ? 0 : min(g.wo, (lim + g.stride - 1) / g.stride)
                        if oxHi < oxLo { oxHi = oxLo }
                        for oy in 0..<g.ho {
                            let iy = oy &* g.stride &+ i &* g.dilation &- g.padding
                            if iy < 0 || iy >= g.h { continue }
                            let dst = plane + (iy &* g.w &+ dxo)
                            let s = src + oy &* g.wo
                            var ox = oxLo
                            if g.stride == 1 {
                                while ox < oxHi { dst[ox] += s[ox]; ox &+= 1 }
                            } else {
                                while ox < oxHi { dst[ox &* g.stride] += s[ox]; ox &+= 1 }
                            }
                        }
                    }
                }
            }
        }
    }

    /// col2im for a 1x1 unpadded conv with stride s: each input pixel gets at most one value, so
    /// dx is written in one pass (zeros between the sampled pixels) instead of zero-fill + scatter.
    @inlinable
    public static func scatterStrided1x1(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ c0: Int, _ dx: UnsafeMutablePointer<Float>) {
        let hw = g.h &* g.w, howo = g.ho &* g.wo, s = g.stride
        Parallel.for(g.cg, grain: 1) { range in
            for ci in range {
                let plane = dx + (c0 &+ ci) &* hw, src = col + ci &* howo
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

    // MARK: forward / backward

    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
        if g.isDepthwise3x3 { return Depthwise.forward(x, w, bias: bias, g) }
        let y = Tensor(shape: g.outShape)
        if useWinograd(g) {
            winogradForward(x.data, w.data, g, y.data)
            if let bias { addChannelBias(y, bias) }
            return y
        }
        let howo = g.ho * g.wo, rows = g.colRows
        let col: Tensor? = g.isPointwise ? nil : Tensor(shape: [rows * howo])
        for s in 0..<g.n {
            for gi in 0..<g.groups {
                let xs = x.data + (s * g.c) * g.h * g.w
                let b: UnsafePointer<Float>
                if let col { im2col(xs, g, gi * g.cg, col.data); b = UnsafePointer(col.data) }
                else { b = UnsafePointer(xs + gi * g.cg * howo) }
                Gemm.sgemm(m: g.og, n: howo, k: rows, a: w.data + gi * g.og * rows, lda: rows, b: b, ldb: howo,
                           c: y.data + (s * g.o + gi * g.og) * howo, ldc: howo)
            }
        }
        if let bias { addChannelBias(y, bias) }
        return y
    }

    /// dx = col2im(W^T dy) per sample and group.
    public static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
        if g.isDepthwise3x3 { return Depthwise.backwardInput(dy, w, g) }
        if useWinograd(g) { return winogradBackwardInput(dy, w, g) }
        let dx = Tensor(shape: [g.n, g.c, g.h, g.w])
        let howo = g.ho * g.wo, rows = g.colRows
        if g.isPointwise {
            for s in 0..<g.n {
                for gi in 0..<g.groups {
                    Gemm.sgemm(transA: true, m: rows, n: howo, k: g.og, a: w.data + gi * g.og * rows, lda: rows,
                               b: dy.data + (s * g.o + gi * g.og) * howo, ldb: howo,
                               c: dx.data + (s * g.c + gi * g.cg) * howo, ldc: howo)
                }
            }
            return dx
        }
        let strided1x1 = g.kh == 1 && g.kw == 1 && g.padding == 0     // e.g. the stride-2 downsample
        if !strided1x1 { dx.fill(0) }
        let col = Tensor(shape: [rows * howo])
        for s in 0..<g.n {
            for gi in 0..<g.groups {
                Gemm.sgemm(transA: true, m: rows, n: howo, k: g.og, a: w.data + gi * g.og * rows, lda: rows,
                           b: dy.data + (s * g.o + gi * g.og) * howo, ldb: howo, c: col.data, ldc: howo)
                if strided1x1 { scatterStrided1x1(col.data, g, gi * g.cg, dx.data + s * g.c * g.h * g.w) }
                else { col2im(col.data, g, gi * g.cg, dx.data + s * g.c * g.h * g.w) }
            }
        }
        return dx
    }

    /// dW = sum over samples of dy x col^T (im2col recomputed here rather than kept from forward).
    public static func backwardWeight(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
        if g.isDepthwise3x3 { return Depthwise.backwardWeight(dy, x, g) }
        if useWinograd(g) { return winogradBackwardWeight(dy, x, g) }
        let dw = Tensor(shape: [g.o, g.cg, g.kh, g.kw])
        let howo = g.ho * g.wo, rows = g.colRows
        let col: Tensor? = g.isPointwise ? nil : Tensor(shape: [rows * howo])
        for s in 0..<g.n {
            for gi in 0..<g.groups {
                let xs = x.data + (s * g.c) * g.h * g.w
                let b: UnsafePointer<Float>
                if let col { im2col(xs, g, gi * g.cg, col.data); b = UnsafePointer(col.data) }
                else { b = UnsafePointer(xs + gi * g.cg * howo) }
                Gemm.sgemm(transB: true, m: g.og, n: rows, k: howo, a: dy.data + (s * g.o + gi * g.og) * howo, lda: howo,
                           b: b, ldb: howo, beta: s == 0 ? 0 : 1, c: dw.data + gi * g.og * rows, ldc: rows)
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
    public static func addChannelBias(_ y: Tensor, _ bias: Tensor) {
        let (n, c) = (y.shape[0], y.shape[1]), hw = y.count / max(n * c, 1)
        let yp = y.data, bp = bias.data
        Parallel.for(n * c) { r in
            for p in r { let b = bp[p % c], row = yp + p * hw; for i in 0..<hw { row[i] += b } }
        }
    }
}
