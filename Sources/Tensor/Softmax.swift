// Softmax kernels over one axis of x viewed as [outer, C, inner] (channels of NCHW: inner = H*W;
// attention rows: inner = 1), per-pixel cross-entropy on logits [N, C, H, W] with targets [N, H, W]
// (255 = ignore) and an optional per-pixel weight, and argmax/confidence.
import Foundation
import CNative

public enum SoftmaxKernel {
    static func dims(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// softmax (log: false) or log-softmax (log: true) along `axis`.
    public static func forward(_ x: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, c, inner) = dims(x.shape, axis)
        let y = Tensor(shape: x.shape)
        let xp = x.data, yp = y.data
        if inner == 1 {
            Parallel.for(outer, grain: 8) { r in
                if !log { rows(xp + r.lowerBound * c, yp + r.lowerBound * c, rows: r.count, cols: c, ld: c); return }
                for row in r {
                    let s = xp + row * c, d = yp + row * c
                    var m = -Float.infinity
                    for i in 0..<c { m = max(m, s[i]) }
                    let mv = SIMD8<Float>(repeating: m)
                    FastMath.map(s, d, c) { FastMath.exp($0 - mv) }
                    var z: Float = 0
                    for i in 0..<c { z += d[i] }
                    let l = m + Foundation.log(z); for i in 0..<c { d[i] = s[i] - l }
                }
            }
            return y
        }
        let block = 256, nb = (inner + block - 1) / block
        Parallel.for(outer * nb) { r in
            var m = [Float](repeating: 0, count: block), z = [Float](repeating: 0, count: block)
            for job in r {
                let o = job / nb, p0 = (job % nb) * block, len = min(block, inner - p0)
                let s = xp + o * c * inner + p0, d = yp + o * c * inner + p0
                for p in 0..<len { m[p] = -Float.infinity; z[p] = 0 }
                for ch in 0..<c { let row = s + ch * inner; for p in 0..<len { m[p] = max(m[p], row[p]) } }
                m.withUnsafeBufferPointer { mb in z.withUnsafeMutableBufferPointer { zb in
                    let mp = mb.baseAddress!, zp = zb.baseAddress!
                    for ch in 0..<c {
                        let row = s + ch * inner, out = d + ch * inner
                        var p = 0
                        while p < len {
                            let k = min(8, len - p)
                            let e = FastMath.exp(FastMath.load(row + p, k) - FastMath.load(mp + p, k))
                            FastMath.store(e, out + p, k)
                            FastMath.store(FastMath.load(zp + p, k) + e, zp + p, k)
                            p += 8
                        }
                    }
                } }
                if log {
                    for p in 0..<len { z[p] = m[p] + Foundation.log(z[p]) }
                    for ch in 0..<c { let row = s + ch * inner, out = d + ch * inner; for p in 0..<len { out[p] = row[p] - z[p] } }
                } else {
                    for p in 0..<len { z[p] = 1 / z[p] }
                    for ch in 0..<c { let out = d + ch * inner; for p in 0..<len { out[p] *= z[p] } }
                }
            }
        }
        return y
    }

