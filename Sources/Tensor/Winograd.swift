// Winograd F(2x2, 3x3) for stride-1, undilated, ungrouped 3x3 convolutions (any padding):
// 2.25x fewer multiplies than im2col + GEMM. Y = A^T [ (G g G^T) . (B^T d B) ] A per 2x2 output
// tile; the 16 elementwise products over channels become 16 GEMMs [O, C] x [C, tiles], with the
// tiles of all samples side by side. Backward input is the same transform applied to dy with the
// filter rotated by 180 degrees and its in/out channels swapped (padding 2 - p).

extension Conv {
    /// Minimum input and output channels for the Winograd path (smaller convs use im2col). With 32
    /// channels the 16 GEMMs have K = 32 and the transforms dominate: the demo cnn-rgb train step
    /// (batch 16, crop 64, 1 thread) took 250 ms with 16 here and 197-203 ms with 48 or 80.
    nonisolated(unsafe) public static var winogradMinChannels = 64
    /// Minimum number of 2x2 output tiles (all samples of one batch group, so that a replica's
    /// convs take the same path in any process, BatchGroups): below it the transforms cost more than
    /// the saved multiplies (measured, 1 thread: 2x256x21x21 forward 14.1 ms Winograd vs 8.9 ms
    /// im2col; 2x304x81x81 -> 256: 90 vs 152 ms; 2x64x81x81: 12.4 vs 13.2 ms).
    nonisolated(unsafe) public static var winogradMinTiles = 2048
    /// ... or output maps at least this many pixels high and wide, whatever the batch. Large maps
    /// keep the transforms' eight-tile lanes full and the tiles' edge waste small: ResNet-50's layer2
    /// (41 x 41, 128 channels, 882 tiles at batch 2) took the R50 train step at batch 2, crop 321 from
    /// 1812 / 1788 to 1717 / 1724 ms (2 threads, alternating processes, 2026-12-06). On 21 x 21 maps
    /// (layer3) it was even (1762 / 1759 ms), on the demo's 8 x 8-24 x 24 maps slower (cnn-rgb train step
    /// at batch 16, crop 64: 94-103 ms with im2col, 112-123 with F(2x2)).
    nonisolated(unsafe) public static var winogradMinSide = 32
    /// Working-set cap of the transformed input and output (16 x (C + O) x tiles floats); larger
    /// batches are processed in sample chunks. The decoder's 3x3 convs at crop 321 need 60 MB per
    /// sample, so 64 MB runs them one sample at a time: R50 at batch 8 peaked at 3368 MB instead of
    /// 3471 MB with 256 MB (its backward starts in the decoder, when every activation is held).
    nonisolated(unsafe) public static var winogradMaxBytes = 64 << 20
    /// Whether the forward transforms take eight whole tiles per step where they can (false: one tile
    /// at a time everywhere, the reference the eight-lane path is tested against bit for bit).
    nonisolated(unsafe) public static var winogradTileLanes = true

    /// Eight floats `step` apart from q: one value per tile of eight side-by-side tiles (the transforms'
    /// eight-lane paths; F(2x2) tiles start 2 floats apart, F(4x4) tiles 4).
    @inline(__always)
    static func tileLanes(_ q: UnsafePointer<Float>, step: Int) -> SIMD8<Float> {
        SIMD8(q[0], q[step], q[2 &* step], q[3 &* step], q[4 &* step], q[5 &* step], q[6 &* step], q[7 &* step])
    }

    /// The convs both Winograd variants compute: 3x3, stride 1, undilated, ungrouped, padding 0-2.
    static func isWinogradShape(_ g: ConvGeometry) -> Bool {
        g.kh == 3 && g.kw == 3 && g.stride == 1 && g.dilation == 1 && g.groups == 1 && g.padding <= 2
    }

    public static func useWinograd(_ g: ConvGeometry) -> Bool {
        isWinogradShape(g) && g.c >= winogradMinChannels && g.o >= winogradMinChannels
            && (BatchGroups.size(g.n) * ((g.ho + 1) / 2) * ((g.wo + 1) / 2) >= winogradMinTiles
                || min(g.ho, g.wo) >= winogradMinSide)
    }

