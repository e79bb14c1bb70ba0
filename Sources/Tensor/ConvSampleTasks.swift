// Convs on small maps as one pool job each: every thread takes its own samples through im2col, the
// GEMM and the output pass (forward, input gradient), or its own columns of the weight gradient
// through their im2col rows and GEMMs, where the step-by-step path ran four to twenty pool jobs per
// conv (padded planes, im2col, the GEMM cut in two, the output pass; the weight gradient one GEMM
// per 256 pixels of K), each a synchronisation of the two cores, and handed its column matrix from
// the core that wrote it to the core that multiplied it.
//
// The bits do not change: dcot's own GEMM computes an element by the same operations whatever the
// product's column count and its cut into blocks (gemm_avx512.c: K cut at multiples of KC only, the
// tile chosen by the row count, edge tiles the same FMAs; dot products reduce by one tree per
// element), so a thread's sub-product gives the elements the whole product gave. im2col, col2im and
// the output pass are maps over (sample, channel) planes. The weight gradient keeps the sequence of
// products (the same K steps, the same beta) per element; only who computes which columns changes.
// Only with dcot's GEMM: OpenBLAS's bits depend on the call's shape, so the step path stays there.
// KernelTwinTests compares the two paths bit for bit.

import CNative

extension Conv {
    /// Whether `useSampleTasks` geometries run as one pool job per conv (false: the step path, the
    /// reference the tests compare against).
    nonisolated(unsafe) public static var sampleTasks = true

    /// Whether `g` runs on per-thread samples: dcot's GEMM on the pool, an ungrouped conv whose one
    /// sample's columns and output fit a batched GEMM's caps (small maps: the demo models; at crop 321
    /// a few of R50-DCT's 1x1 convs at batch 8), at least two samples per thread, and not in a pool
    /// task. A sample too large to share its GEMM with another (cnn-rgb's 32 x 32 stem convs) still
    /// runs here, one GEMM per sample: where it ran three to four pool jobs per sample before.
    public static func useSampleTasks(_ g: ConvGeometry) -> Bool {
        g.groups == 1 && sampleFits(g) && sampleTaskCount(g.n) > 0
    }

    /// Whether one sample's columns and GEMM output fit `batchedColumns` and `batchedMaxBytes`.
    static func sampleFits(_ g: ConvGeometry) -> Bool {
        g.ho * g.wo <= batchedColumns && bytesPerSample(g) <= batchedMaxBytes
    }

    /// The number of per-thread sample tasks a batched op of `n` samples on dcot's GEMM runs as (the
    /// conditions of `useSampleTasks` other than the conv's geometry), or 0 for the step path.
    public static func sampleTaskCount(_ n: Int) -> Int {
        sampleTasks && Gemm.native && Gemm.splitAcrossThreads && Parallel.threads > 1 && n >= 2 * Parallel.threads
            && cn_pool_in_task() == 0 ? Parallel.threads : 0
    }

    /// body(samples) once per thread on its contiguous share of a batch of `n` samples, in one pool job,
    /// when `sampleTaskCount(n)` allows; else body(0 ..< n) here. For ops whose results per sample do
    /// not depend on which samples share a product (on dcot's GEMM): small convs, the dilated convs' taps.
    public static func forEachSampleShare(_ n: Int, _ body: (Range<Int>) -> Void) {
        let tasks = sampleTaskCount(n)
        if tasks == 0 { body(0..<n); return }
        Parallel.run(tasks) { t in body((t * n / tasks)..<((t + 1) * n / tasks)) }
    }

    /// The chunks of at most `batchLimit` samples of a thread's share, as the GEMMs of that share.
    static func sampleChunks(_ g: ConvGeometry, _ share: Range<Int>) -> [Range<Int>] {
        let limit = batchLimit(g)
        return stride(from: share.lowerBound, to: share.upperBound, by: limit).map { $0..<min($0 + limit, share.upperBound) }
    }

    /// y[r] = relu?((W x col(x[r]) + bias) + residual[r]) for the samples r: one GEMM over their columns.
    static func forwardChunk(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ g: ConvGeometry, _ r: Range<Int>, relu: Bool,
                             packed: Gemm.PackedA?, residual: Tensor?, _ y: Tensor) {
        let howo = g.ho * g.wo, rows = g.colRows, cols = r.count * howo
        let xs = x.data + r.lowerBound * g.c * g.h * g.w
        // [O, rows] x [rows, samples * HO*WO], then back to NCHW with the bias added.
        let col = Tensor(shape: [rows * cols]), out = Tensor(shape: [g.o * cols])
        if g.isPointwise { gatherPlanes(xs, rows: g.c, plane: howo, samples: r.count, col.data) }
        else { im2col(xs, g, 0, col.data, samples: r.count, ld: cols) }
        Gemm.sgemm(packed: packed, m: g.o, n: cols, k: rows, a: w.data, lda: rows, b: col.data, ldb: cols, c: out.data, ldc: cols)
        scatterPlanes(out.data, rows: g.o, plane: howo, samples: r.count, y.data + r.lowerBound * g.o * howo,
                      bias: bias.map { UnsafePointer($0.data) }, relu: relu,
                      residual: residual.map { UnsafePointer($0.data + r.lowerBound * g.o * howo) })
    }

