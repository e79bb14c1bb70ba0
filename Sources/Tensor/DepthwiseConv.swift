// Direct depthwise 3x3 convolution (groups = C = O): x [N, C, H, W], w [C, 1, 3, 3].
// Works row by row: each of the 9 taps is an axpy over a contiguous output row (stride 1), so the
// inner loops vectorise. Every output plane is owned by one worker: results do not depend on threads.

public enum Depthwise {
    /// Valid output columns [lo, hi) for tap column offset dx = j*d - p: 0 <= ox*s + dx < w.
    @inlinable
    static func colRange(_ dx: Int, _ g: ConvGeometry) -> (Int, Int) {
        let lo = dx < 0 ? (-dx + g.stride - 1) / g.stride : 0
        let lim = g.w - dx
        let hi = lim <= 0 ? 0 : min(g.wo, (lim + g.stride - 1) / g.stride)
        return (lo, max(lo, hi))
    }

    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
        let y = Tensor(shape: g.outShape)
        if canUseStride1(g) { forwardStride1(x.data, w.data, bias.map { UnsafePointer($0.data) }, y.data, g); return y }
        let xp = x.data, wp = w.data, yp = y.data, bp = bias?.data
        let hw = g.h * g.w, howo = g.ho * g.wo
        Parallel.for(g.n * g.c) { r in
            for plane in r {
                let c = plane % g.c
                let src = xp + plane &* hw, dst = yp + plane &* howo, k = wp + c &* 9
                dst.update(repeating: bp?[c] ?? 0, count: howo)
                for oy in 0..<g.ho {
                    let d = dst + oy &* g.wo
                    for i in 0..<3 {
                        let iy = oy &* g.stride &+ i &* g.dilation &- g.padding
                        if iy < 0 || iy >= g.h { continue }
                        let s = src + iy &* g.w
                        for j in 0..<3 {
                            let kv = k[i &* 3 &+ j]
                            let dx = j &* g.dilation &- g.padding
                            let (lo, hi) = colRange(dx, g)
                            if g.stride == 1 {
                                let sp = s + dx
                                var ox = lo
                                while ox < hi { d[ox] += kv * sp[ox]; ox &+= 1 }
                            } else {
                                var ox = lo
                                while ox < hi { d[ox] += kv * s[ox &* g.stride &+ dx]; ox &+= 1 }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    public static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
        if canUseStride1(g) { return backwardInputStride1(dy, w, g) }
        let dx = Tensor(zeros: [g.n, g.c, g.h, g.w])
        let dxp = dx.data, wp = w.data, dyp = dy.data
        let hw = g.h * g.w, howo = g.ho * g.wo
        Parallel.for(g.n * g.c) { r in
            for plane in r {
                let c = plane % g.c
                let dst = dxp + plane &* hw, src = dyp + plane &* howo, k = wp + c &* 9
                for oy in 0..<g.ho {
                    let s = src + oy &* g.wo
                    for i in 0..<3 {
                        let iy = oy &* g.stride &+ i &* g.dilation &- g.padding
                        if iy < 0 || iy >= g.h { continue }
                        let d = dst + iy &* g.w
                        for j in 0..<3 {
                            let kv = k[i &* 3 &+ j]
                            let dxo = j &* g.dilation &- g.padding
                            let (lo, hi) = colRange(dxo, g)
                            if g.stride == 1 {
                                let dp = d + dxo
                                var ox = lo
                                while ox < hi { dp[ox] += kv * s[ox]; ox &+= 1 }
                            } else {
                                var ox = lo
                                while ox < hi { d[ox &* g.stride &+ dxo] += kv * s[ox]; ox &+= 1 }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// dw[c, i, j] = sum over n, oy, ox of dy * x (shifted); per-row Float dots summed in Double.
    public static func backwardWeight(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
        if canUseStride1(g) { return backwardWeightStride1(dy, x, g) }
        let dw = Tensor(shape: [g.c, 1, 3, 3])
        let xp = x.data, dyp = dy.data, out = dw.data
        let hw = g.h * g.w, howo = g.ho * g.wo
        Parallel.for(g.c) { r in
            for c in r {
                var acc = [Double](repeating: 0, count: 9)
                for s in 0..<g.n {
                    let plane = s &* g.c &+ c
                    let src = xp + plane &* hw, gy = dyp + plane &* howo
                    for oy in 0..<g.ho {
                        let grow = gy + oy &* g.wo
                        for i in 0..<3 {
                            let iy = oy &* g.stride &+ i &* g.dilation &- g.padding
                            if iy < 0 || iy >= g.h { continue }
                            let xrow = src + iy &* g.w
                            for j in 0..<3 {
                                let dxo = j &* g.dilation &- g.padding
                                let (lo, hi) = colRange(dxo, g)
                                var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                                var ox = lo
                                if g.stride == 1 {
                                    let xs = xrow + dxo
                                    while ox &+ 4 <= hi {
                                        a0 += grow[ox] * xs[ox]; a1 += grow[ox &+ 1] * xs[ox &+ 1]
                                        a2 += grow[ox &+ 2] * xs[ox &+ 2]; a3 += grow[ox &+ 3] * xs[ox &+ 3]
                                        ox &+= 4
                                    }
                                    while ox < hi { a0 += grow[ox] * xs[ox]; ox &+= 1 }
                                } else {
                                    while ox < hi { a0 += grow[ox] * xrow[ox &* g.stride &+ dxo]; ox &+= 1 }
                                }
                                acc[i &* 3 &+ j] += Double((a0 + a1) + (a2 + a3))
                            }
                        }
                    }
                }
                for t in 0..<9 { out[c &* 9 &+ t] = Float(acc[t]) }
            }
        }
        return dw
    }
}
