// Winograd F(4x4, 3x3) for the inference forward of stride-1, undilated, ungrouped 3x3 convs with
// many channels on large maps (DeepLabv3+'s decoder convs, 304 -> 256 and 256 -> 256 at a quarter
// of the crop): 36 products per 4x4 output tile instead of 144, against F(2x2)'s 16 per 2x2 tile
// (Winograd.swift), so 1.78x fewer multiplies than F(2x2). Interpolation points 0, ±1, ±2 and
// infinity (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//   B^T = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
//   G   = [[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]]
//   A^T = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]]
// Y = A^T [ sum over channels (G g G^T) . (B^T d B) ] A per tile: 36 GEMMs [O, C] x [C, tiles].
//
// Accuracy: the transforms scale values by up to 8 (A^T) and 25 (B^T B), so float rounding grows;
// over 200 random tiles of 256 channels (unit normal data and weights, numpy float32) the largest
// error was 3.1e-5 x sqrt(9 C), the typical output's size, against about 1e-7 for direct summation.
// That is well inside what inference tolerates (the argmax of a segmentation). Training runs it
// too, for the forward and the input gradient (`useWinograd4Training`: at least 128 channels on
// maps of at least 16 x 16, the paper models' large convs; since 2026-12-07 also 32-127 channels
// where F(2x2) does not run, the demo models' convs on 16 x 16 maps and more and R50's deep stem;
// the weight gradient stays F(2x2) or im2col): an error of ~3e-5 of an output's typical size is far
// under what a mini-batch gradient carries, and the gradient checks and the reference-parity tests
// hold with it. `DCOT_WINOGRAD4_TRAINING=0` in the environment keeps training on F(2x2) and im2col
// (the bits of builds before 2026-12-06's tenth session); `DCOT_WINOGRAD4_TRAINING=large` keeps
// only the 128-channel rule (`winograd4TrainingSmallMinChannels` = .max), the bits of the builds
// before 2026-12-07's nineteenth session. Inference runs it on 32-88 channels on 16 x 16 and more,
// except the EMA teachers' folded forwards inside a training step (`insideTrainingStep`), which
// keep the 128-channel rule. Tested against ConvNaive at 1e-4 relative to sqrt(9 C)
// (KernelTwinTests).
//
// Speed: R50 inference at batch 2, crop 321, 2 threads was 1.5-3.9 % faster with this path than with
// F(2x2) (three alternating rounds, one binary, `dcot-bench model --winograd4-min-channels`). The
// transforms then took 4.9 % of a 1-thread R50 inference profile, one tile at a time; they now take
// eight tiles side by side where whole tiles allow (the same operations per value, so the same bits),
// 3.0 % of the profile. Since F(4x4) also runs layer2-4's small maps (2026-12-06), any eight
// consecutive tiles (edges, rows of fewer than eight tiles, across rows) take the lanes too, with
// per-lane bounds checks: R50-DCT inference (1 thread, perf) input transform 5.6 -> 4.0 %, output
// transform 3.7 -> 2.8 % of the samples.

import CNative
import Foundation

extension Conv {
    /// Minimum input and output channels for F(4x4) in inference. 128 until 2026-12-06's twelfth
    /// session, then 32: the demo models' 32-88-channel convs on maps of 16 x 16 and more (layer1 and
    /// the decoder at crop 64-96) run faster on it too. Batch 16, 2 threads, interleaved processes,
    /// p50 of 60-75 steps: cnn-rgb inference at crop 96 33.70 -> 25.76 ms, cnn-dct 23.43 -> 19.66; at
    /// crop 64 17.24 -> 14.05 and 12.00 -> 11.00 (`dcot-bench model --winograd4-min-channels`). The
    /// paper's models at crop 321 have no such conv (their narrowest, R50's 64-channel layer1, is on
    /// 81 x 81), so their inference is unchanged.
    nonisolated(unsafe) public static var winograd4MinChannels = 32
    /// The same minimum for eval-mode forwards inside a training step (`insideTrainingStep`: the EMA
    /// teachers' predictions of Mean Teacher and of co-training with `--ema-teachers`): the value
    /// before the twelfth session, so that a run's bits do not move with inference-only settings.
    nonisolated(unsafe) public static var winograd4StepMinChannels = 128
    nonisolated(unsafe) static var inTrainingStep = false
    /// Whether the caller runs inside `insideTrainingStep` (eval-mode forwards there keep the
    /// training step's bits: no inference-only rewrites).
    public static var isInsideTrainingStep: Bool { inTrainingStep }