    /// U[k][o][c] = (G w[o][c] G^T)[k], k = 4 * row + col: [16, O, C].
    static func winogradFilter(_ w: UnsafePointer<Float>, o: Int, c: Int) -> Tensor {
        let u = Tensor(shape: [16, o, c])
        let up = u.data, oc = o * c
        Parallel.for(oc, grain: 64) { r in
            for idx in r {
                let g = w + idx &* 9
                let g0 = SIMD4<Float>(g[0], g[1], g[2], 0), g1 = SIMD4<Float>(g[3], g[4], g[5], 0)
                let g2 = SIMD4<Float>(g[6], g[7], g[8], 0)
                let rows = (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)          // G g: 4 rows of 3
                @inline(__always) func put(_ i: Int, _ a: SIMD4<Float>) {                // (G g) G^T, row i
                    up[(4 &* i) &* oc &+ idx] = a[0]
                    up[(4 &* i &+ 1) &* oc &+ idx] = 0.5 * (a[0] + a[1] + a[2])
                    up[(4 &* i &+ 2) &* oc &+ idx] = 0.5 * (a[0] - a[1] + a[2])
                    up[(4 &* i &+ 3) &* oc &+ idx] = a[2]
                }
                put(0, rows.0); put(1, rows.1); put(2, rows.2); put(3, rows.3)
            }
        }
        return u
    }

