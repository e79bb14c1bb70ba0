// Normalisation kernels. Batch norm: x [N, C, H, W] (or [N, C]), statistics per channel in Double.
// Layer norm: x [..., D], statistics per row over the last dimension.
import CNative

public enum BatchNormKernel {
    /// Per-channel batch mean and biased variance (two passes, Float SIMD per plane, Double across planes).
    public static func statistics(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        let xp = x.data, m = Double(n * hw)
        mean.withUnsafeMutableBufferPointer { mp in variance.withUnsafeMutableBufferPointer { vp in
            nonisolated(unsafe) let (mq, vq) = (mp, vp)
            Parallel.for(c) { r in
                for ch in r {
                    var s = 0.0
                    for i in 0..<n { s += Double(Reduce.sum(xp + (i * c + ch) * hw, hw)) }
                    let mu = s / m
                    var v = 0.0
                    for i in 0..<n { v += Double(Reduce.sumSquaredDeviation(xp + (i * c + ch) * hw, hw, Float(mu))) }
                    mq[ch] = mu; vq[ch] = v / m
                }
            }
        } }
        return (mean, variance)
    }

    // The per-replica sums below take each plane's Float sums over (sample, channel) planes, so each
    // thread reads the samples its convs wrote (Conv.sampleTasks: a thread's share of a batch is its
    // share of every NCHW tensor), then add them per channel in Double, in sample order: the same
    // additions as a channel's loop over its samples, so the same bits. Split by channel, every
    // thread read every sample: on a host whose two vCPUs answer each other's cache lines in ~400 ns
    // (README, "The host's two states") that was the slow part of a small model's BN.

