// Layout kernels: permute (general), concat and slice along one axis (view as [outer, axis, inner]).

public enum ShapeKernel {
    /// y = x.permute(perm): y.shape[i] = x.shape[perm[i]]. Swapping the last two axes (tokens <->
    /// NCHW) takes the tiled transpose.
    public static func permute(_ x: Tensor, _ perm: [Int]) -> Tensor {
        let r = x.rank
        if r >= 2 && perm == Array(0..<(r - 2)) + [r - 1, r - 2] { return transposeLastTwo(x) }
        return permuteGeneral(x, perm)
    }

    /// Tile side of `transposeLastTwo`: a tile's source and destination lines stay in L1.
    static let tile = 32

    /// x [..., R, C] -> [..., C, R] in 32 x 32 tiles (a row-by-row gather read each source cache
    /// line once per destination row: 2 x 6561 x 64 tokens -> NCHW went through L2 16 times).
    public static func transposeLastTwo(_ x: Tensor) -> Tensor {
        let r = x.rank, rows = x.shape[r - 2], cols = x.shape[r - 1]
        let y = Tensor(shape: Array(x.shape.dropLast(2)) + [cols, rows])
        let batch = x.count / max(rows * cols, 1), tr = (rows + tile - 1) / tile
        let xp = x.data, yp = y.data, t = tile
        Parallel.for(batch * tr, grain: max(1, 8192 / max(cols * t, 1))) { range in
            for job in range {
                let b = job / tr, i0 = (job - b * tr) * t, i1 = min(rows, i0 + t)
                let src = xp + b &* rows &* cols, dst = yp + b &* rows &* cols
                var j0 = 0
                while j0 < cols {
                    let j1 = min(cols, j0 + t)
                    for j in j0..<j1 {
                        let d = dst + j &* rows
                        for i in i0..<i1 { d[i] = src[i &* cols &+ j] }
                    }
                    j0 += t
                }
            }
        }
        return y
    }

    /// Non-overlapping s x s patches of channels-last tokens x [B, H*W, C] -> [B, (H/s)*(W/s), C*s*s]
    /// with each patch in (c, i, j) order: the columns of a kernel-s stride-s conv, so a linear
    /// layer with the OIHW weight viewed as [O, C*s*s] is that conv, output already in tokens.
    /// Rows and columns past the last whole patch are dropped (as the conv without padding).
    public static func patches(_ x: Tensor, height h: Int, width w: Int, size s: Int) -> Tensor {
        let (b, c) = (x.shape[0], x.shape[2])
        precondition(x.shape.count == 3 && x.shape[1] == h * w && s >= 1 && h >= s && w >= s, "patches: x \(x.shape), \(h)x\(w), size \(s)")
        let (ph, pw) = (h / s, w / s), k = c * s * s
        let y = Tensor(shape: [b, ph * pw, k])
        let xp = x.data, yp = y.data
        Parallel.for(b * ph * pw, grain: max(1, 16384 / max(k, 1))) { r in
            for job in r {
                let n = job / (ph * pw), p = job - n * (ph * pw), py = p / pw, px = p - py * pw
                let out = yp + job &* k
                for i in 0..<s {
                    for j in 0..<s {
                        let row: Int = n &* h &+ py &* s &+ i
                        let pixel: Int = row &* w &+ px &* s &+ j
                        let src = xp + pixel &* c, o = out + (i &* s &+ j), step = s &* s
                        for ch in 0..<c { o[ch &* step] = src[ch] }
                    }
                }
            }
        }
        return y
    }

    /// The adjoint of `patches`: dx [B, H*W, C], zero on the dropped rows and columns.
    public static func patchesBackward(_ g: Tensor, height h: Int, width w: Int, size s: Int, channels c: Int) -> Tensor {
        let b = g.shape[0], (ph, pw) = (h / s, w / s), k = c * s * s
        let dx = Tensor(shape: [b, h * w, c])
        let gp = g.data, dp = dx.data
        Parallel.for(b * h, grain: max(1, 16384 / max(w * c, 1))) { r in
            for job in r {
                let n = job / h, y = job - n * h, py = y / s, i = y - py * s
                let row = dp + job &* w &* c
                if py >= ph { row.update(repeating: 0, count: w * c); continue }
                for x in 0..<w {
                    let d = row + x &* c, px = x / s, j = x - px * s
                    if px >= pw { d.update(repeating: 0, count: c); continue }
                    let patch: Int = (n &* ph &+ py) &* pw &+ px
                    let offset: Int = patch &* k &+ i &* s &+ j
                    let src = gp + offset, step = s &* s
                    for ch in 0..<c { d[ch] = src[ch &* step] }
                }
            }
        }
        return dx
    }