    /// Runs `body` (the teachers' forwards of one training step) under `winograd4StepMinChannels`.
    public static func insideTrainingStep<T>(_ body: () throws -> T) rethrows -> T {
        let saved = inTrainingStep
        inTrainingStep = true
        defer { inTrainingStep = saved }
        return try body()
    }
    /// Minimum number of 4x4 output tiles per batch group (the GEMMs' N).
    nonisolated(unsafe) public static var winograd4MinTiles = 32
    /// Minimum height and width of the output map. R50 inference at crop 321 (2 threads, alternating
    /// processes, 2026-12-06): adding layer2 (41 x 41, 128 channels) and layer3 (21 x 21, 256) to the
    /// decoder took batch 2 from 505-516 to 486-496 ms, and batch 1 from 314-317 to 308-311 ms. On the
    /// demo models' maps (4 x 4 to 12 x 12) the tiles are mostly padding and it is slower.
    nonisolated(unsafe) public static var winograd4MinSide = 16
    /// Working-set cap of the transformed input and products (36 x (C + O) x tiles floats); larger
    /// batches run in sample chunks (inside batch groups, as every batched kernel).
    nonisolated(unsafe) public static var winograd4MaxBytes = 96 << 20

    /// Whether the transforms take eight whole tiles per step where they can (false: one tile at a
    /// time everywhere, the reference the eight-lane path is tested against bit for bit).
    nonisolated(unsafe) public static var winograd4TileLanes = true

    /// Whether the inference forward of `g` runs F(4x4, 3x3). Convs with half of the minimum channels
    /// up to it need maps twice `winograd4MinSide` (32): with a short K the transforms weigh more.
    /// Under the step minimum (128) that is R50's layer1 (64 channels, 81 x 81), which on it made
    /// R50 inference at batch 2 take 452.9, 453.7, 456.1 ms against 456.8, 465.2, 473.5, and in a
    /// slower stretch 464.8, 562.8, 581.2 against 580.8, 602.7, 596.6; R50-DCT 497.2, 497.4 against
    /// 504.5, 503.3 (alternating processes, 2 threads, 2026-12-06).
    public static func useWinograd4(_ g: ConvGeometry) -> Bool { useWinograd4(g, minChannels: winograd4ActiveMinChannels) }

    /// `useWinograd4` under a minimum of `least` channels.
    static func useWinograd4(_ g: ConvGeometry, minChannels least: Int) -> Bool {
        let narrow = min(g.c, g.o)
        return isWinogradShape(g) && 2 * narrow >= least
            && min(g.ho, g.wo) >= (narrow >= least ? winograd4MinSide : 2 * winograd4MinSide)
            && BatchGroups.size(g.n) * ((g.ho + 3) / 4) * ((g.wo + 3) / 4) >= winograd4MinTiles
    }

    /// `winograd4StepMinChannels` inside a training step, else `winograd4MinChannels`.
    public static var winograd4ActiveMinChannels: Int { inTrainingStep ? winograd4StepMinChannels : winograd4MinChannels }

