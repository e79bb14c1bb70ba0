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

    /// Separable: each input row is resized horizontally once (h x ow scratch per plane), then each
    /// output row blends two of those rows. Same arithmetic as PyTorch's
    /// hy*(hx*a + lx*b) + ly*(hx*c + lx*d).
    /// `adding`: the result added into this [N, C, OH, OW] tensor (each element acc + resized, the
    /// bits of adding the resized tensor afterwards) and returned, without a resized tensor.
    public static func bilinear(_ x: Tensor, height oh: Int, width ow: Int, alignCorners: Bool, adding acc: Tensor? = nil) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ty = bilinearTaps(input: h, output: oh, alignCorners: alignCorners)
        let tx = bilinearTaps(input: w, output: ow, alignCorners: alignCorners)
        precondition(acc == nil || acc!.shape == [n, c, oh, ow], "bilinear: adding into \(acc!.shape), output [\(n), \(c), \(oh), \(ow)]")
        let y = acc ?? Tensor(shape: [n, c, oh, ow]), adds = acc != nil
        let xp = x.data, yp = y.data
        ty.withUnsafeBufferPointer { tyb in tx.withUnsafeBufferPointer { txb in
            nonisolated(unsafe) let (typ, txp) = (tyb, txb)
            Parallel.for(n * c) { r in
                let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
                defer { rows.deallocate() }
                for plane in r {
                    let src = xp + plane &* h &* w, dst = yp + plane &* oh &* ow
                    for iy in 0..<h {
                        let s = src + iy &* w, o = rows + iy &* ow
                        for ox in 0..<ow {
                            let (x0, x1, lx) = txp[ox]
                            o[ox] = (1 - lx) * s[x0] + lx * s[x1]
                        }
                    }
                    for oy in 0..<oh {
                        let (y0, y1, ly) = typ[oy]
                        let r0 = rows + y0 &* ow, r1 = rows + y1 &* ow, d = dst + oy &* ow
                        let hy = 1 - ly
                        if adds { for ox in 0..<ow { d[ox] += hy * r0[ox] + ly * r1[ox] } }
                        else { for ox in 0..<ow { d[ox] = hy * r0[ox] + ly * r1[ox] } }
                    }
                }
            }
        } }
        return y
    }

    /// The adjoint of `bilinear`: vertical scatter into an h x ow scratch, then horizontal scatter.
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
                let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
                defer { rows.deallocate() }
                for plane in r {
                    let g = gp + plane &* oh &* ow, d = dp + plane &* h &* w
                    rows.update(repeating: 0, count: h &* ow)
                    for oy in 0..<oh {
                        let (y0, y1, ly) = typ[oy]
                        let r0 = rows + y0 &* ow, r1 = rows + y1 &* ow, gr = g + oy &* ow
                        let hy = 1 - ly
                        for ox in 0..<ow { r0[ox] += hy * gr[ox] }
                        for ox in 0..<ow { r1[ox] += ly * gr[ox] }
                    }
                    for iy in 0..<h {
                        let s = rows + iy &* ow, o = d + iy &* w
                        for ox in 0..<ow {
                            let (x0, x1, lx) = txp[ox]
                            o[x0] += (1 - lx) * s[ox]
                            o[x1] += lx * s[ox]
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
        let y = LabelMap(shape: [n, oh, ow]), src = x.data, dst = y.data
        for s in 0..<n { for oy in 0..<oh { for ox in 0..<ow {
            dst[(s * oh + oy) * ow + ox] = src[(s * h + iy[oy]) * w + ix[ox]]
        } } }
        return y
    }
}
