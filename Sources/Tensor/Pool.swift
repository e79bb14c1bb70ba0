// Pooling kernels on x [N, C, H, W]: max pool (k, stride, padding; PyTorch floor mode, padding
// counts as -inf) with the argmax index kept for backward, and global average pool -> [N, C, 1, 1].

public enum PoolKernel {
    public static func maxPoolOutputSize(_ h: Int, kernel k: Int, stride s: Int, padding p: Int) -> Int {
        (h + 2 * p - k) / s + 1
    }

    /// Returns y and, per output, the flat index inside its input plane of the chosen element
    /// (first maximum in scan order, as PyTorch; a NaN wins over numbers and a later NaN over an
    /// earlier one). The scalar twin of `maxPool`, kept for its tests.
    public static func maxPoolNaive(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> (Tensor, [Int32]) {
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

    /// `maxPoolNaive`'s values and indices (training), with the passes of `maxPoolValues`.
    public static func maxPool(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> (Tensor, [Int32]) {
        let (y, idx) = maxPoolPasses(x, kernel: k, stride: s, padding: p, indices: true)
        return (y, idx!)
    }

    /// The values of `maxPool` without the argmax indices (inference).
    public static func maxPoolValues(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> Tensor {
        maxPoolPasses(x, kernel: k, stride: s, padding: p, indices: false).0
    }

    /// A pass over each row's windows, then over the rows of each output row's window. Taking the
    /// first maximum row by row and then across rows is the first maximum in scan order, and NaN
    /// propagates (the last NaN wins in both orders): the same bits and indices as maxPoolNaive.
    @inline(__always)
    static func maxPoolPasses(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int, indices: Bool) -> (Tensor, [Int32]?) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ho = maxPoolOutputSize(h, kernel: k, stride: s, padding: p), wo = maxPoolOutputSize(w, kernel: k, stride: s, padding: p)
        let y = Tensor(shape: [n, c, ho, wo])
        var idx = indices ? [Int32](repeating: 0, count: y.count) : []
        let xp = x.data, yp = y.data
        idx.withUnsafeMutableBufferPointer { ib in
            nonisolated(unsafe) let ipBase = ib.baseAddress
            Parallel.for(n * c, grain: max(1, 16384 / max(h * w, 1))) { r in
                let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: h &* wo)
                let rowArg = UnsafeMutablePointer<Int32>.allocate(capacity: indices ? h &* wo : 0)
                defer { rowMax.deallocate(); rowArg.deallocate() }
                for plane in r {
                    let src = xp + plane &* h &* w, dst = yp + plane &* ho &* wo
                    for iy in 0..<h {
                        let row = src + iy &* w, out = rowMax + iy &* wo, arg = rowArg + iy &* wo
                        @inline(__always) func scalar(_ ox: Int) {
                            let x0 = max(0, ox &* s &- p), x1 = min(w, ox &* s &- p &+ k)
                            var best = row[x0], bi = x0, ix = x0 &+ 1
                            while ix < x1 { let v = row[ix]; if v > best || v.isNaN { best = v; bi = ix }; ix &+= 1 }
                            out[ox] = best
                            if indices { arg[ox] = Int32(bi) }
                        }
                        var ox = 0
                        if k == 3 && s == 2 && p == 1 {
                            // ResNet's stem pool: 8 outputs from 16 + 16 floats (even lanes: 2ox, odd: 2ox + 1,
                            // and 2ox - 1 from the load one float earlier), max taken in the scalar loop's order.
                            if wo > 0 { scalar(0); ox = 1 }
                            @inline(__always) func block(_ ox: Int) {
                                let a = UnsafeRawPointer(row + 2 &* ox).loadUnaligned(as: SIMD16<Float>.self)
                                let b = UnsafeRawPointer(row + (2 &* ox &- 1)).loadUnaligned(as: SIMD16<Float>.self)
                                var best = b.evenHalf
                                let m1 = replaces(a.evenHalf, best)
                                best.replace(with: a.evenHalf, where: m1)
                                let m2 = replaces(a.oddHalf, best)
                                best.replace(with: a.oddHalf, where: m2)
                                UnsafeMutableRawPointer(out + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                                if indices {
                                    let col = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(truncatingIfNeeded: 2 &* ox)
                                    var bi = col &- 1
                                    bi.replace(with: col, where: m1)
                                    bi.replace(with: col &+ 1, where: m2)
                                    UnsafeMutableRawPointer(arg + ox).storeBytes(of: bi, as: SIMD8<Int32>.self)
                                }
                            }
                            while ox &+ 8 <= wo && 2 &* ox &+ 16 <= w { block(ox); ox &+= 8 }
                            // The tail as one more block ending as far right as the row allows, overlapping
                            // outputs already written (each output depends on its window only: same values).
                            let last = min(wo &- 8, (w &- 16) / 2)
                            if ox < wo && last >= 1 && last &+ 8 > ox { block(last); ox = last &+ 8 }
                        }
                        while ox < wo { scalar(ox); ox &+= 1 }
                    }
                    for oy in 0..<ho {
                        let y0 = max(0, oy &* s &- p), y1 = min(h, oy &* s &- p &+ k)
                        let out = dst + oy &* wo
                        out.update(from: rowMax + y0 &* wo, count: wo)
                        let oi = indices ? ipBase! + (plane &* ho &+ oy) &* wo : nil
                        if indices {
                            let a0 = rowArg + y0 &* wo, base = Int32(truncatingIfNeeded: y0 &* w)
                            for ox in 0..<wo { oi![ox] = base &+ a0[ox] }
                        }
                        var iy = y0 &+ 1
                        while iy < y1 {
                            let rm = rowMax + iy &* wo, ra = rowArg + iy &* wo
                            let base = Int32(truncatingIfNeeded: iy &* w)
                            var ox = 0
                            while ox &+ 8 <= wo {
                                let v = UnsafeRawPointer(rm + ox).loadUnaligned(as: SIMD8<Float>.self)
                                var b = UnsafeRawPointer(out + ox).loadUnaligned(as: SIMD8<Float>.self)
                                let m = replaces(v, b)
                                b.replace(with: v, where: m)
                                UnsafeMutableRawPointer(out + ox).storeBytes(of: b, as: SIMD8<Float>.self)
                                if indices {
                                    var bi = UnsafeRawPointer(oi! + ox).loadUnaligned(as: SIMD8<Int32>.self)
                                    let ai = UnsafeRawPointer(ra + ox).loadUnaligned(as: SIMD8<Int32>.self)
                                    bi.replace(with: ai &+ base, where: m)
                                    UnsafeMutableRawPointer(oi! + ox).storeBytes(of: bi, as: SIMD8<Int32>.self)
                                }
                                ox &+= 8
                            }
                            while ox < wo {
                                let v = rm[ox]
                                if v > out[ox] || v.isNaN { out[ox] = v; if indices { oi![ox] = base &+ ra[ox] } }
                                ox &+= 1
                            }
                            iy &+= 1
                        }
                    }
                }
            }
        }
        return (y, indices ? idx : nil)
    }

    /// Lane-wise: where v takes best's place in the scalar pass (v > best or v is NaN).
    @inline(__always)
    static func replaces(_ v: SIMD8<Float>, _ best: SIMD8<Float>) -> SIMDMask<SIMD8<Int32>> {
        (v .> best) .| (v .!= v)
    }

    public static func maxPoolBackward(_ dy: Tensor, indices: [Int32], inputShape: [Int]) -> Tensor {
        let dx = Tensor(shape: inputShape)
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let howo = dy.count / max(n * c, 1)
        let gp = dy.data, dp = dx.data
        indices.withUnsafeBufferPointer { ib in
            nonisolated(unsafe) let iq = ib
            Parallel.for(n * c) { r in
                for plane in r {
                    let d = dp + plane * h * w
                    d.update(repeating: 0, count: h * w)              // each thread zeroes its own planes
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