    /// dx[r] = col2im(W^T dy[r]) for the samples r: one GEMM over their columns.
    static func backwardInputChunk(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ r: Range<Int>, _ dx: Tensor) {
        let howo = g.ho * g.wo, rows = g.colRows, cols = r.count * howo, s = r.lowerBound
        let dxs = dx.data + s * g.c * g.h * g.w
        let dyT = Tensor(shape: [g.o * cols]), col = Tensor(shape: [rows * cols])
        gatherPlanes(dy.data + s * g.o * howo, rows: g.o, plane: howo, samples: r.count, dyT.data)
        Gemm.sgemm(transA: true, m: rows, n: cols, k: g.o, a: w.data, lda: rows, b: dyT.data, ldb: cols,
                   c: col.data, ldc: cols)
        if g.isPointwise { scatterPlanes(col.data, rows: g.c, plane: howo, samples: r.count, dxs) }
        else if g.kh == 1 && g.kw == 1 && g.padding == 0 { scatterStrided1x1(col.data, g, 0, dxs, samples: r.count, ld: cols) }
        else { col2im(col.data, g, 0, dxs, samples: r.count, ld: cols) }
    }

    /// dW = sum over samples of dy col(x)^T, each thread its own columns (rows of the column matrix:
    /// input channel and tap), over the step path's chunks and K steps in their order, so that each
    /// element is the same sequence of products: the first with beta 0, then accumulated.
    static func backwardWeightByColumns(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry, _ dw: Tensor) {
        let howo = g.ho * g.wo, rows = g.colRows, taps = g.kh * g.kw, sampleIn = g.c * g.h * g.w
        let chunks = gemmChunks(g, oneGroup: true), tasks = Parallel.threads
        let per = max(1, batchedMaxK / howo)
        // The whole product's kernel, as Gemm.sgemm would choose it for every K step.
        let steps = chunks.flatMap { r in stride(from: 0, to: r.count, by: per).map { min(per, r.count - $0) * howo } }
        let dot = steps.map { Gemm.useDotProducts(transA: false, transB: true, m: g.o, n: rows, k: $0) }
        Parallel.run(tasks) { t in
            // Whole taps' channels per task where they divide evenly, any rows otherwise.
            let j0 = t * rows / tasks, j1 = (t + 1) * rows / tasks, nj = j1 - j0
            if nj == 0 { return }
            let cLo = j0 / taps, cHi = (j1 - 1) / taps, cn = cHi - cLo + 1
            var step = 0
            for r in chunks {
                let s = r.lowerBound, cols = r.count * howo, xs = x.data + s * sampleIn
                let col = Tensor(shape: [nj * cols])
                if g.isPointwise {
                    // Channels j0..<j1 of the chunk's samples, side by side.
                    for ci in 0..<nj {
                        for k in 0..<r.count {
                            copyFloats(xs + (k * g.c + j0 + ci) * howo, col.data + ci * cols + k * howo, howo)
                        }
                    }
                } else {
                    let src = planes(UnsafeMutablePointer(mutating: xs), g, cLo, samples: r.count, copyIn: true, channels: cn)
                    im2colRows(src, g, (j0 - cLo * taps)..<(j1 - cLo * taps), col.data, samples: r.count, ld: cols)
                    withExtendedLifetime(src.owner) {}
                }
                // A per K step: the chunk's dy planes side by side when a step spans several samples.
                let dyT: Tensor? = per > 1 && r.count > 1 ? Tensor(shape: [g.o * cols]) : nil
                if let dyT { gatherPlanes(dy.data + s * g.o * howo, rows: g.o, plane: howo, samples: r.count, dyT.data) }
                for s1 in stride(from: 0, to: r.count, by: per) {
                    let k = min(per, r.count - s1) * howo
                    let beta: Float = s == 0 && s1 == 0 ? 0 : 1
                    let a = dyT.map { UnsafePointer($0.data + s1 * howo) } ?? UnsafePointer(dy.data + (s + s1) * g.o * howo)
                    let lda = dyT == nil ? howo : cols
                    let b = UnsafePointer(col.data + s1 * howo), c = dw.data + j0
                    let rc = dot[step]
                        ? cn_sgemm_nt_dot(g.o, nj, k, 1, a, lda, b, cols, beta, c, rows, 0, g.o, 0, nj)
                        : cn_sgemm_block(0, 1, g.o, nj, k, 1, a, lda, nil, b, cols, nil, beta, c, rows, 0, g.o, 0, nj)
                    precondition(rc == CN_OK, "Conv.backwardWeight: dcot's GEMM failed with code \(rc)")
                    step += 1
                }
            }
        }
    }
}