    /// y[r] = softmax(scale * x[r]) over `cols` floats for `rows` rows `ld` floats apart (x == y
    /// allowed, scale > 0): CNative's AVX-512 / AVX2 kernel (VectorISA), else SIMD8 here. One row's
    /// bits depend on that row only.
    public static func rows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols c: Int, ld: Int,
                            scale: Float = 1) {
        if VectorISA.level > 0 { cn_softmax_rows(x, y, rows, c, ld, scale); return }
        for row in 0..<rows {
            let s = x + row * ld, d = y + row * ld
            var m = -Float.infinity
            for i in 0..<c { m = max(m, s[i]) }
            let mv = SIMD8<Float>(repeating: scale * m), sv = SIMD8<Float>(repeating: scale)
            FastMath.map(s, d, c) { FastMath.exp(sv * $0 - mv) }
            var z: Float = 0
            for i in 0..<c { z += d[i] }
            let iz = 1 / z; for i in 0..<c { d[i] *= iz }
        }
    }

    /// dx[r] = y[r] * (g[r] - <g[r], y[r]>) for softmax rows (dx == g allowed), rows `ld` apart.
    public static func rowsBackward(_ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    rows: Int, cols c: Int, ld: Int) {
        for row in 0..<rows {
            let gr = g + row * ld, yr = y + row * ld, dr = dx + row * ld
            let sv = SIMD8<Float>(repeating: Reduce.dot(gr, yr, c))
            var p = 0
            while p < c {
                let k = min(8, c - p)
                FastMath.store(FastMath.load(yr + p, k) * (FastMath.load(gr + p, k) - sv), dr + p, k)
                p += 8
            }
        }
    }

    /// softmax: dx = y * (g - sum_c g*y); log-softmax: dx = g - exp(y) * sum_c g. Pixel blocks
    /// of 256, channel rows vectorised.
    public static func backward(_ g: Tensor, output y: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, c, inner) = dims(y.shape, axis)
        let dx = Tensor(shape: y.shape)
        let gp = g.data, yp = y.data, dp = dx.data
        if inner == 1 {                                   // rows (attention): vectorise along the row
            Parallel.for(outer, grain: 8) { r in
                let o = r.lowerBound * c
                if !log { rowsBackward(gp + o, yp + o, dp + o, rows: r.count, cols: c, ld: c); return }
                for row in r {
                    let gr = gp + row * c, yr = yp + row * c, dr = dp + row * c
                    let sv = SIMD8<Float>(repeating: Reduce.sum(gr, c))
                    var p = 0
                    while p < c {
                        let k = min(8, c - p)
                        FastMath.store(FastMath.load(gr + p, k) - FastMath.exp(FastMath.load(yr + p, k)) * sv, dr + p, k)
                        p += 8
                    }
                }
            }
            return dx
        }
        let block = 256, nb = (inner + block - 1) / block
        Parallel.for(outer * nb) { r in
            var acc = [Float](repeating: 0, count: block)
            acc.withUnsafeMutableBufferPointer { ab in
                let s = ab.baseAddress!
                for job in r {
                    let o = job / nb, p0 = (job % nb) * block, len = min(block, inner - p0)
                    let base = o * c * inner + p0
                    s.update(repeating: 0, count: len)
                    for ch in 0..<c {
                        let gr = gp + base + ch * inner, yr = yp + base + ch * inner
                        if log { for p in 0..<len { s[p] += gr[p] } } else { for p in 0..<len { s[p] += gr[p] * yr[p] } }
                    }
                    for ch in 0..<c {
                        let gr = gp + base + ch * inner, yr = yp + base + ch * inner, dr = dp + base + ch * inner
                        var p = 0
                        while p < len {
                            let k = min(8, len - p)
                            let gv = FastMath.load(gr + p, k), yv = FastMath.load(yr + p, k), sv = FastMath.load(s + p, k)
                            FastMath.store(log ? gv - FastMath.exp(yv) * sv : yv * (gv - sv), dr + p, k)
                            p += 8
                        }
                    }
                }
            }
        }
        return dx
    }
}

public enum CrossEntropyKernel {
    static let block = 1024

    /// Per-pixel log-sum-exp over channels of logits [N, C, H, W]: [N*H*W].
    static func logSumExp(_ x: Tensor) -> [Float] {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        var out = [Float](repeating: 0, count: n * hw)
        let xp = x.data, nb = (hw + block - 1) / block
        out.withUnsafeMutableBufferPointer { ob in
            nonisolated(unsafe) let op = ob
            Parallel.for(n * nb) { r in
                for job in r {
                    let s = job / nb, p0 = (job % nb) * block, len = min(block, hw - p0)
                    let base = xp + s * c * hw + p0, o = op.baseAddress! + s * hw + p0
                    var m = [Float](repeating: -Float.infinity, count: len)
                    var z = [Float](repeating: 0, count: len)
                    m.withUnsafeMutableBufferPointer { mb in z.withUnsafeMutableBufferPointer { zb in
                        let mp = mb.baseAddress!, zp = zb.baseAddress!
                        for ch in 0..<c { let row = base + ch * hw; for p in 0..<len { mp[p] = max(mp[p], row[p]) } }
                        for ch in 0..<c {
                            let row = base + ch * hw
                            var p = 0
                            while p < len {
                                let k = min(8, len - p)
                                let e = FastMath.exp(FastMath.load(row + p, k) - FastMath.load(mp + p, k))
                                FastMath.store(FastMath.load(zp + p, k) + e, zp + p, k)
                                p += 8
                            }
                        }
                    } }
                    for p in 0..<len { o[p] = m[p] + Foundation.log(z[p]) }
                }
            }
        }
        return out
    }

