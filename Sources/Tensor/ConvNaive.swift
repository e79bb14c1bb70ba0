// Naive twins of the convolution kernels (direct loops, Double accumulation), for tests only.

public enum ConvNaive {
    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
        let y = Tensor(shape: g.outShape)
        for s in 0..<g.n { for oc in 0..<g.o {
            let gi = oc / g.og
            for oy in 0..<g.ho { for ox in 0..<g.wo {
                var acc = Double(bias?.data[oc] ?? 0)
                for ci in 0..<g.cg { for i in 0..<g.kh { for j in 0..<g.kw {
                    let iy = oy * g.stride - g.padding + i * g.dilation, ix = ox * g.stride - g.padding + j * g.dilation
                    if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w { continue }
                    let xv = x.data[((s * g.c + gi * g.cg + ci) * g.h + iy) * g.w + ix]
                    acc += Double(xv) * Double(w.data[((oc * g.cg + ci) * g.kh + i) * g.kw + j])
                } } }
                y.data[((s * g.o + oc) * g.ho + oy) * g.wo + ox] = Float(acc)
            } }
        } }
        return y
    }

    /// Returns (dx, dw) for cotangent dy.
    public static func backward(_ dy: Tensor, _ x: Tensor, _ w: Tensor, _ g: ConvGeometry) -> (Tensor, Tensor) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        for s in 0..<g.n { for oc in 0..<g.o {
            let gi = oc / g.og
            for oy in 0..<g.ho { for ox in 0..<g.wo {
                let d = Double(dy.data[((s * g.o + oc) * g.ho + oy) * g.wo + ox])
                for ci in 0..<g.cg { for i in 0..<g.kh { for j in 0..<g.kw {
                    let iy = oy * g.stride - g.padding + i * g.dilation, ix = ox * g.stride - g.padding + j * g.dilation
                    if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w { continue }
                    let xi = ((s * g.c + gi * g.cg + ci) * g.h + iy) * g.w + ix
                    let wi = ((oc * g.cg + ci) * g.kh + i) * g.kw + j
                    dx[xi] += d * Double(w.data[wi])
                    dw[wi] += d * Double(x.data[xi])
                } } }
            } }
        } }
        return (Tensor(shape: x.shape, values: dx.map { Float($0) }), Tensor(shape: w.shape, values: dw.map { Float($0) }))
    }
}

extension ConvNaive {
    /// The column matrix of Conv.im2col by its definition, element by element: rows `ld` apart.
    public static func im2col(_ x: Tensor, _ g: ConvGeometry, _ c0: Int, samples: Int, ld: Int) -> [Float] {
        let howo = g.ho * g.wo
        var col = [Float](repeating: 0, count: g.colRows * ld)
        for ci in 0..<g.cg { for i in 0..<g.kh { for j in 0..<g.kw {
            let r = (ci * g.kh + i) * g.kw + j
            for s in 0..<samples { for oy in 0..<g.ho { for ox in 0..<g.wo {
                let iy = oy * g.stride - g.padding + i * g.dilation, ix = ox * g.stride - g.padding + j * g.dilation
                let inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w
                col[r * ld + s * howo + oy * g.wo + ox] = inside ? x.data[((s * g.c + c0 + ci) * g.h + iy) * g.w + ix] : 0
            } } }
        } } }
        return col
    }

    /// The adjoint of im2col: planes c0..<c0+cg of `samples` samples, [samples][cg][h][w].
    public static func col2im(_ col: [Float], _ g: ConvGeometry, samples: Int, ld: Int) -> [Float] {
        let howo = g.ho * g.wo
        var dx = [Float](repeating: 0, count: samples * g.cg * g.h * g.w)
        for s in 0..<samples { for ci in 0..<g.cg { for i in 0..<g.kh { for j in 0..<g.kw {
            let r = (ci * g.kh + i) * g.kw + j
            for oy in 0..<g.ho { for ox in 0..<g.wo {
                let iy = oy * g.stride - g.padding + i * g.dilation, ix = ox * g.stride - g.padding + j * g.dilation
                if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w { continue }
                dx[((s * g.cg + ci) * g.h + iy) * g.w + ix] += col[r * ld + s * howo + oy * g.wo + ox]
            } }
        } } } }
        return dx
    }
}