    /// Any permutation, row by row (the naive twin of the tiled transpose).
    public static func permuteGeneral(_ x: Tensor, _ perm: [Int]) -> Tensor {
        precondition(perm.sorted() == Array(0..<x.rank), "bad permutation \(perm) for rank \(x.rank)")
        let r = x.rank
        let outShape = perm.map { x.shape[$0] }
        var xStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { xStrides[i] = xStrides[i + 1] * x.shape[i + 1] }
        let srcStrides = perm.map { xStrides[$0] }             // input stride of each output axis
        let y = Tensor(shape: outShape)
        if r == 0 { y.data[0] = x.data[0]; return y }
        let inner = outShape[r - 1], innerStride = srcStrides[r - 1]
        let rows = y.count / max(inner, 1)
        let xp = x.data, yp = y.data
        let outer = Array(outShape.dropLast()), outerStrides = Array(srcStrides.dropLast())
        Parallel.for(rows, grain: 64) { range in
            for row in range {
                var rr = row, off = 0
                var i = outer.count - 1
                while i >= 0 { off &+= (rr % outer[i]) &* outerStrides[i]; rr /= outer[i]; i -= 1 }
                let d = yp + row &* inner, s = xp + off
                if innerStride == 1 { d.update(from: s, count: inner) }
                else { for j in 0..<inner { d[j] = s[j &* innerStride] } }
            }
        }
        return y
    }

    public static func inversePermutation(_ perm: [Int]) -> [Int] {
        var inv = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inv[p] = i }
        return inv
    }

    /// Concatenates along `axis`; all other dims must agree.
    public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        var shape = xs[0].shape
        shape[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
        for x in xs {
            precondition(x.rank == shape.count && (0..<x.rank).allSatisfy { $0 == axis || x.shape[$0] == shape[$0] },
                         "concat: shapes \(xs.map { $0.shape }) differ off axis \(axis)")
        }
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let y = Tensor(shape: shape)
        var offset = 0
        for x in xs {
            let len = x.shape[axis] * inner
            let xp = x.data, yp = y.data, total = shape[axis] * inner, off = offset
            Parallel.for(outer) { r in for o in r { (yp + o * total + off).update(from: xp + o * len, count: len) } }
            offset += len
        }
        return y
    }

    /// x[..., start..<start+length, ...] along `axis`.
    public static func slice(_ x: Tensor, axis: Int, start: Int, length: Int) -> Tensor {
        precondition(start >= 0 && length >= 0 && start + length <= x.shape[axis], "slice out of range")
        var shape = x.shape
        shape[axis] = length
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let y = Tensor(shape: shape)
        let total = x.shape[axis] * inner, len = length * inner, off = start * inner
        let xp = x.data, yp = y.data
        if outer < Parallel.threads {            // a few long runs (a weight's rows): cut the runs
            for o in 0..<outer {
                let s = xp + o * total + off, d = yp + o * len
                Parallel.for(len, grain: 1 << 14) { r in (d + r.lowerBound).update(from: s + r.lowerBound, count: r.count) }
            }
            return y
        }
        Parallel.for(outer) { r in for o in r { (yp + o * len).update(from: xp + o * total + off, count: len) } }
        return y
    }

    /// dst[..., start..<start+len, ...] += g (the adjoint of slice).
    public static func addSlice(_ g: Tensor, into dst: Tensor, axis: Int, start: Int) {
        let outer = dst.shape[..<axis].reduce(1, *), inner = dst.shape[(axis + 1)...].reduce(1, *)
        let total = dst.shape[axis] * inner, len = g.shape[axis] * inner, off = start * inner
        let gp = g.data, dp = dst.data
        if outer < Parallel.threads {            // a few long runs (a weight's rows): cut the runs
            for o in 0..<outer {
                let d = dp + o * total + off, s = gp + o * len
                Parallel.for(len, grain: 1 << 14) { r in for i in r { d[i] += s[i] } }
            }
            return
        }
        Parallel.for(outer) { r in
            for o in r { let d = dp + o * total + off, s = gp + o * len; for i in 0..<len { d[i] += s[i] } }
        }
    }
}
