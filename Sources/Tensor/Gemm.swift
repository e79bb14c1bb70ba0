// GEMM (row-major): C = alpha * op(A) * op(B) + beta * C on OpenBLAS or on dcot's own AVX-512 kernel
// (CNative's gemm_avx512.c; `native` says which), with a naive twin.
import Foundation
import COpenBLAS
import CNative

public enum Gemm {
    /// When true (the default), OpenBLAS runs one thread and a large GEMM is cut into `pieces`
    /// blocks of rows or columns, single-threaded OpenBLAS calls spread over our thread pool, so
    /// OpenBLAS's spinning workers never compete with our loops. The cut is a function of the shape
    /// alone, so every element is computed by the same call at any thread count.
    /// False: the same blocks one after another, each on OpenBLAS's own threads, and Dispatch for our
    /// loops (`dcot-bench --no-split-gemm`; `DCOT_SPLIT_GEMM=0` in the environment for every
    /// program). Same bits either way (a program-level test compares checkpoints); the pool is
    /// faster on an idle machine, OpenBLAS's threads on a crowded one.
    nonisolated(unsafe) public private(set) static var splitAcrossThreads =
        ProcessInfo.processInfo.environment["DCOT_SPLIT_GEMM"] != "0"

    public static func setSplitAcrossThreads(_ on: Bool) {
        splitAcrossThreads = on
        Parallel.setThreads(Parallel.threads)
    }

    /// Blocks a product of this shape is cut into: 1 below ~2 MFLOP (the hand-off costs more than
    /// the second thread saves), 2, or `maxBlocks` from 64 M multiply-adds; never blocks narrower
    /// than `narrowest` (32 unless a caller says). Each block packs the other operand again, so
    /// more blocks than cores cost time (R101, SegFormer-b2, R50-DCT at batch 2, crop 321, 2
    /// threads: train 2709 / 1078 / 1786 ms with 4 blocks, 2561 / 938 / 1742 ms with 2).
    @inlinable
    public static func pieces(m: Int, n: Int, k: Int, narrowest: Int = 32) -> Int {
        let mnk = Double(m) * Double(n) * Double(k)
        let p = mnk < splitMinMNK ? 1 : mnk < manyBlocksMNK ? 2 : maxBlocks
        return max(1, min(p, max(m, n) / narrowest))
    }

    /// `pieces` for a product whose op(B) comes packed (a linear layer's inference weights) and
    /// which is cut by rows: blocks re-pack nothing, so `packedBlocksPerThread` times as many
    /// blocks (at least 64 rows each), which the pool's threads take as they finish, instead of
    /// one per thread waiting on the slower. Any cut gives dcot's GEMM the same bits.
    @inlinable
    public static func packedBPieces(m: Int, n: Int, k: Int) -> Int {
        let p = pieces(m: m, n: n, k: k)
        guard p > 1, m > n else { return p }
        return max(p, min(p * packedBlocksPerThread, m / 64))
    }
    /// SegFormer-b2 inference at batch 2, crop 321, 2 threads (Zen 4, perf): the caller's waits on
    /// the pool fell from 2.3 to 1.2 % of the samples with 4.
    nonisolated(unsafe) public static var packedBlocksPerThread = 4

    /// `pieces` for a product computed as dot products (`useDotProducts`): blocks down to 16 wide,
    /// as the dot products read both operands in place and pack nothing per block (cnn-rgb's stem
    /// weight gradient, 32 x 27 x 8192, ran on one thread while the other waited).
    @inlinable
    public static func dotPieces(m: Int, n: Int, k: Int) -> Int { pieces(m: m, n: n, k: k, narrowest: 16) }

    /// The thresholds of `pieces` (multiply-adds). They decide which OpenBLAS call computes an
    /// element, so results are bit-identical between runs with the same values, whatever the
    /// thread count.
    nonisolated(unsafe) public static var splitMinMNK = 1e6
    nonisolated(unsafe) public static var manyBlocksMNK = 64e6
    /// The machine's cores rounded down to a power of two, 2 to 8: a function of the machine, not
    /// of --threads or the number of ranks, so one machine computes the same bits in any layout.
    /// The configured processor count, not the active one: mpirun/srun binding, taskset and cgroup
    /// quotas change the CPUs a process may use, and must not change which call computes an element.
    nonisolated(unsafe) public static var maxBlocks: Int = {
        var p = 2
        while p * 2 <= ProcessInfo.processInfo.processorCount && p < 8 { p *= 2 }
        return p
    }()