    /// U[k][o][c] = (G w[o][c] G^T)[k], k = 6 * row + col: [36, O, C]. Callers with fixed weights
    /// keep it (the folded inference weights cache it).
    public static func winograd4Filter(_ w: UnsafePointer<Float>, o: Int, c: Int) -> Tensor {
        let u = Tensor(shape: [36, o, c])
        let up = u.data, oc = o * c
        if winograd4FilterInC && VectorISA.supported == 2 {
            // winograd4.c: sixteen filters per step, gathered; the same bits (KernelTwinTests). Training
            // transforms every F(4x4) filter twice a step (forward and input gradient): this loop in
            // Swift was 4.4 % of a 1-thread R50 train step.
            Parallel.for(oc, grain: 2048) { r in _ = cn_winograd4_filter(w, oc, up, r.lowerBound, r.upperBound) }
            return u
        }
        // Eight filters per step, one per lane, so that each of the 36 results is one 8-float store
        // into its plane (36 scattered scalar stores per filter made this 8 % of a one-image R50
        // dcot-eval); the last step takes fewer lanes with the same operations. G's entries are
        // products with rounded reciprocals, not divisions: their rounding is far inside F(4x4)'s
        // own error.
        let (r6, r12, r24): (Float, Float, Float) = (1.0 / 6, 1.0 / 12, 1.0 / 24)
        Parallel.for((oc + 7) / 8, grain: 16) { r in
            for block in r {
                let idx0 = block &* 8, lanes = min(8, oc &- idx0)
                @inline(__always) func tap(_ j: Int) -> SIMD8<Float> {
                    var v = SIMD8<Float>()
                    for l in 0..<lanes { v[l] = w[(idx0 &+ l) &* 9 &+ j] }
                    return v
                }
                // G applied to three values (a filter column, then a row of G g): its six rows.
                @inline(__always) func g6(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>)
                    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                    (a * 0.25, -(a + b + c) * r6, -(a - b + c) * r6, a * r24 + b * r12 + c * r6, a * r24 - b * r12 + c * r6, c)
                }
                let c0 = g6(tap(0), tap(3), tap(6)), c1 = g6(tap(1), tap(4), tap(7)), c2 = g6(tap(2), tap(5), tap(8))  // G g
                @inline(__always) func put(_ i: Int, _ a0: SIMD8<Float>, _ a1: SIMD8<Float>, _ a2: SIMD8<Float>) {  // (G g) G^T, row i
                    let vals = g6(a0, a1, a2)
                    @inline(__always) func st(_ j: Int, _ v: SIMD8<Float>) {
                        let q = up + ((6 &* i &+ j) &* oc &+ idx0)
                        if lanes == 8 { UnsafeMutableRawPointer(q).storeBytes(of: v, as: SIMD8<Float>.self) }
                        else { for l in 0..<lanes { q[l] = v[l] } }
                    }
                    st(0, vals.0); st(1, vals.1); st(2, vals.2); st(3, vals.3); st(4, vals.4); st(5, vals.5)
                }
                put(0, c0.0, c1.0, c2.0); put(1, c0.1, c1.1, c2.1); put(2, c0.2, c1.2, c2.2)
                put(3, c0.3, c1.3, c2.3); put(4, c0.4, c1.4, c2.4); put(5, c0.5, c1.5, c2.5)
            }
        }
        return u
    }

    /// B^T r over six values (rows or lanes): the input transform's 1-D step.
    @inline(__always)
    static func bt6(_ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ r2: SIMD8<Float>, _ r3: SIMD8<Float>, _ r4: SIMD8<Float>,
                    _ r5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let a = r4 - 4 * r2, b = r3 - 4 * r1
        let c = r4 - r2, d = 2 * (r3 - r1)
        return (4 * r0 - 5 * r2 + r4, a + b, a - b, c + d, c - d, 4 * r1 - 5 * r3 + r5)
    }

    /// V = B^T d B for every (channel, tile) of samples `samples` of x: [36, C, tiles], the tiles of
    /// those samples side by side.
    static func winograd4Input(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ samples: Range<Int>) -> Tensor {
        let (c, h, wd, p) = (g.c, g.h, g.w, g.padding)
        let th = (g.ho + 3) / 4, tw = (g.wo + 3) / 4, tilesPerSample = th * tw, t = samples.count * tilesPerSample
        let v = Tensor(shape: [36, c, t])
        let vp = v.data, ct = c * t
        let lanes8 = winograd4TileLanes
        Parallel.for(samples.count * c) { r in
            let cols = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 36)   // (B^T d)[i][j] at 6i + j, 8 tiles
            defer { cols.deallocate() }
            for plane in r {
                let s = plane / c, ch = plane &- s &* c
                let src = x + ((samples.lowerBound &+ s) &* c &+ ch) &* h &* wd
                var tile = 0                                                  // flattened: ty·tw + tx
                while tile < tilesPerSample {
                    let ty = tile / tw, tx = tile &- ty &* tw
                    let y0 = 4 &* ty &- p, x0 = 4 &* tx &- p
                    let base = vp + (ch &* t &+ s &* tilesPerSample &+ tile)
                    // Eight tiles, one per lane, with the one-tile path's operations per value (bt6 down
                    // the rows, then along them), so the same bits; each of the 36 results is one 8-float
                    // store. `lanes(i, j)`: row i, column j of each lane's 6 x 6 patch.
                    @inline(__always) func eightTiles(_ lanes: (Int, Int) -> SIMD8<Float>) {
                        for j in 0..<6 {
                            let q = bt6(lanes(0, j), lanes(1, j), lanes(2, j), lanes(3, j), lanes(4, j), lanes(5, j))
                            cols[j] = q.0; cols[6 &+ j] = q.1; cols[12 &+ j] = q.2
                            cols[18 &+ j] = q.3; cols[24 &+ j] = q.4; cols[30 &+ j] = q.5
                        }
                        for i in 0..<6 {
                            let r = 6 &* i
                            let q = bt6(cols[r], cols[r &+ 1], cols[r &+ 2], cols[r &+ 3], cols[r &+ 4], cols[r &+ 5])
                            let out = base + r &* ct
                            @inline(__always) func st(_ k: Int, _ v: SIMD8<Float>) {
                                UnsafeMutableRawPointer(out + k &* ct).storeBytes(of: v, as: SIMD8<Float>.self)
                            }
                            st(0, q.0); st(1, q.1); st(2, q.2); st(3, q.3); st(4, q.4); st(5, q.5)
                        }
                    }
                    if lanes8 && tx &+ 8 <= tw && x0 >= 0 && x0 &+ 34 <= wd {
                        // Eight side-by-side tiles inside the image's columns: strided loads, no column checks.
                        eightTiles { i, j in
                            let iy = y0 &+ i
                            if iy < 0 || iy >= h { return SIMD8<Float>() }
                            return tileLanes(src + (iy &* wd &+ x0 &+ j), step: 4)
                        }
                        tile &+= 8
                        continue
                    }
                    // A left-edge tile whose right neighbour starts eight side by side goes alone, so
                    // that the rows of wide maps keep the cheaper path above.
                    let rowNext = tx &+ 9 <= tw && 4 &* (tx &+ 1) &- p >= 0 && 4 &* (tx &+ 1) &- p &+ 34 <= wd
                    if lanes8 && tile &+ 8 <= tilesPerSample && !rowNext {
                        // Any eight consecutive tiles (edges, short rows, across rows): each lane reads
                        // its own patch with bounds checks. Small maps (21 x 21: 6 tiles a row) are all here.
                        var ys = SIMD8<Int32>(), xs = SIMD8<Int32>()
                        for l in 0..<8 {
                            let tl = tile &+ l, yl = tl / tw
                            ys[l] = Int32(truncatingIfNeeded: 4 &* yl &- p); xs[l] = Int32(truncatingIfNeeded: 4 &* (tl &- yl &* tw) &- p)
                        }
                        eightTiles { i, j in
                            var v = SIMD8<Float>()
                            for l in 0..<8 {
                                let iy = Int(ys[l]) &+ i, ix = Int(xs[l]) &+ j
                                if iy >= 0 && iy < h && ix >= 0 && ix < wd { v[l] = src[iy &* wd &+ ix] }
                            }
                            return v
                        }
                        tile &+= 8
                        continue
                    }
                    @inline(__always) func row(_ i: Int) -> SIMD8<Float> {
                        let iy = y0 &+ i
                        var v = SIMD8<Float>()
                        if iy < 0 || iy >= h { return v }
                        let rp = src + iy &* wd
                        if x0 >= 0 && x0 &+ 6 <= wd {
                            for j in 0..<6 { v[j] = rp[x0 &+ j] }
                        } else {
                            for j in 0..<6 { let ix = x0 &+ j; if ix >= 0 && ix < wd { v[j] = rp[ix] } }
                        }
                        return v
                    }
                    let q = bt6(row(0), row(1), row(2), row(3), row(4), row(5))          // B^T d: 6 rows
                    @inline(__always) func put(_ i: Int, _ u: SIMD8<Float>) {           // row i of (B^T d) B
                        let a = u[4] - 4 * u[2], b = u[3] - 4 * u[1], cc = u[4] - u[2], d = 2 * (u[3] - u[1])
                        let out = base + (6 &* i) &* ct
                        out[0] = 4 * u[0] - 5 * u[2] + u[4]
                        out[ct] = a + b
                        out[2 &* ct] = a - b
                        out[3 &* ct] = cc + d
                        out[4 &* ct] = cc - d
                        out[5 &* ct] = 4 * u[1] - 5 * u[3] + u[5]
                    }
                    put(0, q.0); put(1, q.1); put(2, q.2); put(3, q.3); put(4, q.4); put(5, q.5)
                    tile &+= 1
                }
            }
        }
        return v
    }

    /// Sample ranges of one F(4x4) pass: V and the products within `winograd4MaxBytes`.
    static func winograd4Chunks(_ g: ConvGeometry) -> [Range<Int>] {
        let tiles = ((g.ho + 3) / 4) * ((g.wo + 3) / 4)
        return BatchGroups.ranges(g.n, limit: max(1, winograd4MaxBytes / max(36 * (g.c + g.o) * tiles * 4, 1)))
    }

    /// Whether F(4x4) runs its transforms in C on AVX-512 with packed GEMM operands (winograd4.c)
    /// when dcot's GEMM runs and the filters come packed; false: the Swift transforms (tests compare
    /// the two bit for bit).
    nonisolated(unsafe) public static var winograd4Packed = true
    /// Whether winograd4Filter runs winograd4.c's AVX-512 loop where the CPU has it (false: the Swift
    /// loop; tests compare the two bit for bit).
    nonisolated(unsafe) public static var winograd4FilterInC = true

    /// One sample chunk of winograd4Forward on the packed path: V written in the GEMM's packed-B
    /// layout by winograd4.c, 36 products (whole products over the threads) of V and the filters,
    /// packed (`packedU`) or read in place from `u`, then the output transform in C.
    static func winograd4PackedPass(_ x: Tensor, _ u: Tensor?, _ packedU: [Gemm.PackedA], _ g: ConvGeometry,
                                    _ samples: Range<Int>, bias: Tensor?, relu: Bool, _ y: Tensor) {
        let (o, c, ho, wo) = (g.o, g.c, g.ho, g.wo)
        let th = (ho + 3) / 4, tw = (wo + 3) / 4, ns = samples.count, t = ns * th * tw
        let plane = cn_sgemm_packed_b_floats(o, t, c)
        let v = Tensor(shape: [36 * plane]), m = Tensor(shape: [36, o, t])
        let xs = x.data + samples.lowerBound * c * g.h * g.w, vp = v.data, mp = m.data
        // At least ~1024 tile-channels (36 KB of V) per task: with 16384, layer3's 72 tiles (batch 2)
        // ran the whole transform on one thread.
        Parallel.for(c, grain: max(1, 1024 / max(t, 1))) { r in
            let rc = cn_winograd4_input(xs, ns, c, g.h, g.w, g.padding, th, tw, o, vp, r.lowerBound, r.upperBound)
            precondition(rc == CN_OK, "cn_winograd4_input failed with code \(rc)")
        }
        Gemm.independent(36) { k in
            let pa: UnsafeMutablePointer<Float>? = packedU.isEmpty ? nil : packedU[k].data
            let rc = cn_sgemm_block(0, 0, o, t, c, 1, pa ?? u!.data + k * o * c, c, pa, nil, 0, vp + k * plane,
                                    0, mp + k * o * t, t, 0, o, 0, t)
            if rc != CN_OK { fatalError("dcot: cn_sgemm_block(\(o), \(t), \(c)) failed with code \(rc) (out of memory?)") }
        }
        let groups = (t + 15) / 16, yp = y.data + samples.lowerBound * o * ho * wo, bp = bias?.data
        Parallel.for(o * groups, grain: 4) { r in
            let rc = cn_winograd4_output(mp, ns, o, ho, wo, th, tw, bp, relu ? 1 : 0, yp, r.lowerBound, r.upperBound)
            precondition(rc == CN_OK, "cn_winograd4_output failed with code \(rc)")
        }
    }

    /// DCOT_WINOGRAD4_TRAINING in the environment: unset, empty or `1` both training rules, `0`
    /// neither, `large` the 128-channel rule only; any other value is named on stderr and the default
    /// holds.
    static let winograd4TrainingEnvironment: (on: Bool, small: Bool) = {
        let s = winograd4TrainingSetting(ProcessInfo.processInfo.environment["DCOT_WINOGRAD4_TRAINING"])
        if let warning = s.warning { FileHandle.standardError.write(Data(("warning: " + warning + "\n").utf8)) }
        return (s.on, s.small)
    }()

    /// What a DCOT_WINOGRAD4_TRAINING value asks for: training's F(4x4) on, its small-map rule on,
    /// and a warning for a value that is none of the three.
    public static func winograd4TrainingSetting(_ value: String?) -> (on: Bool, small: Bool, warning: String?) {
        switch value {
        case nil, "", "1": return (true, true, nil)
        case "0": return (false, false, nil)
        case "large": return (true, false, nil)
        case let other?:
            return (true, true, "DCOT_WINOGRAD4_TRAINING: '\(other)' is none of 0, 1, large; using 1 (F(4x4) in training by both rules)")
        }
    }

    /// Whether training's forward and input gradient run F(4x4) where `useWinograd4Training` allows
    /// (`DCOT_WINOGRAD4_TRAINING=0` in the environment: never).
    nonisolated(unsafe) public static var winograd4Training = winograd4TrainingEnvironment.on
    /// Minimum input and output channels of a training conv on F(4x4).
    nonisolated(unsafe) public static var winograd4TrainingMinChannels = 128
    /// The same minimum for convs that F(2x2) does not take (`useWinograd`: fewer than 64 channels,
    /// or too few 2x2 tiles: the demo models' 16 x 16 maps), which otherwise run im2col; they did
    /// until 2026-12-07 (nineteenth session). Zen 4, 2 threads, batch 16, crop 64, alternating processes:
    /// cnn-rgb train step 69.9 / 70.7 / 70.1 -> 58.8 / 59.3 / 58.9 ms, cnn-dct 84.5 / 84.7 / 85.0 ->
    /// 82.0 / 77.8 / 77.3; 1 thread 137.3 / 133.1 -> 110.5 / 111.6 and 161.8 / 162.8 -> 145.1 / 146.5.
    /// F(2x2)'s convs stay there: R50-DCT's 64-channel convs on 81 x 81 maps on F(4x4) took its
    /// batch-2 train step from 1351 / 1331 to 1411 / 1423 ms. `DCOT_WINOGRAD4_TRAINING=large` in the
    /// environment: .max, the rule (and the bits) of the builds before.
    nonisolated(unsafe) public static var winograd4TrainingSmallMinChannels = winograd4TrainingEnvironment.small ? 32 : Int.max

    /// Whether training's forward (and, for the backward geometry, the input gradient) of `g` runs
    /// F(4x4): an inference F(4x4) geometry with at least `winograd4TrainingMinChannels` channels in
    /// and out, or at least `winograd4TrainingSmallMinChannels` where F(2x2) does not run. At crop
    /// 321 R50's layer2-3 and decoder convs and its deep stem's 32- and 64-channel convs on 161 x 161
    /// take it, R50's layer1 (64 channels, F(2x2)) does not; the demo models' 32-88-channel convs on
    /// 16 x 16 maps and more take it.
    /// Inference's minimum (`winograd4MinChannels`) does not enter: a run's bits do not move with it.
    public static func useWinograd4Training(_ g: ConvGeometry) -> Bool {
        guard winograd4Training else { return false }
        let narrow = min(g.c, g.o), small = winograd4TrainingSmallMinChannels
        if narrow >= winograd4TrainingMinChannels { return useWinograd4(g, minChannels: winograd4TrainingMinChannels) }
        return narrow >= small && !useWinograd(g) && useWinograd4(g, minChannels: small)
    }

    // (Training transforms its filters anew each step and does not pack them: the GEMM reads op(A)
    // in place, gemm_avx512.c, which took the packing's 5 % of a 1-thread R50 train step away.)

    /// The 36 filter matrices of `u` = winograd4Filter(w) packed for dcot's own GEMM (empty when
    /// it does not run): fixed inference weights keep them instead of u.
    public static func winograd4PackFilter(_ u: Tensor) -> [Gemm.PackedA] { Gemm.packA(stack: u) }

    /// relu?(conv(x, w) + bias) for a `useWinograd4` geometry, u = winograd4Filter(w); `packedU`:
    /// winograd4PackFilter(u) or empty (the same bits either way).
    /// `u` may be nil when `packedU` is current and `winograd4Packed` holds (the packed path needs only it).
    public static func winograd4Forward(_ x: Tensor, _ u: Tensor?, _ g: ConvGeometry, bias: Tensor?, relu: Bool,
                                        packedU: [Gemm.PackedA] = []) -> Tensor {
        let packedPath = winograd4Packed && (packedU.isEmpty ? u != nil && Gemm.native : packedU.count == 36 && packedU[0].current)
        precondition(packedPath || u?.shape == [36, g.o, g.c],
                     "winograd4Forward: filter \(u.map { "\($0.shape)" } ?? "missing") for \(g.o) x \(g.c)")
        let y = Tensor(shape: g.outShape)
        let (o, c, ho, wo) = (g.o, g.c, g.ho, g.wo)
        let th = (ho + 3) / 4, tw = (wo + 3) / 4, tilesPerSample = th * tw, lanes8 = winograd4TileLanes
        for samples in winograd4Chunks(g) {
            let t = samples.count * tilesPerSample
            if packedPath {
                winograd4PackedPass(x, u, packedU, g, samples, bias: bias, relu: relu, y)
                continue
            }
            let v = winograd4Input(x.data, g, samples), m = Tensor(shape: [36, o, t])
            for k in 0..<36 {
                Gemm.sgemm(packed: packedU.count == 36 ? packedU[k] : nil, m: o, n: t, k: c, a: u!.data + k * o * c, lda: c,
                           b: v.data + k * c * t, ldb: t,
                           c: m.data + k * o * t, ldc: t)
            }
            let mp = m.data, ot = o * t, bp = bias?.data, yp = y.data + samples.lowerBound * o * ho * wo
            Parallel.for(samples.count * o) { r in
                let rows = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 24)   // (A^T M)[i][j] at 6i + j, 8 tiles
                defer { rows.deallocate() }
                for plane in r {
                    let s = plane / o, oc = plane &- s &* o
                    let dst = yp + plane &* ho &* wo, b = bp?[oc] ?? 0
                    var tile = 0                                              // flattened: ty·tw + tx
                    while tile < tilesPerSample {
                        let ty = tile / tw, tx = tile &- ty &* tw
                        let base = mp + (oc &* t &+ s &* tilesPerSample &+ tile)
                        let whole = lanes8 && 4 &* (tx &+ 8) <= wo
                        if whole || (lanes8 && tile &+ 8 <= tilesPerSample) {
                            // Eight tiles, one per lane: the one-tile path's operations per value (A^T
                            // down the rows, then along them, + bias, ReLU), so the same bits, from 36
                            // 8-float loads. Eight whole tiles side by side in a row store rows of 32
                            // floats; any other eight (edges, short rows, across rows) store lane by lane.
                            for j in 0..<6 {
                                @inline(__always) func m(_ i: Int) -> SIMD8<Float> {
                                    UnsafeRawPointer(base + (6 &* i &+ j) &* ot).loadUnaligned(as: SIMD8<Float>.self)
                                }
                                let (m0, m1, m2, m3, m4, m5) = (m(0), m(1), m(2), m(3), m(4), m(5))
                                let a = m1 + m2, bb = m1 - m2, cc = m3 + m4, d = m3 - m4
                                rows[j] = m0 + a + cc; rows[6 &+ j] = bb + 2 * d
                                rows[12 &+ j] = a + 4 * cc; rows[18 &+ j] = bb + 8 * d + m5
                            }
                            for i in 0..<4 {
                                let u = rows + 6 &* i
                                let a = u[1] + u[2], bb = u[1] - u[2], cc = u[3] + u[4], d = u[3] - u[4]
                                var o0 = u[0] + a + cc + b, o1 = bb + 2 * d + b, o2 = a + 4 * cc + b, o3 = bb + 8 * d + u[5] + b
                                if relu {
                                    o0.replace(with: 0, where: o0 .< 0); o1.replace(with: 0, where: o1 .< 0)
                                    o2.replace(with: 0, where: o2 .< 0); o3.replace(with: 0, where: o3 .< 0)
                                }
                                if whole {
                                    let oy = 4 &* ty &+ i
                                    if oy >= ho { break }
                                    let q = dst + (oy &* wo &+ 4 &* tx)
                                    for l in 0..<8 {
                                        let e = q + 4 &* l
                                        e[0] = o0[l]; e[1] = o1[l]; e[2] = o2[l]; e[3] = o3[l]
                                    }
                                } else {
                                    for l in 0..<8 {
                                        let tl = tile &+ l, yl = tl / tw
                                        let oy = 4 &* yl &+ i, ox = 4 &* (tl &- yl &* tw)
                                        if oy >= ho { continue }
                                        let e = dst + (oy &* wo &+ ox), nx = min(4, wo &- ox)
                                        e[0] = o0[l]
                                        if nx > 1 { e[1] = o1[l] }
                                        if nx > 2 { e[2] = o2[l] }
                                        if nx > 3 { e[3] = o3[l] }
                                    }
                                }
                            }
                            tile &+= 8
                            continue
                        }
                        @inline(__always) func row(_ i: Int) -> SIMD8<Float> {
                            let q = base + (6 &* i) &* ot
                            return SIMD8(q[0], q[ot], q[2 &* ot], q[3 &* ot], q[4 &* ot], q[5 &* ot], 0, 0)
                        }
                        let (m0, m1, m2, m3, m4, m5) = (row(0), row(1), row(2), row(3), row(4), row(5))
                        let a = m1 + m2, bb = m1 - m2, cc = m3 + m4, d = m3 - m4            // A^T M: 4 rows
                        let rows = (m0 + a + cc, bb + 2 * d, a + 4 * cc, bb + 8 * d + m5)
                        let oy = 4 &* ty, ox = 4 &* tx
                        let nx = min(4, wo &- ox)
                        @inline(__always) func put(_ i: Int, _ u: SIMD8<Float>) {          // (A^T M) A, row i
                            if oy &+ i >= ho { return }
                            let a = u[1] + u[2], bb = u[1] - u[2], cc = u[3] + u[4], d = u[3] - u[4]
                            var out = SIMD4<Float>(u[0] + a + cc, bb + 2 * d, a + 4 * cc, bb + 8 * d + u[5]) + b
                            if relu { out.replace(with: 0, where: out .< 0) }
                            let q = dst + ((oy &+ i) &* wo &+ ox)
                            for j in 0..<nx { q[j] = out[j] }
                        }
                        put(0, rows.0); put(1, rows.1); put(2, rows.2); put(3, rows.3)
                        tile &+= 1
                    }
                }
            }
        }
        return y
    }
}