    /// V = B^T d B for every (channel, tile) of x: [16, C, tiles]; tiles of all samples side by side.
    static func winogradInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry) -> Tensor {
        let (n, c, h, wd, p, ho, wo) = (g.n, g.c, g.h, g.w, g.padding, g.ho, g.wo)
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tilesPerSample = th * tw, t = n * tilesPerSample
        let v = Tensor(shape: [16, c, t])
        let vp = v.data, ct = c * t
        // B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]].
        let lanes8 = winogradTileLanes
        Parallel.for(n * c) { r in
            let cols = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 16)   // (B^T d)[i][j] at 4i + j, 8 tiles
            defer { cols.deallocate() }
            for plane in r {
                let s = plane / c, ch = plane % c
                let src = x + plane &* h &* wd
                for ty in 0..<th {
                    var tx = 0
                    while tx < tw {
                        let y0 = 2 &* ty &- p, x0 = 2 &* tx &- p
                        if lanes8 && tx &+ 8 <= tw && x0 >= 0 && x0 &+ 18 <= wd {
                            // Eight tiles side by side, one per lane: the one-tile path's operations per
                            // value (B^T down the rows, then along them), so the same bits, and each of
                            // the 16 results is one 8-float store.
                            @inline(__always) func lanes(_ i: Int, _ j: Int) -> SIMD8<Float> {
                                let iy = y0 &+ i
                                if iy < 0 || iy >= h { return SIMD8<Float>() }
                                return tileLanes(src + (iy &* wd &+ x0 &+ j), step: 2)
                            }
                            let base = vp + (ch &* t &+ s &* tilesPerSample &+ ty &* tw &+ tx)
                            for j in 0..<4 {                                                      // B^T d, column j
                                let (d0, d1, d2, d3) = (lanes(0, j), lanes(1, j), lanes(2, j), lanes(3, j))
                                cols[j] = d0 - d2; cols[4 &+ j] = d1 + d2; cols[8 &+ j] = d2 - d1; cols[12 &+ j] = d1 - d3
                            }
                            for i in 0..<4 {
                                let rv = cols + 4 &* i
                                let out = base + (4 &* i) &* ct
                                @inline(__always) func st(_ k: Int, _ v: SIMD8<Float>) {
                                    UnsafeMutableRawPointer(out + k &* ct).storeBytes(of: v, as: SIMD8<Float>.self)
                                }
                                st(0, rv[0] - rv[2]); st(1, rv[1] + rv[2]); st(2, rv[2] - rv[1]); st(3, rv[1] - rv[3])
                            }
                            tx &+= 8
                            continue
                        }
                        func row(_ i: Int) -> SIMD4<Float> {
                            let iy = y0 &+ i
                            if iy < 0 || iy >= h { return SIMD4<Float>() }
                            let rp = src + iy &* wd
                            if x0 >= 0 && x0 &+ 4 <= wd { return UnsafeRawPointer(rp + x0).loadUnaligned(as: SIMD4<Float>.self) }
                            var v = SIMD4<Float>()
                            for j in 0..<4 { let ix = x0 &+ j; if ix >= 0 && ix < wd { v[j] = rp[ix] } }
                            return v
                        }
                        let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3))                  // the 4x4 patch
                        let r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3                // B^T d (rows)
                        let col = s &* tilesPerSample &+ ty &* tw &+ tx
                        let base = vp + (ch &* t &+ col)
                        @inline(__always) func put(_ i: Int, _ rv: SIMD4<Float>) {
                            let q = base + (4 &* i) &* ct
                            q[0] = rv[0] - rv[2]; q[ct] = rv[1] + rv[2]; q[2 &* ct] = rv[2] - rv[1]; q[3 &* ct] = rv[1] - rv[3]
                        }
                        put(0, r0); put(1, r1); put(2, r2); put(3, r3)
                        tx &+= 1
                    }
                }
            }
        }
        return v
    }

    /// y = conv(x, w) for the Winograd geometry; w given as [O, C, 3, 3] data.
    static func winogradForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ g: ConvGeometry,
                                _ y: UnsafeMutablePointer<Float>) {
        let u = winogradFilter(w, o: g.o, c: g.c)
        for (s0, sub) in winogradChunks(g) {
            winogradForwardChunk(x + s0 * g.c * g.h * g.w, u, sub, y + s0 * g.o * g.ho * g.wo)
        }
    }

    /// Sample ranges whose transformed input and output (V and M) fit in `winogradMaxBytes`, each
    /// inside one batch group (BatchGroups: a replica's samples compute the same in any batch).
    /// `oneGroup`: the samples are one replica's rows (the weight gradient, computed per replica), so
    /// the ranges must depend on their count only, not on BatchGroups.count.
    static func winogradChunks(_ g: ConvGeometry, oneGroup: Bool = false) -> [(Int, ConvGeometry)] {
        let tiles = ((g.ho + 1) / 2) * ((g.wo + 1) / 2)
        let perSample = 16 * (g.c + g.o) * tiles * 4
        let limit = max(1, winogradMaxBytes / max(perSample, 1))
        let ranges = oneGroup ? stride(from: 0, to: g.n, by: limit).map { $0..<min($0 + limit, g.n) }
                              : BatchGroups.ranges(g.n, limit: limit)
        return ranges.map { r in
            (r.lowerBound, ConvGeometry(input: [r.count, g.c, g.h, g.w], weight: [g.o, g.c, 3, 3], padding: g.padding))
        }
    }

    static func winogradForwardChunk(_ x: UnsafePointer<Float>, _ u: Tensor, _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>) {
        let (n, c, o, ho, wo) = (g.n, g.c, g.o, g.ho, g.wo)
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tilesPerSample = th * tw, t = n * tilesPerSample
        let v = winogradInput(x, g), m = Tensor(shape: [16, o, t])
        let vp = v.data, ct = c * t
        for k in 0..<16 {
            Gemm.sgemm(m: o, n: t, k: c, a: u.data + k * o * c, lda: c, b: vp + k * ct, ldb: t, c: m.data + k * o * t, ldc: t)
        }
        // Y = A^T M A, A^T = [[1,1,1,0],[0,1,-1,-1]].
        let mp = m.data, ot = o * t, lanes8 = winogradTileLanes
        Parallel.for(n * o) { r in
            for plane in r {
                let s = plane / o, oc = plane % o
                let dst = y + plane &* ho &* wo
                for ty in 0..<th {
                    var tx = 0
                    while tx < tw {
                        let col = s &* tilesPerSample &+ ty &* tw &+ tx
                        let base = mp + (oc &* t &+ col)
                        if lanes8 && 2 &* (tx &+ 8) <= wo {
                            // Eight whole tiles, one per lane: the one-tile path's sums in its order, so
                            // the same bits, from 16 8-float loads.
                            @inline(__always) func e(_ k: Int) -> SIMD8<Float> {
                                UnsafeRawPointer(base + k &* ot).loadUnaligned(as: SIMD8<Float>.self)
                            }
                            let a0 = e(0) + e(4) + e(8), a1 = e(1) + e(5) + e(9), a2 = e(2) + e(6) + e(10), a3 = e(3) + e(7) + e(11)
                            let y00 = a0 + a1 + a2, y01 = a1 - a2 - a3
                            let row0 = dst + (2 &* ty &* wo &+ 2 &* tx)
                            for l in 0..<8 { row0[2 &* l] = y00[l]; row0[2 &* l &+ 1] = y01[l] }
                            if 2 &* ty &+ 1 < ho {
                                let b0 = e(4) - e(8) - e(12), b1 = e(5) - e(9) - e(13), b2 = e(6) - e(10) - e(14), b3 = e(7) - e(11) - e(15)
                                let y10 = b0 + b1 + b2, y11 = b1 - b2 - b3, row1 = row0 + wo
                                for l in 0..<8 { row1[2 &* l] = y10[l]; row1[2 &* l &+ 1] = y11[l] }
                            }
                            tx &+= 8
                            continue
                        }
                        func e(_ k: Int) -> Float { base[k &* ot] }
                        // rows of A^T M: [2, 4]
                        let a0 = e(0) + e(4) + e(8), a1 = e(1) + e(5) + e(9), a2 = e(2) + e(6) + e(10), a3 = e(3) + e(7) + e(11)
                        let b0 = e(4) - e(8) - e(12), b1 = e(5) - e(9) - e(13), b2 = e(6) - e(10) - e(14), b3 = e(7) - e(11) - e(15)
                        let oy = 2 &* ty, ox = 2 &* tx
                        let row0 = dst + oy &* wo
                        row0[ox] = a0 + a1 + a2
                        if ox &+ 1 < wo { row0[ox &+ 1] = a1 - a2 - a3 }
                        if oy &+ 1 < ho {
                            let row1 = row0 + wo
                            row1[ox] = b0 + b1 + b2
                            if ox &+ 1 < wo { row1[ox &+ 1] = b1 - b2 - b3 }
                        }
                        tx &+= 1
                    }
                }
            }
        }
    }

    /// dw via Winograd: the adjoint of the forward transform. dU[k] = sum over tiles of
    /// (A dY A^T)[k] (x) V[k] (16 GEMMs [O, tiles] x [tiles, C]), then dw = G^T dU G.
    static func winogradBackwardWeight(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
        let (o, c) = (g.o, g.c)
        let du = Tensor(shape: [16, o, c])
        for (i, (s0, sub)) in winogradChunks(g, oneGroup: true).enumerated() {       // dU accumulates over sample chunks
            winogradWeightChunk(dy.data + s0 * o * g.ho * g.wo, x.data + s0 * c * g.h * g.w, sub, du, accumulate: i > 0)
        }
        // dw = G^T dU G, G^T = [[1,.5,.5,0],[0,.5,-.5,0],[0,.5,.5,1]].
        let dw = Tensor(shape: [o, c, 3, 3])
        let dup = du.data, dwp = dw.data, oc = o * c
        Parallel.for(oc, grain: 64) { r in
            for idx in r {
                func e(_ i: Int, _ j: Int) -> Float { dup[(4 &* i &+ j) &* oc &+ idx] }
                func row(_ i: Int) -> SIMD4<Float> { SIMD4(e(i, 0), e(i, 1), e(i, 2), e(i, 3)) }
                let (q0, q1, q2, q3) = (row(0), row(1), row(2), row(3))
                let h0 = q0 + 0.5 * (q1 + q2), h1 = 0.5 * (q1 - q2), h2 = 0.5 * (q1 + q2) + q3   // G^T dU: 3 rows of 4
                let out = dwp + idx &* 9
                @inline(__always) func put(_ i: Int, _ hv: SIMD4<Float>) {
                    out[3 &* i] = hv[0] + 0.5 * (hv[1] + hv[2])
                    out[3 &* i &+ 1] = 0.5 * (hv[1] - hv[2])
                    out[3 &* i &+ 2] = 0.5 * (hv[1] + hv[2]) + hv[3]
                }
                put(0, h0); put(1, h1); put(2, h2)
            }
        }
        return dw
    }

    static func winogradWeightChunk(_ gp: UnsafePointer<Float>, _ xp: UnsafePointer<Float>, _ g: ConvGeometry, _ du: Tensor,
                                    accumulate: Bool) {
        let (n, c, o, ho, wo) = (g.n, g.c, g.o, g.ho, g.wo)
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tilesPerSample = th * tw, t = n * tilesPerSample
        let v = winogradInput(xp, g)
        let m = Tensor(shape: [16, o, t])
        let mp = m.data, ot = o * t
        // A dY A^T per (output channel, tile), A = [[1,0],[1,1],[1,-1],[0,-1]] (dY zero outside the map).
        Parallel.for(n * o) { r in
            for plane in r {
                let s = plane / o, oc = plane % o
                let src = gp + plane &* ho &* wo
                for ty in 0..<th {
                    for tx in 0..<tw {
                        let oy = 2 &* ty, ox = 2 &* tx
                        let y00 = src[oy &* wo &+ ox]
                        let y01: Float = ox &+ 1 < wo ? src[oy &* wo &+ ox &+ 1] : 0
                        let y10: Float = oy &+ 1 < ho ? src[(oy &+ 1) &* wo &+ ox] : 0
                        let y11: Float = oy &+ 1 < ho && ox &+ 1 < wo ? src[(oy &+ 1) &* wo &+ ox &+ 1] : 0
                        let r0 = SIMD4<Float>(y00, y00 + y01, y00 - y01, -y01)              // rows of dY A^T
                        let r1 = SIMD4<Float>(y10, y10 + y11, y10 - y11, -y11)
                        let rows = (r0, r0 + r1, r0 - r1, -r1)                             // A (dY A^T)
                        let base = mp + (oc &* t &+ s &* tilesPerSample &+ ty &* tw &+ tx)
                        @inline(__always) func put(_ i: Int, _ a: SIMD4<Float>) {
                            let q = base + (4 &* i) &* ot
                            q[0] = a[0]; q[ot] = a[1]; q[2 &* ot] = a[2]; q[3 &* ot] = a[3]
                        }
                        put(0, rows.0); put(1, rows.1); put(2, rows.2); put(3, rows.3)
                    }
                }
            }
        }
        for k in 0..<16 {
            Gemm.sgemm(transB: true, m: o, n: c, k: t, a: mp + k * ot, lda: t, b: v.data + k * c * t, ldb: t,
                       beta: accumulate ? 1 : 0, c: du.data + k * o * c, ldc: c)
        }
    }

    /// The geometry of the input gradient as a forward conv: dy [N, O, HO, WO] with the rotated,
    /// channel-swapped filter [C, O, 3, 3], padding 2 - p (a Winograd shape).
    static func winogradBackwardGeometry(_ g: ConvGeometry) -> ConvGeometry {
        ConvGeometry(input: [g.n, g.o, g.ho, g.wo], weight: [g.c, g.o, 3, 3], padding: 2 - g.padding)
    }

    /// dx via Winograd: dy convolved with the rotated, channel-swapped filter, padding 2 - p, by
    /// F(4x4) where `useWinograd4Training` takes that geometry, else F(2x2).
    static func winogradBackwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
        let rotated = Tensor(shape: [g.c, g.o, 3, 3])
        let wp = w.data, rp = rotated.data, (o, c) = (g.o, g.c)
        Parallel.for(o * c, grain: 256) { r in
            for idx in r {
                let oc = idx / c, ch = idx % c
                let src = wp + idx &* 9, dst = rp + (ch &* o &+ oc) &* 9
                for k in 0..<9 { dst[k] = src[8 &- k] }
            }
        }
        let gb = winogradBackwardGeometry(g)
        precondition(gb.ho == g.h && gb.wo == g.w)
        if useWinograd4Training(gb) {
            let u = winograd4Filter(rp, o: g.c, c: g.o)
            return winograd4Forward(dy, u, gb, bias: nil, relu: false)
        }
        let dx = Tensor(shape: [g.n, g.c, g.h, g.w])
        winogradForward(dy.data, rp, gb, dx.data)
        return dx
    }
}
