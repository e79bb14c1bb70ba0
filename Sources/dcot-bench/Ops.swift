// `dcot-bench ops`: kernel timings at the shapes the models run (batch 2, 321 x 321 crops).
// One JSON object per line: op, shape, direction, ms (min of runs), gflops, and sgemm_gflops =
// cblas_sgemm on the same M, N, K (same transposes) in the same run (with --split-gemm: the same
// split GEMM); memory-bound ops report gbps against copy_gbps (a large memcpy, same run).
// Attention times its whole backward (input and parameter gradients): "backward-input+weight".
import ArgumentParser
import Foundation
import COpenBLAS
import Tensor
import Autograd
import NN

struct OpsBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ops", abstract: "Benchmark tensor kernels against sgemm.")

    @Option(help: "Threads for our parallel loops and OpenBLAS.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: "Timed runs per measurement (the minimum is reported).") var runs: Int = 5
    @Option(help: "Only ops whose name contains this string.") var filter: String?
    @Option(help: "GEMM: native (dcot's AVX-512 kernel) or openblas (default: as DCOT_GEMM or the machine decides).") var gemm: String?
    @Flag(inversion: .prefixedNo, help: "Split GEMMs over our thread pool, OpenBLAS single-threaded (--no-split-gemm: OpenBLAS's own threads).")
    var splitGemm = true
    @Option(help: "OpenBLAS thread timeout exponent, 4...30 (spin 2^N cycles after a GEMM; OpenBLAS default 28).")
    var blasThreadTimeout: Int?
    @Option(help: "Winograd for stride-1 3x3 convs with at least this many channels (a huge value disables it).")
    var winogradMinChannels: Int = Conv.winogradMinChannels
    @Option(help: "Winograd only with at least this many 2x2 output tiles over the batch.")
    var winogradMinTiles: Int = Conv.winogradMinTiles

    func run() throws {
        Parallel.setThreads(threads)
        Gemm.setSplitAcrossThreads(splitGemm)
        try chooseGemm(gemm)
        if let blasThreadTimeout { BLAS.setThreadTimeout(exponent: blasThreadTimeout) }
        Conv.winogradMinChannels = winogradMinChannels
        Conv.winogradMinTiles = winogradMinTiles
        var bench = OpsRunner(runs: runs, json: json, filter: filter)
        bench.all()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        bench.emit(["op": "summary", "threads": threads, "peak_rss_mb": Double(usage.ru_maxrss) / 1024,
                    "blas_idle_burn_ms_per_200ms": BLAS.idleBurnAfterGemm(),
                    "copy_gbps": bench.copyGBps, "blas": String(cString: openblas_get_config()), "gemm_engine": Gemm.engine])
    }
}

/// Conv shapes: (name, input channels, size, output channels, kernel, stride, padding, dilation, groups).
typealias ConvCase = (String, Int, Int, Int, Int, Int, Int, Int, Int)

struct OpsRunner {
    let runs: Int, json: Bool, filter: String?
    var copyGBps = 0.0
    let batch = 2

    init(runs: Int, json: Bool, filter: String?) { (self.runs, self.json, self.filter) = (runs, json, filter) }