    /// op(A): [m, k], op(B): [k, n], C: [m, n]; leading dimensions are of the stored matrices.
    /// `prologue(rows, cols)`: runs on each block's rows and columns of C just before the block's
    /// product, on the thread that computes it (a linear layer's bias rows, written where the GEMM
    /// then adds onto them with beta 1: one pool job in place of two).
    @inlinable
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                             prologue: ((Range<Int>, Range<Int>) -> Void)? = nil) {
        if m == 0 || n == 0 { return }
        _ = BLAS.configured
        if k == 0 {
            prologue?(0..<m, 0..<n)
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        // The same blocks in both modes: OpenBLAS may round an element differently in a call of
        // another shape (a 2-model train step gave other bits as whole calls), so off the pool the
        // blocks run one after another, each on OpenBLAS's threads, and `DCOT_SPLIT_GEMM=0` keeps
        // the bits.
        let dot = useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k)
        let p = dot ? dotPieces(m: m, n: n, k: k) : pieces(m: m, n: n, k: k)
        nonisolated(unsafe) let (ap, bp, cp) = (a, b, c)
        func block(_ part: Int) {                       // a local function: no closure context to allocate
            let (rows, cols) = blockRange(part, p, m: m, n: n)
            if rows.isEmpty || cols.isEmpty { return }
            prologue?(rows, cols)
            product(transA, transB, m, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc, rows, cols, dot: dot)
        }
        if p > 1 && splitAcrossThreads { Parallel.run(p, block) } else { for part in 0..<p { block(part) } }
    }

    /// The rows x cols block of the product as `sgemm` computes it for the whole (dot products or
    /// tiles as the whole product's shape chooses).
    @inlinable
    static func product(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Range<Int>, _ cols: Range<Int>, dot: Bool) {
        if dot {                                        // whole-product coordinates
            dotProducts(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, rows.lowerBound, rows.upperBound,
                        cols.lowerBound, cols.upperBound)
            return
        }
        let (m0, n0) = (rows.lowerBound, cols.lowerBound)
        blas(transA, transB, rows.count, cols.count, k, alpha, a + (transA ? m0 : m0 * lda), lda,
             b + (transB ? n0 * ldb : n0), ldb, beta, c + m0 * ldc + n0, ldc)
    }

    /// Part `part` of `parts` of the product (the longer side of C cut as `sgemm` cuts it into
    /// blocks), computed here as `sgemm` computes it for the whole: for callers that put pieces of
    /// several products into one pool job. Only with dcot's GEMM (`native`), whose elements do not
    /// depend on the cut; `k` > 0.
    public static func sgemmPart(_ part: Int, of parts: Int, transA: Bool = false, transB: Bool = false,
                                 m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(native && k > 0, "Gemm.sgemmPart: dcot's GEMM and k > 0 only")
        let (rows, cols) = blockRange(part, parts, m: m, n: n)
        if rows.isEmpty || cols.isEmpty { return }
        product(transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, rows, cols,
                dot: useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k))
    }

    /// Block `part` of `p` of an m x n product: the longer side cut at multiples of 16 (rows at
    /// multiples of `rowStep`, columns of `colStep` instead, for a packed op(A) or op(B) whose tiles
    /// they must start), the other whole.
    @inlinable
    static func blockRange(_ part: Int, _ p: Int, m: Int, n: Int, rowStep: Int = 16, colStep: Int = 16)
        -> (rows: Range<Int>, cols: Range<Int>) {
        if p == 1 { return (0..<m, 0..<n) }
        func start(_ q: Int, _ len: Int, _ step: Int) -> Int { q == p ? len : q * len / p / step * step }
        if n >= m { return (0..<m, start(part, n, colStep)..<max(start(part, n, colStep), start(part + 1, n, colStep))) }
        return (start(part, m, rowStep)..<max(start(part, m, rowStep), start(part + 1, m, rowStep)), 0..<n)
    }

    /// One product as whole OpenBLAS calls (only `kChunks` cuts), never cut into blocks over the
    /// pool: for tasks that already run in parallel (attention's query blocks). The same calls with
    /// or without `DCOT_SPLIT_GEMM=0` (single-threaded OpenBLAS on the pool, OpenBLAS's threads off
    /// it), so the same bits either way.
    @inlinable
    public static func sgemmUnsplit(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                    b: UnsafePointer<Float>, ldb: Int,
                                    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
            return
        }
        _ = BLAS.configured
        if useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k) {
            dotProducts(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 0, m, 0, n)
            return
        }
        blas(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    /// Whether dcot's GEMM computes A B^T as dot products along K, both operands read in place
    /// (CNative's sgemm_nt_dot), instead of packing them: for the weight gradients of convs on large
    /// maps (dW = dY X^T, M and N the channels, K the pixels), where packing both through transposes
    /// cost as much as the multiply-adds. A function of the whole product's shape, decided before it
    /// is cut over threads (the two kernels round differently). One thread, Zen 5, packed -> dot
    /// products: 64 x 64 x 6561 129-138 -> 200 GFLOP/s, 64 x 32 x 6561 115-123 -> 178-183, 32 x 27 x
    /// 25921 90 -> 177, 64 x 576 x 6561 129 -> 166, 128 x 64 x 882 207 -> 212; with 128 and more rows
    /// and columns the packed kernel was faster (256 x 128 x 1681: 222 against 192).
    @inlinable
    public static func useDotProducts(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        native && !transA && transB && min(m, n) <= 64 && k >= 512
    }

    @usableFromInline
    static func dotProducts(_ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                            _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                            _ i0: Int, _ i1: Int, _ j0: Int, _ j1: Int) {
        let rc = cn_sgemm_nt_dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, i0, i1, j0, j1)
        if rc != CN_OK { fatalError("dcot: cn_sgemm_nt_dot(\(m), \(n), \(k)) failed with code \(rc)") }
    }

    /// OpenBLAS blocks a long K itself, and its one-thread and threaded drivers did not always cut
    /// it at the same points, so an element's sum could be rounded differently at 1 and 2 threads.
    /// Measured with Debian's OpenBLAS 0.3.21 (Cooperlake kernels), 1 vs 2 threads over 1,680
    /// shapes (M 16-512, N 49-1681, K 72-4608, all four transposes): 775 differed as single calls,
    /// none when K is at most `maxK` or a multiple of 32. So a longer K that is not a multiple of 32
    /// is cut here into its multiple of 32 and the rest (< 32), accumulated: the same cut for any
    /// thread count, and one extra small call only for such K.
    public static let maxK = 256

    /// The K ranges of one product's OpenBLAS calls: a function of K alone.
    @inlinable
    public static func kChunks(_ k: Int) -> [Range<Int>] {
        if k <= maxK || k % 32 == 0 { return [0..<k] }
        return [0..<(k / 32 * 32), (k / 32 * 32)..<k]
    }

    /// Whether products run on dcot's own AVX-512 GEMM (CNative's gemm_avx512.c) instead of OpenBLAS.
    /// By default on every CPU with AVX-512 (`VectorISA.supported == 2`), whatever kernels OpenBLAS
    /// chose: on a Zen 5 with OPENBLAS_CORETYPE=Haswell, R50's conv GEMMs ran at 113-134 GFLOP/s on
    /// one thread in OpenBLAS and 150-257 in this GEMM; on a Zen 4 whose OpenBLAS ran its own AVX-512
    /// (Cooperlake) kernels, the demo models' 2-thread train steps took 10-40 % less time in this
    /// one (README "Benchmarks"), and the default demo printed the Zen 5's digits. `DCOT_GEMM=native`
    /// or `openblas` in the environment chooses for every program. A function of the CPU and the
    /// environment only, so one machine always computes the same bits; the two GEMMs round differently.
    nonisolated(unsafe) public private(set) static var native: Bool = {
        let byMachine = VectorISA.supported >= 2
        func warn(_ text: String) { FileHandle.standardError.write(Data(("warning: DCOT_GEMM: " + text + "\n").utf8)) }
        switch ProcessInfo.processInfo.environment["DCOT_GEMM"] {
        case nil, "": return byMachine
        case "openblas": return false
        case "native":
            if VectorISA.supported < 2 { warn("native needs a CPU with AVX-512; using OpenBLAS") }
            return VectorISA.supported >= 2
        case let other?:
            warn("'\(other)' is neither native nor openblas; using \(byMachine ? "native" : "openblas"), the machine's default")
            return byMachine
        }
    }()

    /// Switches the GEMM (tests run both; `true` needs AVX-512: `VectorISA.supported == 2`).
    public static func setNative(_ on: Bool) {
        precondition(!on || VectorISA.supported >= 2, "dcot's own GEMM needs AVX-512")
        native = on
    }

    /// Tests: dcot's GEMM on 12 x 32 tiles only (1), on 8 x 48 only (2), or by the row count (0).
    /// Every element gets the same operations either way, so the bits must not change.
    public static func setNativeTile(_ tile: Int) { cn_sgemm_force_tile(Int32(tile)) }

    /// Which GEMM runs, for logs and benchmark records.
    public static var engine: String { native ? "dcot-avx512" : "OpenBLAS \(BLAS.coreName)" }

    /// One row-major product: dcot's own GEMM when `native`, else one cblas_sgemm per K chunk
    /// (chunks after the first accumulate into C).
    @usableFromInline
    static func blas(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                     _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if native {
            let rc = cn_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            if rc != CN_OK { fatalError("dcot: cn_sgemm(\(m), \(n), \(k)) failed with code \(rc) (out of memory?)") }
            return
        }
        for r in kChunks(k) {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(r.count), alpha, a + (transA ? r.lowerBound * lda : r.lowerBound), Int32(lda),
                        b + (transB ? r.lowerBound : r.lowerBound * ldb), Int32(ldb), r.lowerBound == 0 ? beta : 1, c, Int32(ldc))
        }
    }

    /// op(A) of a product of `rows` rows, packed once in the layout of dcot's own GEMM: a weight
    /// that many products share (the inference convs' folded weights and F(4x4) filters), so its
    /// products skip packing it. Only when `native` (nil otherwise); a product checks that the
    /// tile it would run on is still the one the matrix was packed for.
    public final class PackedA {
        public let rows: Int, k: Int, tileRows: Int
        /// The packed floats: at `data`, inside `storage` (which several matrices may share).
        public let storage: Tensor, offset: Int
        public var data: UnsafeMutablePointer<Float> { storage.data + offset }
        init(rows: Int, k: Int, storage: Tensor, offset: Int = 0) {
            (self.rows, self.k, self.storage, self.offset, self.tileRows) = (rows, k, storage, offset, cn_sgemm_tile_rows(rows))
        }
        /// Row i of the packed matrix times s[i] (a row scale folded in after packing: the same
        /// products as scaling, then packing).
        public func scaleRows(_ s: UnsafePointer<Float>) {
            let kcMax = cn_sgemm_kc(), mr = tileRows, panels = (rows + mr - 1) / mr, mpad = panels * mr, p = data
            var pc = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                for q in 0..<panels {
                    let rowsHere = min(mr, rows - q * mr), base = p + pc * mpad + q * kc * mr
                    for kk in 0..<kc { for r in 0..<rowsHere { base[kk * mr + r] *= s[q * mr + r] } }
                }
                pc += kc
            }
        }

        /// Whether products now run on the tile this matrix was packed for (tests force tiles).
        public var current: Bool { native && cn_sgemm_tile_rows(rows) == tileRows }
    }

    /// op(A) [m x k] packed for dcot's own GEMM, or nil when it does not run.
    public static func packA(transA: Bool = false, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) -> PackedA? {
        packA(count: 1, transA: transA, m: m, k: k, a: { _ in a }, lda: lda).first
    }

    /// `count` matrices op(A_i) [m x k] (A_i at a(i)) packed side by side in one buffer (one
    /// allocation, as the unpacked stack would be: many small buffers held for the process's life
    /// took idle activation buffers from the pool and grew R101's batch-8 bench by 340 MB), or
    /// empty when dcot's GEMM does not run.
    public static func packA(count: Int, transA: Bool = false, m: Int, k: Int, a: (Int) -> UnsafePointer<Float>,
                             lda: Int) -> [PackedA] {
        guard native, count > 0, m > 0, k > 0 else { return [] }
        let each = cn_sgemm_packed_a_floats(m, k), t = Tensor(shape: [count * each])
        return (0..<count).map { i in
            let rc = cn_sgemm_pack_a(transA ? 1 : 0, m, k, a(i), lda, t.data + i * each)
            precondition(rc == CN_OK, "cn_sgemm_pack_a(\(m), \(k)) failed with code \(rc)")
            return PackedA(rows: m, k: k, storage: t, offset: i * each)
        }
    }

    /// Each [m, k] matrix of a stack [count, m, k] packed for dcot's own GEMM (empty when it does
    /// not run): the F(4x4) filters, the atrous taps.
    public static func packA(stack t: Tensor) -> [PackedA] {
        precondition(t.shape.count == 3, "Gemm.packA(stack:): shape \(t.shape) is not [count, m, k]")
        let (count, m, k) = (t.shape[0], t.shape[1], t.shape[2])
        return packA(count: count, m: m, k: k, a: { i in UnsafePointer(t.data + i * m * k) }, lda: k)
    }

    /// op(B) [k x n] packed for dcot's own GEMM, for products of `m` rows (the row count picks the
    /// register tile, whose columns the panels have): a linear layer's fixed inference weights.
    public final class PackedB {
        public let k: Int, n: Int, tileCols: Int
        public let storage: Tensor
        init(k: Int, n: Int, tileCols: Int, storage: Tensor) { (self.k, self.n, self.tileCols, self.storage) = (k, n, tileCols, storage) }
        /// Whether a product of m rows now runs on the tile this matrix was packed for.
        public func current(m: Int) -> Bool { native && cn_sgemm_tile_cols(m) == tileCols }
    }

    /// The columns of the register tile a product of m rows runs on (dcot's GEMM).
    public static func tileCols(rows m: Int) -> Int { cn_sgemm_tile_cols(m) }

    /// op(B) [k x n] packed for products of m rows, or nil when dcot's GEMM does not run.
    public static func packB(transB: Bool = false, m: Int, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int) -> PackedB? {
        guard native, m > 0, n > 0, k > 0 else { return nil }
        let t = Tensor(shape: [cn_sgemm_packed_b_floats(m, n, k)])
        let rc = cn_sgemm_pack_b(transB ? 1 : 0, m, n, k, b, ldb, t.data)
        precondition(rc == CN_OK, "cn_sgemm_pack_b(\(m), \(n), \(k)) failed with code \(rc)")
        return PackedB(k: k, n: n, tileCols: cn_sgemm_tile_cols(m), storage: t)
    }

    /// `sgemm` with op(B) = the matrix `packedB` was packed from (`b`, `ldb`, `transB` as for
    /// `sgemm`, used when it is nil or not current for m rows): the same blocks, the same bits.
    public static func sgemm(packedB: PackedB?, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                             prologue: ((Range<Int>, Range<Int>) -> Void)? = nil) {
        guard let packedB, packedB.current(m: m), m > 0, n > 0, k > 0,
              !useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k) else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc, prologue: prologue)
            return
        }
        precondition(packedB.k == k && packedB.n == n, "Gemm: B packed as \(packedB.k) x \(packedB.n), used as \(k) x \(n)")
        let p = packedBPieces(m: m, n: n, k: k)
        nonisolated(unsafe) let (ap, pb, bp, cp) = (a, UnsafePointer(packedB.storage.data), b, c)
        func block(_ part: Int) {
            let (rows, cols) = blockRange(part, p, m: m, n: n, colStep: packedB.tileCols)
            if rows.isEmpty || cols.isEmpty { return }
            prologue?(rows, cols)
            let rc = cn_sgemm_block(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, ap, lda, nil, bp, ldb, pb, beta, cp, ldc,
                                    rows.lowerBound, rows.upperBound, cols.lowerBound, cols.upperBound)
            if rc != CN_OK { fatalError("dcot: cn_sgemm_block(\(m), \(n), \(k)) failed with code \(rc) (out of memory?)") }
        }
        if p > 1 && splitAcrossThreads { Parallel.run(p, block) } else { for part in 0..<p { block(part) } }
    }

    /// C = op(A) op(B) + (rows + bias): `bias` [n] added to every row of C, `rows` (m x n, `ldr`
    /// apart) element by element, either nil; `packedB` as for `sgemm(packedB:)`. With dcot's GEMM
    /// the first K block adds fl(rows + bias) in its own pass over C (`cn_sgemm_block_add`); otherwise
    /// each block first writes rows + bias into its part of C, then adds the product with beta = 1.
    /// The same bits both ways, and the same blocks as `sgemm`.
    public static func sgemmAdding(packedB: PackedB?, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                   bias: UnsafePointer<Float>?, rows: UnsafePointer<Float>?, ldr: Int,
                                   c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        _ = BLAS.configured
        nonisolated(unsafe) let (ap, bp, cp, biasp, rowsp) = (a, b, c, bias, rows)
        guard native, addsInKernel, k > 0, !useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k) else {
            func fill(_ rowRange: Range<Int>, _ cols: Range<Int>) {
                writeRowsPlusBias(cp, ldc, rowRange, cols, rows: rowsp, ldr: ldr, bias: biasp)
            }
            sgemm(packedB: packedB, transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                  beta: 1, c: c, ldc: ldc, prologue: fill)
            return
        }
        let packed = packedB.flatMap { $0.current(m: m) ? $0 : nil }
        if let packed { precondition(packed.k == k && packed.n == n, "Gemm: B packed as \(packed.k) x \(packed.n), used as \(k) x \(n)") }
        let p = packed == nil ? pieces(m: m, n: n, k: k) : packedBPieces(m: m, n: n, k: k)
        nonisolated(unsafe) let pb = packed.map { UnsafePointer($0.storage.data) }
        let colStep = packed?.tileCols ?? 16
        func block(_ part: Int) {
            let (rs, cs) = blockRange(part, p, m: m, n: n, colStep: colStep)
            if rs.isEmpty || cs.isEmpty { return }
            let rc = cn_sgemm_block_add(transA ? 1 : 0, transB ? 1 : 0, m, n, k, 1, ap, lda, nil, bp, ldb, pb, biasp, rowsp, ldr,
                                        cp, ldc, rs.lowerBound, rs.upperBound, cs.lowerBound, cs.upperBound)
            if rc != CN_OK { fatalError("dcot: cn_sgemm_block_add(\(m), \(n), \(k)) failed with code \(rc) (out of memory?)") }
        }
        if p > 1 && splitAcrossThreads { Parallel.run(p, block) } else { for part in 0..<p { block(part) } }
    }

    /// `sgemmAdding` as one call, never cut over the pool (for tasks already running in parallel).
    public static func sgemmUnsplitAdding(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                          bias: UnsafePointer<Float>?, rows: UnsafePointer<Float>?, ldr: Int,
                                          c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        _ = BLAS.configured
        if native && addsInKernel && k > 0 && !useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k) {
            sgemmKernelAdding(packedB: nil, transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                              bias: bias, rows: rows, ldr: ldr, c: c, ldc: ldc)
            return
        }
        writeRowsPlusBias(c, ldc, 0..<m, 0..<n, rows: rows, ldr: ldr, bias: bias)
        sgemmUnsplit(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
    }

    /// `sgemmAdding` as one call on dcot's kernel (never the dot-product path, never cut over the
    /// pool), `packedB` used when current for m rows: for products that compute, a band of rows at
    /// a time, what one larger product on the kernel computes (`FeedForwardBands`). Needs `native`.
    public static func sgemmKernelAdding(packedB: PackedB?, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                         bias: UnsafePointer<Float>?, rows: UnsafePointer<Float>?, ldr: Int,
                                         c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(native, "Gemm.sgemmKernelAdding without dcot's GEMM")
        if m == 0 || n == 0 { return }
        let packed = packedB.flatMap { $0.current(m: m) ? $0 : nil }
        if let packed { precondition(packed.k == k && packed.n == n, "Gemm: B packed as \(packed.k) x \(packed.n), used as \(k) x \(n)") }
        let rc = withExtendedLifetime(packed) {
            cn_sgemm_block_add(transA ? 1 : 0, transB ? 1 : 0, m, n, k, 1, a, lda, nil, b, ldb, packed.map { UnsafePointer($0.storage.data) },
                               bias, rows, ldr, c, ldc, 0, m, 0, n)
        }
        if rc != CN_OK { fatalError("dcot: cn_sgemm_block_add(\(m), \(n), \(k)) failed with code \(rc) (out of memory?)") }
    }

    /// C[i][j] = rows[i][j] + bias[j] over rowRange x cols (either operand nil: the other, or 0): what
    /// `cn_sgemm_block_add` adds in its pass, for the paths that prefill C and add with beta 1.
    static func writeRowsPlusBias(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rowRange: Range<Int>, _ cols: Range<Int>,
                                  rows: UnsafePointer<Float>?, ldr: Int, bias: UnsafePointer<Float>?) {
        for row in rowRange {
            let o = c + row &* ldc + cols.lowerBound
            if let rows {
                let r = rows + row &* ldr + cols.lowerBound
                if let bias {
                    let bj = bias + cols.lowerBound
                    for j in 0..<cols.count { o[j] = r[j] + bj[j] }
                } else { o.update(from: r, count: cols.count) }
            } else if let bias { o.update(from: bias + cols.lowerBound, count: cols.count) }
            else { o.update(repeating: 0, count: cols.count) }
        }
    }

    /// Whether `sgemmAdding` adds bias and rows in the GEMM's own pass (tests switch it off to
    /// compare with the separate pass).
    nonisolated(unsafe) public static var addsInKernel = true

    /// `sgemm` with op(A) = the matrix `packed` was packed from (`a`, `lda`, `transA` as for
    /// `sgemm`, used when `packed` is nil or no longer current): the same blocks, the same bits.
    public static func sgemm(packed: PackedA?, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard let packed, packed.current, m > 0, n > 0, k > 0,
              !useDotProducts(transA: transA, transB: transB, m: m, n: n, k: k) else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
            return
        }
        precondition(packed.rows == m && packed.k == k, "Gemm: A packed as \(packed.rows) x \(packed.k), used as \(m) x \(k)")
        let p = pieces(m: m, n: n, k: k)
        nonisolated(unsafe) let (ap, pa, bp, cp) = (a, UnsafePointer(packed.data), b, c)
        func block(_ part: Int) {
            let (rows, cols) = blockRange(part, p, m: m, n: n, rowStep: packed.tileRows)
            let rc = cn_sgemm_block(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, ap, lda, pa, bp, ldb, nil, beta, cp, ldc,
                                    rows.lowerBound, rows.upperBound, cols.lowerBound, cols.upperBound)
            if rc != CN_OK { fatalError("dcot: cn_sgemm_block(\(m), \(n), \(k)) failed with code \(rc) (out of memory?)") }
        }
        if p > 1 && splitAcrossThreads { Parallel.run(p, block) } else { for part in 0..<p { block(part) } }
    }

    /// The naive twin of `sgemm` (Double accumulation), for tests.
    public static func sgemmNaive(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(s) + old
            }
        }
    }

    /// Batched C_i = op(A_i) op(B_i) for i in 0..<batch with element strides between matrices.
    public static func batched(transA: Bool, transB: Bool, batch: Int, m: Int, n: Int, k: Int, alpha: Float = 1,
                               a: UnsafePointer<Float>, strideA: Int, b: UnsafePointer<Float>, strideB: Int,
                               beta: Float = 0, c: UnsafeMutablePointer<Float>, strideC: Int) {
        let lda = transA ? m : k, ldb = transB ? k : n
        nonisolated(unsafe) let (ap, bp, cp) = (a, b, c)
        independent(batch) { i in
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap + i * strideA, lda: lda,
                  b: bp + i * strideB, ldb: ldb, beta: beta, c: cp + i * strideC, ldc: n)
        }
    }

    /// body(i) for i in 0..<count, GEMMs with disjoint outputs, spread over the thread pool as whole
    /// products (a product's blocks then run one after another on its thread): the same calls, so
    /// the same bits, as a serial loop, without splitting small products or re-packing operands
    /// (attention heads).
    public static func independent(_ count: Int, _ body: (Int) -> Void) {
        if splitAcrossThreads && count > 1 && Parallel.threads > 1 { Parallel.run(count, body) }
        else { for i in 0..<count { body(i) } }
    }
}