    /// Per-replica partial sums for synchronised batch norm, [replicas][C] (x's samples split into
    /// `replicas` equal consecutive chunks): Σ x, or with `mean` Σ (x - mean)², Float SIMD per plane,
    /// Double across planes in sample order.
    public static func partialSums(_ x: Tensor, replicas: Int, mean: [Double]? = nil) -> [Double] {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1), per = n / replicas
        precondition(per * replicas == n, "batch of \(n) is not \(replicas) equal replica chunks")
        var planes = [Float](repeating: 0, count: n * c)
        let xp = x.data
        let mu = mean.map { $0.map(Float.init) }
        planes.withUnsafeMutableBufferPointer { pp in
            nonisolated(unsafe) let pq = pp
            Parallel.for(n * c, grain: max(1, 4096 / max(hw, 1))) { r in
                for p in r {
                    let plane = xp + p * hw
                    pq[p] = mu.map { Reduce.sumSquaredDeviation(plane, hw, $0[p % c]) } ?? Reduce.sum(plane, hw)
                }
            }
        }
        // Per channel, the planes' sums in sample order (sample-major here, so the rows are read in
        // order and the channels' Double additions vectorise; each channel's sequence is unchanged).
        var out = [Double](repeating: 0, count: replicas * c)
        planes.withUnsafeBufferPointer { pp in out.withUnsafeMutableBufferPointer { op in
            for rep in 0..<replicas {
                let acc = op.baseAddress! + rep * c
                for i in (rep * per)..<((rep + 1) * per) {
                    let row = pp.baseAddress! + i * c
                    for ch in 0..<c { acc[ch] += Double(row[ch]) }
                }
            }
        } }
        return out
    }

    /// Per-replica backward partials [replicas][2C]: Σ dy, then Σ dy·(x - mean), per channel.
    public static func backwardPartials(_ dy: Tensor, _ x: Tensor, mean: [Float], replicas: Int) -> [Double] {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1), per = n / replicas
        precondition(per * replicas == n, "batch of \(n) is not \(replicas) equal replica chunks")
        var sums = [Float](repeating: 0, count: n * c), dots = [Float](repeating: 0, count: n * c)
        let xp = x.data, dyp = dy.data
        sums.withUnsafeMutableBufferPointer { sp in dots.withUnsafeMutableBufferPointer { dp in
            nonisolated(unsafe) let (sq, dq) = (sp, dp)
            Parallel.for(n * c, grain: max(1, 2048 / max(hw, 1))) { r in
                for p in r {
                    let g = dyp + p * hw
                    sq[p] = Reduce.sum(g, hw); dq[p] = Reduce.dot(g, xp + p * hw, hw)
                }
            }
        } }
        // As partialSums: sample-major, each channel's additions in sample order.
        var out = [Double](repeating: 0, count: replicas * 2 * c)
        sums.withUnsafeBufferPointer { sp in dots.withUnsafeBufferPointer { dp in mean.withUnsafeBufferPointer { mp in
            out.withUnsafeMutableBufferPointer { op in
                for rep in 0..<replicas {
                    let sdy = op.baseAddress! + rep * 2 * c, sdyx = sdy + c
                    for i in (rep * per)..<((rep + 1) * per) {
                        let srow = sp.baseAddress! + i * c, drow = dp.baseAddress! + i * c
                        for ch in 0..<c {
                            let sg = Double(srow[ch])
                            sdy[ch] += sg
                            sdyx[ch] += Double(drow[ch]) - Double(mp[ch]) * sg
                        }
                    }
                }
            }
        } } }
        return out
    }

    /// dx = gamma·invstd·(dy - Σdy/m - xhat·Σ(dy·xhat)/m) with the sums over every replica's batch
    /// (`sumDy`, `sumDyXhat` per channel) and m the element count per channel over all replicas.
    public static func backwardInput(_ dy: Tensor, _ x: Tensor, mean: [Float], invstd: [Float], gamma: Tensor,
                                     sumDy: [Float], sumDyXhat: [Float], count m: Float) -> Tensor {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        let dx = Tensor(shape: x.shape)
        let xp = x.data, dyp = dy.data, gp = gamma.data, dxp = dx.data
        Parallel.for(n * c, grain: max(1, 2048 / max(hw, 1))) { r in
            for p in r {
                let ch = p % c, mu = mean[ch], inv = invstd[ch]
                let k = gp[ch] * inv, a = sumDy[ch] / m, b = sumDyXhat[ch] / m
                let g = dyp + p * hw, s = xp + p * hw, d = dxp + p * hw
                for t in 0..<hw { d[t] = k * (g[t] - a - (s[t] - mu) * inv * b) }
            }
        }
        return dx
    }

    /// y = (x - mean) * invstd * gamma + beta, per channel.
    public static func normalize(_ x: Tensor, mean: [Float], invstd: [Float], gamma: Tensor, beta: Tensor) -> Tensor {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data, gp = gamma.data, bp = beta.data
        mean.withUnsafeBufferPointer { mp in invstd.withUnsafeBufferPointer { ip in
            nonisolated(unsafe) let (mq, iq) = (mp, ip)
            Parallel.for(n * c) { r in
                for p in r {
                    let ch = p % c
                    let scale = iq[ch] * gp[ch], shift = bp[ch] - mq[ch] * scale
                    let s = xp + p * hw, d = yp + p * hw
                    for i in 0..<hw { d[i] = s[i] * scale + shift }
                }
            }
        } }
        return y
    }

    /// Training-mode backward with batch statistics (closed form):
    /// dx = gamma*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)); dgamma = sum(dy*xhat); dbeta = sum(dy).
    public static func backwardTrain(_ dy: Tensor, _ x: Tensor, mean: [Float], invstd: [Float], gamma: Tensor,
                                     needInput: Bool) -> (dx: Tensor?, dgamma: Tensor, dbeta: Tensor) {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        let dgamma = Tensor(shape: [c]), dbeta = Tensor(shape: [c])
        let dx: Tensor? = needInput ? Tensor(shape: x.shape) : nil
        let xp = x.data, dyp = dy.data, gp = gamma.data, dgp = dgamma.data, dbp = dbeta.data, dxp = dx?.data
        let m = Float(n * hw)
        mean.withUnsafeBufferPointer { mp in invstd.withUnsafeBufferPointer { ip in
            nonisolated(unsafe) let (mq, iq) = (mp, ip)
            Parallel.for(c) { r in
                for ch in r {
                    let mu = mq[ch], inv = iq[ch]
                    var sdy = 0.0, sdyx = 0.0
                    for i in 0..<n {
                        let g = dyp + (i * c + ch) * hw, s = xp + (i * c + ch) * hw
                        let sg = Double(Reduce.sum(g, hw))
                        sdy += sg
                        sdyx += Double(Reduce.dot(g, s, hw)) - Double(mu) * sg
                    }
                    sdyx *= Double(inv)                                   // sum(dy * xhat)
                    dgp[ch] = Float(sdyx); dbp[ch] = Float(sdy)
                    guard let dxp else { continue }
                    let k = gp[ch] * inv, a = Float(sdy) / m, b = Float(sdyx) / m
                    for i in 0..<n {
                        let g = dyp + (i * c + ch) * hw, s = xp + (i * c + ch) * hw, d = dxp + (i * c + ch) * hw
                        for t in 0..<hw { d[t] = k * (g[t] - a - (s[t] - mu) * inv * b) }
                    }
                }
            }
        } }
        return (dx, dgamma, dbeta)
    }
}

