// Softmax kernels over one axis of x viewed as [outer, C, inner] (channels of NCHW: inner = H*W;
// attention rows: inner = 1), per-pixel cross-entropy on logits [N, C, H, W] with targets [N, H, W]
// (255 = ignore) and an optional per-pixel weight, and argmax/confidence.
import Foundation

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
                for row in r {
                    let s = xp + row * c, d = yp + row * c
                    var m = -Float.infinity
                    for i in 0..<c { m = max(m, s[i]) }
                    var z: Float = 0
                    for i in 0..<c { let e = Foundation.exp(s[i] - m); d[i] = e; z += e }
                    if log { let l = m + Foundation.log(z); for i in 0..<c { d[i] = s[i] - l } }
                    else { let iz = 1 / z; for i in 0..<c { d[i] *= iz } }
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
                for ch in 0..<c {
                    let row = s + ch * inner, out = d + ch * inner
                    for p in 0..<len { let e = Foundation.exp(row[p] - m[p]); out[p] = e; z[p] += e }
                }
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

    /// softmax: dx = y * (g - sum_c g*y); log-softmax: dx = g - exp(y) * sum_c g.
    public static func backward(_ g: Tensor, output y: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, c, inner) = dims(y.shape, axis)
        let dx = Tensor(shape: y.shape)
        let gp = g.data, yp = y.data, dp = dx.data
        Parallel.for(outer * inner, grain: 64) { r in
            for job in r {
                let o = job / inner, p = job % inner
                let base = o * c * inner + p
                var s: Float = 0
                if log {
                    for ch in 0..<c { s += gp[base + ch * inner] }
                    for ch in 0..<c { let k = base + ch * inner; dp[k] = gp[k] - Foundation.exp(yp[k]) * s }
                } else {
                    for ch in 0..<c { let k = base + ch * inner; s += gp[k] * yp[k] }
                    for ch in 0..<c { let k = base + ch * inner; dp[k] = yp[k] * (gp[k] - s) }
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
                    for ch in 0..<c { let row = base + ch * hw; for p in 0..<len { m[p] = max(m[p], row[p]) } }
                    var z = [Float](repeating: 0, count: len)
                    for ch in 0..<c { let row = base + ch * hw; for p in 0..<len { z[p] += Foundation.exp(row[p] - m[p]) } }
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
        let nb = (n * hw + block - 1) / block
        var partial = [Double](repeating: 0, count: nb), counts = [Int](repeating: 0, count: nb)
        let xp = x.data, tp = t.data, wp = weight?.data
        lse.withUnsafeBufferPointer { lb in partial.withUnsafeMutableBufferPointer { pb in counts.withUnsafeMutableBufferPointer { cb in
            nonisolated(unsafe) let (l, pp, cp) = (lb, pb, cb)
            Parallel.blocks(nb) { b in
                var s = 0.0, k = 0
                for i in (b * block)..<min(n * hw, (b + 1) * block) {
                    let label = Int(tp[i])
                    if label == 255 { continue }
                    precondition(label < c, "cross-entropy: label \(label) >= \(c) classes")
                    k += 1
                    let w = wp?[i] ?? 1
                    if w == 0 { continue }
                    let sidx = i / hw, p = i % hw
                    s += Double(w) * Double(l[i] - xp[(sidx * c + label) * hw + p])
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
                    let row = xp + plane * hw, d = dp + plane * hw
                    for p in 0..<hw {
                        let i = s * hw + p, label = tp[i]
                        if label == 255 { d[p] = 0; continue }
                        let w = (wp?[i] ?? 1) * scale
                        let prob = Foundation.exp(row[p] - l[i])
                        d[p] = w * (Int(label) == ch ? prob - 1 : prob)
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
