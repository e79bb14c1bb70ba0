// Pooling kernels on x [N, C, H, W]: max pool (k, stride, padding; PyTorch floor mode, padding
// counts as -inf) with the argmax index kept for backward, and global average pool -> [N, C, 1, 1].

public enum PoolKernel {
    public static func maxPoolOutputSize(_ h: Int, kernel k: Int, stride s: Int, padding p: Int) -> Int {
        (h + 2 * p - k) / s + 1
    }

    /// Returns y and, per output, the flat index inside its input plane of the chosen element
    /// (first maximum in scan order, as PyTorch).
    public static func maxPool(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> (Tensor, [Int32]) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ho = maxPoolOutputSize(h, kernel: k, stride: s, padding: p), wo = maxPoolOutputSize(w, kernel: k, stride: s, padding: p)
        let y = Tensor(shape: [n, c, ho, wo])
        var idx = [Int32](repeating: 0, count: y.count)
        let xp = x.data, yp = y.data
        idx.withUnsafeMutableBufferPointer { ib in
            nonisolated(unsafe) let iq = ib
            Parallel.for(n * c) { r in
                for plane in r {
                    let src = xp + plane * h * w
                    for oy in 0..<ho { for ox in 0..<wo {
                        var best = -Float.infinity, bi = -1
                        for i in 0..<k {
                            let iy = oy * s - p + i
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<k {
                                let ix = ox * s - p + j
                                if ix < 0 || ix >= w { continue }
                                let v = src[iy * w + ix]
                                if v > best || bi < 0 || v.isNaN { best = v; bi = iy * w + ix }
                            }
                        }
                        let o = (plane * ho + oy) * wo + ox
                        yp[o] = best; iq[o] = Int32(bi)
                    } }
                }
            }
        }
        return (y, idx)
    }

    /// The values of `maxPool` without the argmax indices (inference): a pass over each row's windows,
    /// then over the rows of each output row's window. Taking the first maximum row by row and then
    /// across rows is the first maximum in scan order, and NaN propagates: the same bits as maxPool.
    public static func maxPoolValues(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ho = maxPoolOutputSize(h, kernel: k, stride: s, padding: p), wo = maxPoolOutputSize(w, kernel: k, stride: s, padding: p)
        let y = Tensor(shape: [n, c, ho, wo])
        let xp = x.data, yp = y.data
        Parallel.for(n * c, grain: max(1, 16384 / max(h * w, 1))) { r in
            let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: h &* wo)
            defer { rowMax.deallocate() }
            for plane in r {
                let src = xp + plane &* h &* w, dst = yp + plane &* ho &* wo
                for iy in 0..<h {
                    let row = src + iy &* w, out = rowMax + iy &* wo
                    var ox = 0
                    if k == 3 && s == 2 && p == 1 {
                        // ResNet's stem pool: 8 outputs from 16 + 16 floats (even lanes: 2ox, odd: 2ox + 1,
                        // and 2ox - 1 from the load one float earlier), max taken in the scalar loop's order.
                        if wo > 0 { out[0] = scalarWindow(row, 0, min(w, 2)); ox = 1 }
                        @inline(__always) func block(_ ox: Int) {
                            let a = UnsafeRawPointer(row + 2 &* ox).loadUnaligned(as: SIMD16<Float>.self)
                            let b = UnsafeRawPointer(row + (2 &* ox &- 1)).loadUnaligned(as: SIMD16<Float>.self)
                            var best = b.evenHalf
                            best = nanMax(a.evenHalf, best)
                            best = nanMax(a.oddHalf, best)
                            UnsafeMutableRawPointer(out + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                        }
                        while ox &+ 8 <= wo && 2 &* ox &+ 16 <= w { block(ox); ox &+= 8 }
                        // The tail as one more block ending as far right as the row allows, overlapping
                        // outputs already written (each output depends on its window only: same values).
                        let last = min(wo &- 8, (w &- 16) / 2)
                        if ox < wo && last >= 1 && last &+ 8 > ox { block(last); ox = last &+ 8 }
                    }
                    while ox < wo {
                        out[ox] = scalarWindow(row, max(0, ox &* s &- p), min(w, ox &* s &- p &+ k))
                        ox &+= 1
                    }
                }
                for oy in 0..<ho {
                    let y0 = max(0, oy &* s &- p), y1 = min(h, oy &* s &- p &+ k)
                    let out = dst + oy &* wo
                    out.update(from: rowMax + y0 &* wo, count: wo)
                    var iy = y0 &+ 1
                    while iy < y1 {
                        let rm = rowMax + iy &* wo
                        var ox = 0
                        while ox &+ 8 <= wo {
                            let v = UnsafeRawPointer(rm + ox).loadUnaligned(as: SIMD8<Float>.self)
                            let b = UnsafeRawPointer(out + ox).loadUnaligned(as: SIMD8<Float>.self)
                            UnsafeMutableRawPointer(out + ox).storeBytes(of: nanMax(v, b), as: SIMD8<Float>.self)
                            ox &+= 8
                        }
                        while ox < wo { let v = rm[ox], b = out[ox]; out[ox] = v > b || v.isNaN ? v : b; ox &+= 1 }
                        iy &+= 1
                    }
                }
            }
        }
        return y
    }

    /// The max of row[x0..<x1] as the scalar pass takes it: a later value wins if larger or NaN.
    @inline(__always)
    static func scalarWindow(_ row: UnsafePointer<Float>, _ x0: Int, _ x1: Int) -> Float {
        var best = row[x0], ix = x0 &+ 1
        while ix < x1 { let v = row[ix]; if v > best || v.isNaN { best = v }; ix &+= 1 }
        return best
    }

    /// Lane-wise: v where v > best or v is NaN, else best (scalarWindow's step).
    @inline(__always)
    static func nanMax(_ v: SIMD8<Float>, _ best: SIMD8<Float>) -> SIMD8<Float> {
        best.replacing(with: v, where: (v .> best) .| (v .!= v))
    }

    public static func maxPoolBackward(_ dy: Tensor, indices: [Int32], inputShape: [Int]) -> Tensor {
        let dx = Tensor(zeros: inputShape)
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let howo = dy.count / max(n * c, 1)
        let gp = dy.data, dp = dx.data
        indices.withUnsafeBufferPointer { ib in
            nonisolated(unsafe) let iq = ib
            Parallel.for(n * c) { r in
                for plane in r {
                    let d = dp + plane * h * w
                    for o in (plane * howo)..<((plane + 1) * howo) { d[Int(iq[o])] += gp[o] }
                }
            }
        }
        return dx
    }

    public static func globalAvgPool(_ x: Tensor) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        let y = Tensor(shape: [n, c, 1, 1])
        let xp = x.data, yp = y.data
        Parallel.for(n * c) { r in
            for p in r { yp[p] = Float(Double(Reduce.sum(xp + p * hw, hw)) / Double(hw)) }
        }
        return y
    }

    public static func globalAvgPoolBackward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let (n, c) = (inputShape[0], inputShape[1]), hw = inputShape[2] * inputShape[3]
        let dx = Tensor(shape: inputShape)
        let gp = dy.data, dp = dx.data
        Parallel.for(n * c) { r in
            for p in r { (dp + p * hw).update(repeating: gp[p] / Float(hw), count: hw) }
        }
        return dx
    }
}