    /// Sum over pixels with target != 255 of weight * (lse - logit[target]); also the count of
    /// such pixels. Blocks of pixels are reduced in block order (thread-count independent).
    public static func forward(_ x: Tensor, _ t: LabelMap, weight: Tensor?) -> (sum: Double, valid: Int, lse: [Float]) {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        precondition(t.count == n * hw && (weight == nil || weight!.count == n * hw), "cross-entropy: shapes differ")
        let lse = logSumExp(x)
        let perSample = (hw + block - 1) / block, nb = n * perSample      // blocks never span samples
        var partial = [Double](repeating: 0, count: nb), counts = [Int](repeating: 0, count: nb)
        let xp = x.data, tp = t.data, wp = weight?.data
        lse.withUnsafeBufferPointer { lb in partial.withUnsafeMutableBufferPointer { pb in counts.withUnsafeMutableBufferPointer { cb in
            nonisolated(unsafe) let (l, pp, cp) = (lb, pb, cb)
            Parallel.blocks(nb) { b in
                let sidx = b / perSample, p0 = (b % perSample) * block, p1 = min(hw, p0 + block)
                let plane = xp + sidx * c * hw, off = sidx * hw
                var s = 0.0, k = 0
                for p in p0..<p1 {
                    let label = Int(tp[off + p])
                    if label == 255 { continue }
                    precondition(label < c, "cross-entropy: label \(label) >= \(c) classes")
                    k += 1
                    let w = wp?[off + p] ?? 1
                    if w == 0 { continue }
                    s += Double(w) * Double(l[off + p] - plane[label * hw + p])
                }
                pp[b] = s; cp[b] = k
            }
        } } }
        return (partial.reduce(0, +), counts.reduce(0, +), lse)
    }

    /// d logits = scale * weight * (softmax - onehot(target)) on non-ignored pixels, 0 elsewhere.
    public static func backward(_ x: Tensor, _ t: LabelMap, weight: Tensor?, lse: [Float], scale: Float) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        let dx = Tensor(shape: x.shape)
        let xp = x.data, tp = t.data, wp = weight?.data, dp = dx.data
        lse.withUnsafeBufferPointer { lb in
            nonisolated(unsafe) let l = lb
            Parallel.for(n * c) { r in
                for plane in r {
                    let s = plane / c, ch = plane % c
                    let row = xp + plane * hw, d = dp + plane * hw, lp = l.baseAddress! + s * hw
                    var q = 0
                    while q < hw {                                   // probabilities, eight at a time
                        let k = min(8, hw - q)
                        FastMath.store(FastMath.exp(FastMath.load(row + q, k) - FastMath.load(lp + q, k)), d + q, k)
                        q += 8
                    }
                    for p in 0..<hw {
                        let i = s * hw + p, label = tp[i]
                        if label == 255 { d[p] = 0; continue }
                        let w = (wp?[i] ?? 1) * scale
                        d[p] = w * (Int(label) == ch ? d[p] - 1 : d[p])
                    }
                }
            }
        }
        return dx
    }

    /// Probability of the target class per pixel; ignored pixels get 1 (as the OHEM reference).
    public static func targetProbabilities(_ x: Tensor, _ t: LabelMap) -> [Float] {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        let lse = logSumExp(x)
        return (0..<(n * hw)).map { i in
            let label = Int(t.data[i])
            if label == 255 { return 1 }
            return Foundation.exp(x.data[((i / hw) * c + label) * hw + i % hw] - lse[i])
        }
    }

    /// Hard argmax over channels (first maximum wins) and its softmax probability: LabelMap
    /// [N, H, W] and confidence [N, H, W]. No gradient.
    public static func argmaxConfidence(_ x: Tensor) -> (LabelMap, Tensor) {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / max(n * c, 1)
        precondition(c <= 255, "argmax: at most 255 classes in a LabelMap")
        let labels = LabelMap(shape: [n] + Array(x.shape[2...])), conf = Tensor(shape: [n] + Array(x.shape[2...]))
        let xp = x.data, lp = labels.data, cp = conf.data
        Parallel.for(n * hw, grain: 256) { r in
            for i in r {
                let base = xp + (i / hw) * c * hw + i % hw
                var best = base[0], bi = 0
                for ch in 1..<max(c, 1) where base[ch * hw] > best { best = base[ch * hw]; bi = ch }
                var z: Float = 0
                for ch in 0..<c { z += Foundation.exp(base[ch * hw] - best) }
                lp[i] = UInt8(bi); cp[i] = 1 / z
            }
        }
        return (labels, conf)
    }
}