public enum LayerNormKernel {
    /// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dimension. Returns y, mean, invstd per row.
    public static func forward(_ x: Tensor, gamma: Tensor, beta: Tensor, eps: Float) -> (Tensor, Tensor, Tensor) {
        let d = x.shape.last!, rows = x.count / max(d, 1)
        let y = Tensor(shape: x.shape), mean = Tensor(shape: [rows]), inv = Tensor(shape: [rows])
        let xp = x.data, yp = y.data, gp = gamma.data, bp = beta.data, mp = mean.data, ip = inv.data
        let vector = VectorISA.level > 0
        Parallel.for(rows, grain: 16) { r in
            if vector {                                   // AVX-512 / AVX2 (CNative), one row's bits from that row
                cn_layernorm_rows(xp + r.lowerBound * d, gp, bp, yp + r.lowerBound * d, mp + r.lowerBound, ip + r.lowerBound,
                                  r.count, d, eps)
                return
            }
            for row in r {
                let s = xp + row * d, o = yp + row * d
                let mu = Float(Double(Reduce.sum(s, d)) / Double(d))
                let v = Double(Reduce.sumSquaredDeviation(s, d, mu)) / Double(d)
                let iv = Float(1 / (v + Double(eps)).squareRoot())
                mp[row] = mu; ip[row] = iv
                for i in 0..<d { o[i] = (s[i] - mu) * iv * gp[i] + bp[i] }
            }
        }
        return (y, mean, inv)
    }

    /// Returns dx (if asked), dgamma, dbeta. dgamma/dbeta are reduced over fixed row blocks in block
    /// order, so they do not depend on the thread count.
    public static func backward(_ dy: Tensor, _ x: Tensor, mean: Tensor, invstd: Tensor, gamma: Tensor,
                                needInput: Bool) -> (Tensor?, Tensor, Tensor) {
        let d = x.shape.last!, rows = x.count / max(d, 1)
        let dx: Tensor? = needInput ? Tensor(shape: x.shape) : nil
        let blockRows = 64, nb = (rows + blockRows - 1) / blockRows
        let partial = Tensor(zeros: [nb, 2, d])
        let xp = x.data, gyp = dy.data, gp = gamma.data, mp = mean.data, ip = invstd.data, dxp = dx?.data, pp = partial.data
        let vector = VectorISA.level > 0
        Parallel.blocks(nb) { b in
            let pg = pp + b * 2 * d, pb = pg + d
            if vector {
                let r0 = b * blockRows
                cn_layernorm_backward_rows(xp + r0 * d, gyp + r0 * d, mp + r0, ip + r0, gp, dxp.map { $0 + r0 * d }, pg, pb,
                                           min(rows, r0 + blockRows) - r0, d)
                return
            }
            for row in (b * blockRows)..<min(rows, (b + 1) * blockRows) {
                let s = xp + row * d, g = gyp + row * d, iv = ip[row]
                let muv = SIMD8<Float>(repeating: mp[row]), ivv = SIMD8<Float>(repeating: iv)
                var sdh = SIMD8<Float>(), sdhx = SIMD8<Float>()
                var i = 0
                while i < d {                                    // SIMD8 over the row (tail zero-padded)
                    let k = min(8, d - i)
                    let gv = FastMath.load(g + i, k), xh = (FastMath.load(s + i, k) - muv) * ivv
                    FastMath.store(FastMath.load(pg + i, k) + gv * xh, pg + i, k)
                    FastMath.store(FastMath.load(pb + i, k) + gv, pb + i, k)
                    let dh = gv * FastMath.load(gp + i, k)
                    sdh += dh; sdhx += dh * xh
                    i += 8
                }
                guard let dxp else { continue }
                let o = dxp + row * d
                let a = SIMD8<Float>(repeating: sdh.sum() / Float(d)), c = SIMD8<Float>(repeating: sdhx.sum() / Float(d))
                i = 0
                while i < d {
                    let k = min(8, d - i)
                    let gv = FastMath.load(g + i, k), xh = (FastMath.load(s + i, k) - muv) * ivv
                    FastMath.store(ivv * (gv * FastMath.load(gp + i, k) - a - xh * c), o + i, k)
                    i += 8
                }
            }
        }
        let dgamma = Tensor(zeros: [d]), dbeta = Tensor(zeros: [d])
        let dg = dgamma.data, db = dbeta.data
        for b in 0..<nb { for i in 0..<d { dg[i] += pp[b * 2 * d + i]; db[i] += pp[b * 2 * d + d + i] } }
        return (dx, dgamma, dbeta)
    }
}
