// Depthwise 3x3 conv (stride 1, padding 1) on channels-last tokens: x [N, H*W, C], w [C, 1, 3, 3]
// (OIHW), bias [C] -> [N, H*W, C], optionally followed by GELU (inference). MiT's Mix-FFN runs on
// tokens, so no NCHW transposes around it. CNative's AVX-512 / AVX2 kernels (VectorISA) vectorise
// over channels; level 0 runs the scalar loops here. Naive twin: Conv.forward on the NCHW transpose.
import CNative

public enum DepthwiseTokens {
    /// Output rows per weight-gradient block: partial sums per (sample, block), added in block order.
    public static let blockRows = 4

    /// Tap-major weights [9][C] (flipped: tap t reads w's tap 8 - t, the adjoint's kernel).
    static func tapMajor(_ w: Tensor, flipped: Bool) -> Tensor {
        let c = w.shape[0], t = Tensor(shape: [9, c])
        let src = w.data, dst = t.data                       // pointers outside the loop (no class reads per element)
        for k in 0..<9 {
            let from = flipped ? 8 - k : k, row = dst + k * c
            for ch in 0..<c { row[ch] = src[ch * 9 + from] }
        }
        return t
    }

    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, height h: Int, width wd: Int, gelu: Bool = false) -> Tensor {
        forward(x, w, bias: bias, height: h, width: wd, gelu: gelu, keepPreActivation: false).0
    }

    /// GELU(conv) and, if `keepPreActivation`, the conv's output before the GELU (what GELU's
    /// backward needs), both from one pass: the same bits as the conv followed by Elementwise.gelu.
    public static func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, height h: Int, width wd: Int, gelu: Bool,
                               keepPreActivation: Bool) -> (Tensor, Tensor?) {
        let (n, c) = (x.shape[0], x.shape[2])
        precondition(x.shape.count == 3 && x.shape[1] == h * wd && w.shape == [c, 1, 3, 3] && (bias == nil || bias!.count == c),
                     "depthwise tokens: x \(x.shape) (\(h)x\(wd)), w \(w.shape)")
        let y = Tensor(shape: x.shape), pre: Tensor? = keepPreActivation && gelu ? Tensor(shape: x.shape) : nil
        run(x.data, tapMajor(w, flipped: false), bias, y.data, pre: pre?.data, n: n, h: h, w: wd, c: c, gelu: gelu)
        return (y, pre)
    }

    /// dx = the same conv of dy with the flipped kernel, no bias.
    public static func backwardInput(_ dy: Tensor, _ w: Tensor, height h: Int, width wd: Int) -> Tensor {
        let (n, c) = (dy.shape[0], dy.shape[2])
        let dx = Tensor(shape: dy.shape)
        run(dy.data, tapMajor(w, flipped: true), nil, dx.data, pre: nil, n: n, h: h, w: wd, c: c, gelu: false)
        return dx
    }

    static func run(_ xp: UnsafeMutablePointer<Float>, _ w9: Tensor, _ bias: Tensor?, _ yp: UnsafeMutablePointer<Float>,
                    pre pp: UnsafeMutablePointer<Float>?, n: Int, h: Int, w: Int, c: Int, gelu: Bool) {
        let vector = VectorISA.level > 0, plane = h * w * c
        let wp = w9.data, bp = bias.map { UnsafePointer($0.data) }
        Parallel.for(n * h, grain: max(1, 16384 / max(w * c, 1))) { r in
            var row = r.lowerBound
            while row < r.upperBound {                                   // runs of rows within one sample
                let s = row / h, y0 = row - s * h, y1 = min(h, y0 + (r.upperBound - row))
                let xs = xp + s * plane, ys = yp + s * plane
                let ps = pp.map { $0 + s * plane }
                if vector { cn_dw3x3_nhwc(xs, wp, bp, ys, ps, h, w, c, y0, y1, gelu ? 1 : 0) }
                else { portable(xs, wp, bp, ys, ps, h: h, w: w, c: c, y0: y0, y1: y1, gelu: gelu) }
                row += y1 - y0
            }
        }
        withExtendedLifetime(w9) {}
    }

    /// The scalar form of cn_dw3x3_nhwc (same tap order).
    static func portable(_ x: UnsafePointer<Float>, _ w9: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>, _ pre: UnsafeMutablePointer<Float>?, h: Int, w: Int, c: Int,
                         y0: Int, y1: Int, gelu: Bool) {
        for oy in y0..<y1 {
            for ox in 0..<w {
                let out = y + (oy * w + ox) * c
                for ch in 0..<c {
                    var acc = bias?[ch] ?? 0
                    for i in 0..<3 where oy + i - 1 >= 0 && oy + i - 1 < h {
                        for j in 0..<3 where ox + j - 1 >= 0 && ox + j - 1 < w {
                            acc += w9[(i * 3 + j) * c + ch] * x[((oy + i - 1) * w + ox + j - 1) * c + ch]
                        }
                    }
                    pre?[(oy * w + ox) * c + ch] = acc
                    out[ch] = gelu ? FastMath.gelu(acc) : acc
                }
            }
        }
    }

    /// Weight [C, 1, 3, 3] and bias [C] gradients: partials per (sample, block of `blockRows`
    /// output rows), summed in block order in Double (the thread count never changes a sum).
    public static func backwardWeight(_ dy: Tensor, _ x: Tensor, height h: Int, width wd: Int) -> (Tensor, Tensor) {
        let (n, c) = (x.shape[0], x.shape[2])
        let per = (h + blockRows - 1) / blockRows, nb = n * per, plane = h * wd * c
        let part = Tensor(shape: [nb, 10, c])
        let xp = x.data, gp = dy.data, pp = part.data, vector = VectorISA.level > 0
        Parallel.blocks(nb) { b in
            let s = b / per, y0 = (b % per) * blockRows, y1 = min(h, y0 + blockRows)
            let xs = xp + s * plane, gs = gp + s * plane, out = pp + b * 10 * c
            if vector { cn_dw3x3_nhwc_wgrad(xs, gs, out, h, wd, c, y0, y1); return }
            out.update(repeating: 0, count: 10 * c)
            for oy in y0..<y1 {
                for ox in 0..<wd {
                    let g = gs + (oy * wd + ox) * c
                    for i in 0..<3 where oy + i - 1 >= 0 && oy + i - 1 < h {
                        for j in 0..<3 where ox + j - 1 >= 0 && ox + j - 1 < wd {
                            let src = xs + ((oy + i - 1) * wd + ox + j - 1) * c, t = out + (i * 3 + j) * c
                            for ch in 0..<c { t[ch] += g[ch] * src[ch] }
                        }
                    }
                    for ch in 0..<c { out[9 * c + ch] += g[ch] }
                }
            }
        }
        let dw = Tensor(shape: [c, 1, 3, 3]), db = Tensor(shape: [c])
        let dwp = dw.data, dbp = db.data
        Parallel.for(c, grain: 64) { r in
            for ch in r {
                var acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                for b in 0..<nb {
                    let q = pp + b * 10 * c + ch
                    acc.0 += Double(q[0]); acc.1 += Double(q[c]); acc.2 += Double(q[2 * c]); acc.3 += Double(q[3 * c])
                    acc.4 += Double(q[4 * c]); acc.5 += Double(q[5 * c]); acc.6 += Double(q[6 * c]); acc.7 += Double(q[7 * c])
                    acc.8 += Double(q[8 * c]); acc.9 += Double(q[9 * c])
                }
                let o = dwp + ch * 9
                o[0] = Float(acc.0); o[1] = Float(acc.1); o[2] = Float(acc.2); o[3] = Float(acc.3); o[4] = Float(acc.4)
                o[5] = Float(acc.5); o[6] = Float(acc.6); o[7] = Float(acc.7); o[8] = Float(acc.8)
                dbp[ch] = Float(acc.9)
            }
        }
        return (dw, db)
    }
}