    static let convs: [ConvCase] = [
        ("resnet50.layer1.conv2 3x3", 64, 81, 64, 3, 1, 1, 1, 1),
        ("resnet50.layer2.0.conv2 3x3 s2", 128, 81, 128, 3, 2, 1, 1, 1),
        ("resnet50.layer2.conv2 3x3", 128, 41, 128, 3, 1, 1, 1, 1),
        ("resnet50.layer3.0.conv2 3x3 s2", 256, 41, 256, 3, 2, 1, 1, 1),
        ("resnet50.layer3.conv2 3x3", 256, 21, 256, 3, 1, 1, 1, 1),
        ("resnet50.layer4.conv2 3x3 d2", 512, 21, 512, 3, 1, 2, 2, 1),
        ("resnet50.layer1.conv1 1x1", 256, 81, 64, 1, 1, 0, 1, 1),
        ("resnet50.layer1.conv3 1x1", 64, 81, 256, 1, 1, 0, 1, 1),
        ("resnet50.layer2.0.downsample 1x1 s2", 256, 81, 512, 1, 2, 0, 1, 1),
        ("resnet50.layer2.conv1 1x1", 512, 41, 128, 1, 1, 0, 1, 1),
        ("resnet50.layer3.conv3 1x1", 256, 21, 1024, 1, 1, 0, 1, 1),
        ("resnet50.layer4.conv1 1x1", 2048, 21, 512, 1, 1, 0, 1, 1),
        ("resnet50.layer4.conv3 1x1", 512, 21, 2048, 1, 1, 0, 1, 1),
        ("aspp.b2 3x3 rate12", 2048, 21, 256, 3, 1, 12, 12, 1),
        ("decoder.fuse 3x3 304->256", 304, 81, 256, 3, 1, 1, 1, 1),
    ]
    static let depthwise: [ConvCase] = [
        ("mit_b2.stage1.dwconv 3x3", 256, 81, 256, 3, 1, 1, 1, 256),
        ("mit_b2.stage2.dwconv 3x3", 512, 41, 512, 3, 1, 1, 1, 512),
    ]

    func wanted(_ op: String) -> Bool { filter.map { op.contains($0) } ?? true }

    /// Minimum wall time in ms over `runs` runs after one warm-up.
    func time(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return best
    }

    func emit(_ fields: [String: Any]) {
        if json {
            let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let order = ["op", "direction", "path", "ms", "sgemm_ms", "im2col_ms", "col2im_ms", "gflops", "sgemm_gflops", "ratio", "gbps", "copy_gbps"]
            let text = order.compactMap { k in fields[k].map { v -> String in
                if let d = v as? Double { return "\(k)=\(String(format: "%.2f", d))" }
                return "\(k)=\(v)"
            } }
            print((text + fields.keys.filter { !order.contains($0) }.sorted().map { "\($0)=\(fields[$0]!)" }).joined(separator: "  "))
        }
    }

