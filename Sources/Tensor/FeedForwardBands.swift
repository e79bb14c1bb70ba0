// Mix-FFN's inference (fc1 -> depthwise 3x3 + GELU -> fc2 + bias + residual) in bands of image
// rows, so that the hidden tensor never leaves the core's cache. Unfused, a MiT-b2 stage-1 block at
// crop 321 writes a 6.7 MB hidden tensor per sample (fc1), reads and writes it again (the depthwise
// conv, which then runs at memory bandwidth) and reads it once more (fc2); here each thread keeps a
// band of a few rows of it (with the two rows the 3x3 taps need above and below) in buffers of
// `bandBytes` at most.
import CNative

public enum FeedForwardBands {
    /// Off: Mix-FFN runs as three ops (the same bits; tests and `dcot-bench --no-ffn-bands` compare).
    nonisolated(unsafe) public static var enabled = true
    /// Most bytes of one task's hidden rows: fc1's rows for the band with one row above and below,
    /// and the depthwise conv's output rows (a Zen 4 core's L2). Every band reads both weight
    /// matrices again; MiT-b2's stages still gain with fc1's 1.6 and 4 MB (stages 3, 4).
    nonisolated(unsafe) public static var bandBytes = 1 << 20
    /// Tasks per thread when a batch has fewer samples than threads (each sample then cut into row
    /// parts, each part computing fc1 for one extra row at each inner edge).
    nonisolated(unsafe) public static var partsPerThread = 1

    /// Whether `forward` runs for these shapes: dcot's GEMM adding in its own pass (so each band's
    /// products compute the bits of the whole product), neither whole product a dot-product one
    /// (`Gemm.useDotProducts`: a map of at most 64 tokens and a K of 512 or more; the bands always
    /// run the kernel), and at least two bands' worth of rows (smaller maps fit the cache whole).
    public static func applies(hidden: Int, channels c: Int, height h: Int, width w: Int) -> Bool {
        enabled && Gemm.native && Gemm.addsInKernel && h >= 2 * bandRows(hidden: hidden, width: w)
            && !Gemm.useDotProducts(transA: false, transB: true, m: h * w, n: hidden, k: c)
            && !Gemm.useDotProducts(transA: false, transB: true, m: h * w, n: c, k: hidden)
    }

    /// Output rows per band: (2 rows + 2) * w * hidden floats within `bandBytes`.
    static func bandRows(hidden: Int, width w: Int) -> Int {
        let rowBytes = max(1, w * hidden * 4)
        return max(1, (bandBytes / rowBytes - 2) / 2)
    }

