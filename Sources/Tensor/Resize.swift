// Resize kernels on x [N, C, H, W] -> [N, C, OH, OW], PyTorch semantics: bilinear with
// align_corners true (src = dst*(in-1)/(out-1)) or false (src = (dst+0.5)*in/out - 0.5, clamped
// at 0), and legacy 'nearest' (src = floor(dst*in/out)). Backward scatters per plane (deterministic).

public enum ResizeKernel {
    /// Per output coordinate: lower source index, upper source index, weight of the upper one.
    public static func bilinearTaps(input: Int, output: Int, alignCorners: Bool) -> [(Int, Int, Float)] {
        let scale: Float
        if alignCorners { scale = output > 1 ? Float(input - 1) / Float(output - 1) : 0 }
        else { scale = Float(input) / Float(output) }
        return (0..<output).map { d in
            var src = alignCorners ? scale * Float(d) : scale * (Float(d) + 0.5) - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(src), input - 1)
            let i1 = min(i0 + 1, input - 1)
            return (i0, i1, src - Float(i0))
        }
    }

    public static func bilinear(_ x: Tensor, height oh: Int, width ow: Int, alignCorners: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ty = bilinearTaps(input: h, output: oh, alignCorners: alignCorners)
        let tx = bilinearTaps(input: w, output: ow, alignCorners: alignCorners)
        let y = Tensor(shape: [n, c, oh, ow])
        let xp = x.data, yp = y.data
        ty.withUnsafeBufferPointer { tyb in tx.withUnsafeBufferPointer { txb in
            nonisolated(unsafe) let (typ, txp) = (tyb, txb)
            Parallel.for(n * c) { r in
                for plane in r {
                    let src = xp + plane * h * w, dst = yp + plane * oh * ow
                    for oy in 0..<oh {
                        let (y0, y1, ly) = typ[oy]
                        let r0 = src + y0 * w, r1 = src + y1 * w, d = dst + oy * ow
                        let hy = 1 - ly
                        for ox in 0..<ow {
                            let (x0, x1, lx) = txp[ox]
                            let hx = 1 - lx
                            d[ox] = hy * (hx * r0[x0] + lx * r0[x1]) + ly * (hx * r1[x0] + lx * r1[x1])
                        }
                    }
                }
            }
        } }
        return y
    }

    public static func bilinearBackward(_ dy: Tensor, inputShape: [Int], alignCorners: Bool) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        let ty = bilinearTaps(input: h, output: oh, alignCorners: alignCorners)
        let tx = bilinearTaps(input: w, output: ow, alignCorners: alignCorners)
        let dx = Tensor(zeros: inputShape)
        let gp = dy.data, dp = dx.data
        ty.withUnsafeBufferPointer { tyb in tx.withUnsafeBufferPointer { txb in
            nonisolated(unsafe) let (typ, txp) = (tyb, txb)
            Parallel.for(n * c) { r in
                for plane in r {
                    let g = gp + plane * oh * ow, d = dp + plane * h * w
                    for oy in 0..<oh {
                        let (y0, y1, ly) = typ[oy]
                        let r0 = d + y0 * w, r1 = d + y1 * w, gr = g + oy * ow
                        let hy = 1 - ly
                        for ox in 0..<ow {
                            let (x0, x1, lx) = txp[ox]
                            let v = gr[ox], hx = 1 - lx
                            r0[x0] += hy * hx * v; r0[x1] += hy * lx * v
                            r1[x0] += ly * hx * v; r1[x1] += ly * lx * v
                        }
                    }
                }
            }
        } }
        return dx
    }

    public static func nearestIndices(input: Int, output: Int) -> [Int] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { min(Int((Float($0) * scale).rounded(.down)), input - 1) }
    }

    public static func nearest(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let iy = nearestIndices(input: h, output: oh), ix = nearestIndices(input: w, output: ow)
        let y = Tensor(shape: [n, c, oh, ow])
        let xp = x.data, yp = y.data
        Parallel.for(n * c) { r in
            for plane in r {
                for oy in 0..<oh {
                    let s = xp + plane * h * w + iy[oy] * w, d = yp + (plane * oh + oy) * ow
                    for ox in 0..<ow { d[ox] = s[ix[ox]] }
                }
            }
        }
        return y
    }

    public static func nearestBackward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        let iy = nearestIndices(input: h, output: oh), ix = nearestIndices(input: w, output: ow)
        let dx = Tensor(zeros: inputShape)
        let gp = dy.data, dp = dx.data
        Parallel.for(n * c) { r in
            for plane in r {
                for oy in 0..<oh {
                    let d = dp + plane * h * w + iy[oy] * w, g = gp + (plane * oh + oy) * ow
                    for ox in 0..<ow { d[ix[ox]] += g[ox] }
                }
            }
        }
        return dx
    }

    /// Nearest resize of a label map [N, H, W] (no gradient).
    public static func nearest(_ x: LabelMap, height oh: Int, width ow: Int) -> LabelMap {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let iy = nearestIndices(input: h, output: oh), ix = nearestIndices(input: w, output: ow)
        let y = LabelMap(shape: [n, oh, ow])
        for s in 0..<n { for oy in 0..<oh { for ox in 0..<ow {
            y.data[(s * oh + oy) * ow + ox] = x.data[(s * h + iy[oy]) * w + ix[ox]]
        } } }
        return y
    }
}