    /// Minimum times of two bodies run alternately (so both see the same machine load).
    func timePair(_ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
        a(); b()
        var best = (Double.infinity, Double.infinity)
        for _ in 0..<runs {
            var t0 = DispatchTime.now().uptimeNanoseconds
            a()
            best.0 = min(best.0, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            t0 = DispatchTime.now().uptimeNanoseconds
            b()
            best.1 = min(best.1, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return best
    }

    /// A cblas_sgemm call of this shape and transposes, repeated `calls` times (the number of
    /// per-sample, per-group GEMMs the conv makes), and its flop count.
    func sgemmBody(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, calls: Int) -> (() -> Void, Double) {
        let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2), c = Tensor(shape: [m * n])
        let body = {
            for _ in 0..<calls {
                Gemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: transA ? m : k,
                           b: b.data, ldb: transB ? k : n, c: c.data, ldc: n)
            }
        }
        return (body, 2.0 * Double(m) * Double(n) * Double(k) * Double(calls))
    }

    /// GFLOP/s of one cblas_sgemm call of this shape and transposes.
    func sgemmGFlops(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Double {
        let (body, flops) = sgemmBody(transA: transA, transB: transB, m: m, n: n, k: k, calls: 1)
        return flops / time(body) / 1e6
    }

    mutating func all() {
        copyGBps = measureCopy()
        emit(["op": "memcpy", "shape": "256 MiB", "direction": "forward", "copy_gbps": copyGBps])
        for c in OpsRunner.convs where wanted(c.0) { conv(c) }
        for c in OpsRunner.depthwise where wanted(c.0) { conv(c) }
        if wanted("mit_b2.stage1.attention") { attention("mit_b2.stage1.attention", dim: 64, heads: 1, sr: 8, size: 81) }
        if wanted("mit_b2.stage2.attention") { attention("mit_b2.stage2.attention", dim: 128, heads: 2, sr: 4, size: 41) }
        if wanted("gelu") { elementwise("gelu", [batch, 256, 81, 81]) }
        if wanted("softmax") { elementwise("softmax", [batch, 21, 321, 321]) }
        if wanted("cross_entropy") { elementwise("cross_entropy", [batch, 21, 321, 321]) }
        if wanted("layer_norm") { elementwise("layer_norm", [batch, 6561, 64]) }
        if wanted("batch_norm") { batchNorm(channels: 256, size: 81); batchNorm(channels: 64, size: 161) }
        if wanted("bilinear") {
            bilinear(channels: 256, from: 21, to: 81)
            bilinear(channels: 21, from: 81, to: 321)
        }
    }

    /// Bytes read + written per second by a 256 MiB memcpy.
    func measureCopy() -> Double {
        let n = 64 << 20
        let src = Tensor(shape: [n], repeating: 1), dst = Tensor(zeros: [n])
        let ms = time { dst.data.update(from: src.data, count: n) }
        return 2.0 * Double(n * 4) / ms / 1e6
    }

    func conv(_ c: ConvCase) {
        let (name, cin, size, cout, k, s, p, d, g) = c
        let x = Tensor.uniform([batch, cin, size, size], seed: 3), w = Tensor.uniform([cout, cin / g, k, k], seed: 4)
        let geo = ConvGeometry(input: x.shape, weight: w.shape, stride: s, padding: p, dilation: d, groups: g)
        let dy = Tensor.uniform(geo.outShape, seed: 5)
        let shape = "x[\(batch),\(cin),\(size),\(size)] w[\(cout),\(cin / g),\(k),\(k)] s\(s) p\(p) d\(d) g\(g)"
        let gf = { (ms: Double) in geo.flops / ms / 1e6 }
        let ops: [(String, () -> Void)] = [
            ("forward", { _ = Conv.forward(x, w, bias: nil, geo) }),
            ("backward-input", { _ = Conv.backwardInput(dy, w, geo) }),
            ("backward-weight", { _ = Conv.backwardWeight(dy, x, geo) }),
        ]
        if geo.isDepthwise3x3 {
            let bytes = Double((x.count + dy.count) * 4)
            for (dir, body) in ops {
                let ms = time(body)
                emit(["op": name, "shape": shape, "direction": dir, "ms": ms, "gflops": gf(ms), "sgemm_gflops": NSNull(),
                      "gbps": bytes / ms / 1e6, "copy_gbps": copyGBps, "ratio": bytes / ms / 1e6 / copyGBps])
            }
            return
        }
        let (og, rows, howo, calls) = (geo.og, geo.colRows, geo.ho * geo.wo, batch * g)
        let gemms: [(Bool, Bool, Int, Int, Int)] = [(false, false, og, howo, rows), (true, false, rows, howo, og), (false, true, og, rows, howo)]
        // Where the rest of the time goes: im2col (forward, backward-weight), col2im (backward-input).
        var layout: [String: Any] = [:]
        if !geo.isPointwise && !Conv.useWinograd(geo) {
            let col = Tensor(shape: [rows * howo]), dx = Tensor(zeros: x.shape)
            let plane = cin * size * size
            let i2c = time { for s in 0..<batch { for gi in 0..<g { Conv.im2col(x.data + s * plane, geo, gi * geo.cg, col.data) } } }
            let c2i = time { for s in 0..<batch { for gi in 0..<g { Conv.col2im(col.data, geo, gi * geo.cg, dx.data + s * plane) } } }
            layout = ["forward": i2c, "backward-input": c2i, "backward-weight": i2c]
        }
        for ((dir, body), (ta, tb, m, n, kk)) in zip(ops, gemms) {
            let (ref, flops) = sgemmBody(transA: ta, transB: tb, m: m, n: n, k: kk, calls: calls)
            let (ms, refMs) = timePair(body, ref)
            let sg = flops / refMs / 1e6
            var fields: [String: Any] = [
                "op": name, "shape": shape, "direction": dir, "ms": ms, "gflops": gf(ms), "sgemm_gflops": sg, "ratio": gf(ms) / sg,
                "gemm": "M=\(m) N=\(n) K=\(kk)\(ta ? " A^T" : "")\(tb ? " B^T" : "") x\(calls)", "sgemm_ms": refMs,
                "path": Conv.useWinograd(geo) ? "winograd" : geo.isPointwise ? "gemm" : "im2col+gemm"]
            if let t = layout[dir] { fields[dir == "backward-input" ? "col2im_ms" : "im2col_ms"] = t }
            emit(fields)
        }
    }

    /// The composed MiT efficient self-attention module, forward and forward+backward.
    func attention(_ name: String, dim: Int, heads: Int, sr: Int, size: Int) {
        let attn = EfficientSelfAttention(dim: dim, heads: heads, srRatio: sr, seed: 1)
        let n = size * size, kvSide = (size - sr) / sr + 1, m = kvSide * kvSide, hd = dim / heads
        let x = Variable(Tensor.uniform([batch, n, dim], seed: 2), requiresGrad: true)
        // q,k,v,out projections + sr conv + QK^T + AV.
        let flops = 2.0 * Double(batch) * (Double(n * dim * dim) * 2 + Double(m * dim * dim) * 2 + Double(m * dim * dim * sr * sr)
                                           + 2 * Double(heads * n * m * hd))
        let shape = "x[\(batch),\(n),\(dim)] heads \(heads) sr \(sr) kv \(m)"
        let fwd = time { _ = withNoGrad { attn(x, height: size, width: size) } }
        let cot = Tensor.uniform([batch, n, dim], seed: 3)
        let both = time { backward(attn(x, height: size, width: size), seed: cot); attn.zeroGrad(); x.zeroGrad() }
        let sg = sgemmGFlops(transA: false, transB: true, m: n, n: m, k: hd)
        emit(["op": name, "shape": shape, "direction": "forward", "ms": fwd, "gflops": flops / fwd / 1e6, "sgemm_gflops": sg,
              "gemm": "QK^T M=\(n) N=\(m) K=\(hd)"])
        emit(["op": name, "shape": shape, "direction": "backward-input+weight", "ms": both - fwd,
              "gflops": 2 * flops / (both - fwd) / 1e6, "sgemm_gflops": sg, "gemm": "QK^T M=\(n) N=\(m) K=\(hd)"])
    }

    /// Memory-bound ops through the autograd front end: forward, and backward (forward + backward
    /// minus forward). gbps counts one read of the input and one write of the output.
    func elementwise(_ name: String, _ shape: [Int]) {
        let x = Variable(Tensor.uniform(shape, -3, 3, seed: 1), requiresGrad: true)
        let d = shape.last!
        let gamma = Variable(Tensor(shape: [d], repeating: 1), requiresGrad: true), beta = Variable(Tensor(zeros: [d]), requiresGrad: true)
        let labels = LabelMap(shape: [shape[0]] + Array(shape.dropFirst(2)))
        for i in 0..<labels.count { labels[i] = UInt8(i % 21) }
        let f: () -> Variable = {
            switch name {
            case "gelu": return gelu(x)
            case "softmax": return softmax(x, axis: 1)
            case "cross_entropy": return crossEntropy(x, labels)
            default: return layerNorm(x, weight: gamma, bias: beta, eps: 1e-6)
            }
        }
        let cot = Tensor.uniform(f().value.shape, seed: 2)
        Tape.reset()
        let fwd = time { _ = withNoGrad { f() } }
        let both = time { backward(f(), seed: cot); x.zeroGrad(); gamma.zeroGrad(); beta.zeroGrad() }
        let bytes = Double(2 * x.value.count * 4)
        emit(["op": name, "shape": "\(shape)", "direction": "forward", "ms": fwd, "gbps": bytes / fwd / 1e6, "copy_gbps": copyGBps,
              "gflops": NSNull(), "sgemm_gflops": NSNull()])
        emit(["op": name, "shape": "\(shape)", "direction": "backward-input", "ms": both - fwd, "gbps": bytes / (both - fwd) / 1e6,
              "copy_gbps": copyGBps, "gflops": NSNull(), "sgemm_gflops": NSNull()])
    }

    func batchNorm(channels c: Int, size: Int) {
        let xv = Tensor.uniform([batch, c, size, size], seed: 1)
        let rm = Tensor(zeros: [c]), rv = Tensor(shape: [c], repeating: 1)
        let dy = Tensor.uniform(xv.shape, seed: 2)
        let shape = "x[\(batch),\(c),\(size),\(size)] train"
        let bytes = Double(xv.count * 4)
        func step(inputGrad: Bool, weightGrad: Bool) -> () -> Void {
            let x = Variable(xv, requiresGrad: inputGrad)
            let gamma = Variable(Tensor(shape: [c], repeating: 1), requiresGrad: weightGrad)
            let beta = Variable(Tensor(zeros: [c]), requiresGrad: weightGrad)
            return {
                backward(batchNorm2d(x, weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true), seed: dy)
                x.zeroGrad(); gamma.zeroGrad(); beta.zeroGrad()
            }
        }
        let x0 = Variable(xv), g0 = Variable(Tensor(shape: [c], repeating: 1)), b0 = Variable(Tensor(zeros: [c]))
        let fwd = time { _ = batchNorm2d(x0, weight: g0, bias: b0, runningMean: rm, runningVar: rv, training: true) }
        let input = time(step(inputGrad: true, weightGrad: false)) - fwd
        let weight = time(step(inputGrad: false, weightGrad: true)) - fwd
        // Passes over x-sized data: forward 4 (statistics read x twice, normalise reads x, writes y);
        // input gradient 5 (dy and x for the sums, then dy, x, dx); weight gradient 3 (dy, x, dy).
        for (dir, ms, passes) in [("forward", fwd, 4.0), ("backward-input", input, 5.0), ("backward-weight", weight, 3.0)] {
            emit(["op": "batch_norm", "shape": shape, "direction": dir, "ms": ms, "gbps": passes * bytes / ms / 1e6,
                  "copy_gbps": copyGBps, "gflops": NSNull(), "sgemm_gflops": NSNull()])
        }
    }

    func bilinear(channels c: Int, from a: Int, to b: Int) {
        let x = Tensor.uniform([batch, c, a, a], seed: 1), dy = Tensor.uniform([batch, c, b, b], seed: 2)
        for ac in [true, false] {
            let shape = "x[\(batch),\(c),\(a),\(a)] -> \(b)x\(b) align_corners=\(ac)"
            let bytes = Double((x.count + dy.count) * 4)
            let fwd = time { _ = ResizeKernel.bilinear(x, height: b, width: b, alignCorners: ac) }
            let bwd = time { _ = ResizeKernel.bilinearBackward(dy, inputShape: x.shape, alignCorners: ac) }
            emit(["op": "bilinear", "shape": shape, "direction": "forward", "ms": fwd, "gbps": bytes / fwd / 1e6,
                  "copy_gbps": copyGBps, "gflops": NSNull(), "sgemm_gflops": NSNull()])
            emit(["op": "bilinear", "shape": shape, "direction": "backward-input", "ms": bwd, "gbps": bytes / bwd / 1e6,
                  "copy_gbps": copyGBps, "gflops": NSNull(), "sgemm_gflops": NSNull()])
        }
    }
}