    /// x [N, h*w, C] (tokens, channels last) -> fc2(GELU(dw(fc1(x)))) + residual [N, h*w, C]:
    /// w1 [hidden, C] and b1 [hidden] (fc1), dw [hidden, 1, 3, 3] and dwBias [hidden], w2 [C, hidden]
    /// and b2 [C] (fc2); `packed1`/`packed2` as for `linear(..., packedB:)` (nil: packed per band).
    /// The same bits as `linearForward`, `DepthwiseTokens.forward(gelu: true)` and `linearForward`
    /// with the residual: every product element is the same FMAs in the same K order whatever rows
    /// a product has (dcot's GEMM; edge tiles included), and the depthwise conv computes each pixel
    /// on its own.
    public static func forward(_ x: Tensor, height h: Int, width w: Int,
                               w1: Tensor, b1: Tensor?, packed1: ((Int) -> Gemm.PackedB?)?,
                               dw: Tensor, dwBias: Tensor?,
                               w2: Tensor, b2: Tensor?, packed2: ((Int) -> Gemm.PackedB?)?,
                               residual: Tensor?) -> Tensor {
        let (n, l, c) = (x.shape[0], x.shape[1], x.shape[2]), hidden = w1.shape[0]
        precondition(x.shape.count == 3 && l == h * w && w1.shape == [hidden, c] && w2.shape == [c, hidden]
                     && dw.shape == [hidden, 1, 3, 3] && (b1 == nil || b1!.count == hidden) && (b2 == nil || b2!.count == c)
                     && (dwBias == nil || dwBias!.count == hidden) && (residual == nil || residual!.shape == x.shape),
                     "FeedForwardBands: x \(x.shape) (\(h)x\(w)), w1 \(w1.shape), dw \(dw.shape), w2 \(w2.shape)")
        let out = Tensor(shape: x.shape)
        let rowsPer = bandRows(hidden: hidden, width: w)
        // Row parts per sample: enough tasks for the threads, each part at least two bands.
        let wanted = (Parallel.threads * max(1, partsPerThread) + n - 1) / n
        let parts = max(1, min(wanted, h / (2 * rowsPer)))
        // Each part's bands (output rows a..<b, fc1 computing rows f0..<f1 before it), planned first
        // so that the weights are packed here for every product size, not inside the pool's tasks.
        struct Band { let a, b, f0, f1: Int }
        let plans: [[Band]] = (0..<parts).map { part in
            let p0 = h * part / parts, p1 = h * (part + 1) / parts
            let count = max(1, (p1 - p0 + rowsPer - 1) / rowsPer)
            var have1 = max(p0 - 1, 0)
            return (0..<count).map { i in
                let a = p0 + (p1 - p0) * i / count, b = p0 + (p1 - p0) * (i + 1) / count
                let f0 = have1
                have1 = max(have1, min(b + 1, h))
                return Band(a: a, b: b, f0: f0, f1: have1)
            }
        }
        var packs1: [Int: Gemm.PackedB] = [:], packs2: [Int: Gemm.PackedB] = [:]
        for band in plans.joined() {
            let m1 = (band.f1 - band.f0) * w, m2 = (band.b - band.a) * w
            if m1 > 0, packs1[Gemm.tileCols(rows: m1)] == nil, let p = packed1?(m1) { packs1[p.tileCols] = p }
            if m2 > 0, packs2[Gemm.tileCols(rows: m2)] == nil, let p = packed2?(m2) { packs2[p.tileCols] = p }
        }
        let w9 = DepthwiseTokens.tapMajor(dw, flipped: false)
        let vector = VectorISA.level > 0, plane = h * w, rowFloats = w * hidden
        nonisolated(unsafe) let (xp, op, rp) = (UnsafePointer(x.data), out.data, residual.map { UnsafePointer($0.data) })
        nonisolated(unsafe) let (w1p, w2p, w9p) = (UnsafePointer(w1.data), UnsafePointer(w2.data), UnsafePointer(w9.data))
        nonisolated(unsafe) let (b1p, b2p, dbp) = (b1.map { UnsafePointer($0.data) }, b2.map { UnsafePointer($0.data) },
                                                    dwBias.map { UnsafePointer($0.data) })
        Gemm.independent(n * parts) { task in
            let s = task / parts, plan = plans[task % parts]
            let most = plan.map { $0.b - $0.a }.max()!
            let hbuf = Tensor(shape: [(most + 2) * rowFloats]), obuf = Tensor(shape: [most * rowFloats])
            let hp = hbuf.data, ob = obuf.data
            let xs = xp + s * plane * c, os = op + s * plane * c, rs = rp.map { $0 + s * plane * c }
            var have0 = plan[0].f0                                      // hbuf's first row
            for band in plan {
                let need0 = max(band.a - 1, 0)
                if need0 > have0 {                                      // rows no band needs again
                    if band.f0 > need0 {
                        UnsafeMutableRawPointer(hp).copyMemory(from: hp + (need0 - have0) * rowFloats,
                                                               byteCount: (band.f0 - need0) * rowFloats * 4)    // may overlap
                    }
                    have0 = need0
                }
                if band.f1 > band.f0 {
                    let m = (band.f1 - band.f0) * w
                    Gemm.sgemmKernelAdding(packedB: packs1[Gemm.tileCols(rows: m)], transB: true, m: m, n: hidden, k: c,
                                           a: xs + band.f0 * w * c, lda: c, b: w1p, ldb: c, bias: b1p, rows: nil, ldr: 0,
                                           c: hp + (band.f0 - have0) * rowFloats, ldc: hidden)
                }
                // The conv reads rows a-1...b of the sample: hbuf holds them from row have0 on, and
                // its output rows a..<b go to obuf from its start (pointers offset to row 0).
                let (a, b) = (band.a, band.b), xrow0 = hp - have0 * rowFloats, yrow0 = ob - a * rowFloats
                if vector { cn_dw3x3_nhwc(xrow0, w9p, dbp, yrow0, nil, h, w, hidden, a, b, 1) }
                else { DepthwiseTokens.portable(xrow0, w9p, dbp, yrow0, nil, h: h, w: w, c: hidden, y0: a, y1: b, gelu: true) }
                let m = (b - a) * w
                Gemm.sgemmKernelAdding(packedB: packs2[Gemm.tileCols(rows: m)], transB: true, m: m, n: c, k: hidden,
                                       a: ob, lda: hidden, b: w2p, ldb: hidden, bias: b2p, rows: rs.map { $0 + a * w * c },
                                       ldr: c, c: os + a * w * c, ldc: c)
            }
            withExtendedLifetime((hbuf, obuf)) {}
        }
        withExtendedLifetime((x, w1, w2, w9, b1, b2, dwBias, residual)) {}
        return out
    }
}
