// `dcot-bench model`: whole-model step times for one config. A train step = forward, CE loss,
// backward, SGD update (momentum 0.9, wd 1e-4, backbone/head groups); inference = eval-mode
// forward without a tape. gflop_per_step = 3 x the forward's conv/matmul FLOPs (backward ~ 2x
// forward). Prints one JSON object (--json) or a line of text. Scripts/bench model runs the same
// configurations in PyTorch (Scripts/bench_model.py) and prints both side by side.
import ArgumentParser
import Foundation
import Tensor
import Autograd
import NN
import Models
import Optim
import Checkpoint
import Support

struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Time a train step and an inference pass of one model config.")

    @Option(help: "Model YAML (reference keys).") var config: String
    @Option(help: "Batch size.") var batch: Int = 2
    @Option(help: "Square crop size in pixels (DCT models get ceil(crop/4) on the DCT grid).") var crop: Int = 321
    @Option(help: "Threads for our parallel loops and OpenBLAS.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed train steps (median reported) after one warm-up step.") var runs: Int = 3
    @Flag(help: "One JSON object.") var json = false
    @Option(help: "Probe the host's core-to-core round trips for this many ms before and after the timed steps (dcot-bench host; 0: no probe).")
    var hostProbeMs: Double = 100
    @Option(help: "Tap-skipping atrous convs when they keep at most this fraction of im2col's work (0 disables).")
    var atrousMaxKept: Double = AtrousConv.maxKeptFraction
    @Flag(inversion: .prefixedNo, help: "Split large GEMMs over our thread pool, OpenBLAS single-threaded (--no-split-gemm: OpenBLAS's own threads, Dispatch for our loops).")
    var splitGemm = true
    @Option(help: "Split GEMMs of at least this many multiply-adds into 2 blocks.") var gemmSplitMin: Double = Gemm.splitMinMNK
    @Option(help: "... and into --gemm-max-blocks from this many.") var gemmManyBlocks: Double = Gemm.manyBlocksMNK
    @Option(help: "Most blocks of one GEMM (default: the machine's cores as a power of two, 2...8).") var gemmMaxBlocks: Int = Gemm.maxBlocks
    @Option(help: "Products with prepacked weights (linear layers in inference) cut by rows into this many blocks per --gemm-max-blocks block, taken by the threads as they finish (same bits).") var gemmPackedBlocks: Int = Gemm.packedBlocksPerThread
    @Option(help: "Winograd for stride-1 3x3 convs with at least this many channels (a huge value disables it).")
    var winogradMinChannels: Int = Conv.winogradMinChannels
    @Option(help: "Winograd only with at least this many 2x2 output tiles per batch group.")
    var winogradMinTiles: Int = Conv.winogradMinTiles
    @Option(help: "Working-set cap of one Winograd F(2x2) pass (transformed input and products); larger batches run in sample chunks.")
    var winogradMaxBytes: Int = Conv.winogradMaxBytes
    @Option(help: "Most idle bytes the tensor buffer pool keeps for reuse (MB).")
    var poolMaxMb: Int = BufferPool.shared.maxCachedBytes >> 20
    @Option(help: "Inference: Winograd F(4x4, 3x3) for stride-1 3x3 convs with at least this many channels on maps of 16 x 16 and more (at least half as many on maps of 32 x 32 and more; a huge value disables it). Eval-mode forwards inside a training step (EMA teachers) keep 128.")
    var winograd4MinChannels: Int = Conv.winograd4MinChannels
    @Option(help: "Inference: F(4x4, 3x3) only with at least this many 4x4 output tiles per batch group.")
    var winograd4MinTiles: Int = Conv.winograd4MinTiles
    @Flag(inversion: .prefixedNo, help: "Training: F(4x4, 3x3) for the forward and input gradient of stride-1 3x3 convs with at least 128 channels on maps of 16 x 16 and more (default: on unless DCOT_WINOGRAD4_TRAINING=0), and those of 32-127 channels that F(2x2) does not take.")
    var winograd4Training = Conv.winograd4Training
    @Option(help: "Training: F(4x4, 3x3) for convs with at least this many input and output channels.")
    var winograd4TrainingMinChannels: Int = Conv.winograd4TrainingMinChannels
    @Option(help: "Training: ... and for convs with at least this many that F(2x2) does not take (a huge value: the rule before 2026-12-07, as DCOT_WINOGRAD4_TRAINING=large).")
    var winograd4TrainingSmallMinChannels: Int = Conv.winograd4TrainingSmallMinChannels
    @Option(help: "Inference: dilated 3x3 convs as dilation-phase F(4x4) convs when a phase is at least this many pixels high and wide (a huge value disables it).")
    var phaseMinSide: Int = AtrousConv.phaseMinSide
    @Flag(inversion: .prefixedNo, help: "Inference: attention with its query and output projections folded into the keys and values where that multiplies less (MiT stages 1 and 2).")
    var foldAttention = MultiheadAttention.foldsProjections
    @Flag(inversion: .prefixedNo, help: "Without a tape: Mix-FFN (fc1, depthwise 3x3 + GELU, fc2) in bands of rows kept in cache (the same bits).")
    var ffnBands = FeedForwardBands.enabled
    @Option(help: "Most bytes of one Mix-FFN band's hidden rows (--ffn-bands).")
    var ffnBandBytes: Int = FeedForwardBands.bandBytes
    @Option(help: "Mix-FFN band tasks per thread when a batch has fewer samples than threads.")
    var ffnBandPartsPerThread: Int = FeedForwardBands.partsPerThread
    @Option(help: "At most this many columns (samples x output pixels) per batched im2col GEMM (0: one GEMM per sample).")
    var convBatchedColumns: Int = Conv.batchedColumns
    @Option(help: "Byte cap of a batched im2col GEMM's column matrix and output.")
    var convBatchedBytes: Int = Conv.batchedMaxBytes
    @Option(help: "OpenBLAS thread timeout exponent, 4...30 (spin 2^N cycles after a GEMM; OpenBLAS default 28).")
    var blasThreadTimeout: Int?
    @Option(help: "Load the whole model strictly from this safetensors file (default: random weights).") var weights: String?
    @Option(help: "Load pretrained backbone weights strictly from this safetensors file.") var pretrained: String?
    @Option(help: "Time only this phase (train | inference), e.g. under a profiler; default both.") var only: String?
    @Option(help: "GEMM: native (dcot's AVX-512 kernel) or openblas (default: as DCOT_GEMM or the machine decides).") var gemm: String?

    func run() throws {
        runReportingErrors {
            guard hostProbeMs >= 0 else { throw UserError("--host-probe-ms \(hostProbeMs)", "must not be negative", fix: "e.g. 100, or 0 for no probe") }
            Parallel.setThreads(threads)
            AtrousConv.maxKeptFraction = atrousMaxKept
            (Conv.winogradMinChannels, Conv.winogradMinTiles) = (winogradMinChannels, winogradMinTiles)
            (Conv.winograd4MinChannels, Conv.winogradMaxBytes) = (winograd4MinChannels, winogradMaxBytes)
            (Conv.winograd4MinTiles, AtrousConv.phaseMinSide) = (winograd4MinTiles, phaseMinSide)
            (Conv.winograd4Training, Conv.winograd4TrainingMinChannels) = (winograd4Training, winograd4TrainingMinChannels)
            Conv.winograd4TrainingSmallMinChannels = winograd4TrainingSmallMinChannels
            MultiheadAttention.foldsProjections = foldAttention
            (FeedForwardBands.enabled, FeedForwardBands.bandBytes) = (ffnBands, max(1, ffnBandBytes))
            FeedForwardBands.partsPerThread = max(1, ffnBandPartsPerThread)
            BufferPool.shared.maxCachedBytes = poolMaxMb << 20
            (Conv.batchedColumns, Conv.batchedMaxBytes) = (convBatchedColumns, convBatchedBytes)
            if let blasThreadTimeout { BLAS.setThreadTimeout(exponent: blasThreadTimeout) }
            Gemm.setSplitAcrossThreads(splitGemm)
            try chooseGemm(gemm)
            (Gemm.splitMinMNK, Gemm.manyBlocksMNK, Gemm.maxBlocks) = (gemmSplitMin, gemmManyBlocks, max(1, gemmMaxBlocks))
            Gemm.packedBlocksPerThread = max(1, gemmPackedBlocks)
            let cfg = try ModelConfig.load(config)
            let model = try weights == nil ? Segmentor(config: cfg, seed: 0) : RandomInit.skipping { try Segmentor(config: cfg, seed: 0) }
            if let weights { try Checkpoint.load(into: model, from: weights) }
            if let pretrained { try Checkpoint.initializeBackbone(model.backbone, name: cfg.backbone, pretrained: pretrained) }
            guard only == nil || ["train", "inference"].contains(only!) else {
                throw UserError("--only \(only!)", "unknown phase", fix: "use train or inference")
            }
            // The host's state just before the timed steps and just after them, so that the two probes
            // bracket the steps and not the model's construction.
            let before = hostProbeMs > 0 ? HostProbe.measure(milliseconds: hostProbeMs) : nil
            let result = ModelBenchRunner(model: model, batch: batch, crop: crop, runs: runs, only: only).measure()
            let after = hostProbeMs > 0 ? HostProbe.measure(milliseconds: hostProbeMs) : nil
            var out: [String: Any] = ["model": URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent,
                                      "backbone": cfg.backbone, "batch": batch, "crop": crop, "threads": threads, "split_gemm": splitGemm,
                                      "winograd4_training": winograd4Training]
            out.merge(result) { a, _ in a }
            if let before { out.merge(before.fields(prefix: "host_before_")) { a, _ in a } }
            if let after { out.merge(after.fields(prefix: "host_after_")) { a, _ in a } }
            if json {
                let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(out.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
        }
    }
}

struct ModelBenchRunner {
    let model: Segmentor, batch: Int, crop: Int, runs: Int
    var only: String? = nil

    func input() -> (Tensor, (Int, Int)) {
        switch model.domain {
        case .rgb: return (Tensor.normal([batch, 3, crop, crop], seed: 1), (crop, crop))
        case .dct:
            let s = (crop + 3) / 4
            return (Tensor.normal([batch, Segmentor.dctChannels, s, s], seed: 1), (crop, crop))
        }
    }

    func measure() -> [String: Any] {
        let (x, size) = input()
        let labels = LabelMap(shape: [batch, crop, crop])
        for i in 0..<labels.count { labels[i] = UInt8(truncatingIfNeeded: Random.bits(seed: 2, counter: UInt64(i)) % UInt64(model.nclass)) }
        let groups = model.parameterGroups()
        let sgd = SGD([ParamGroup(groups.backbone, lr: 0.002), ParamGroup(groups.head, lr: 0.02)], momentum: 0.9, weightDecay: 1e-4)

        model.train()
        var phases: [[Double]] = [[], [], []]                          // forward + loss, backward, SGD
        func step() {
            sgd.zeroGrad()
            var loss: Variable!
            let f = timeMs { loss = crossEntropy(model(Variable(x), outputSize: size, seed: 3), labels) }
            let b = timeMs { backward(loss) }
            let o = timeMs { sgd.step() }
            phases[0].append(f); phases[1].append(b); phases[2].append(o)
        }
        var train: [Double] = [0]
        if only != "inference" {
            step()                                                     // warm-up: pools, momentum buffers
            phases = [[], [], []]
            train = []
            for _ in 0..<runs { train.append(timeMs(step)) }
        } else {
            phases = [[0], [0], [0]]
        }

        model.eval()
        let infer: () -> Void = { _ = withNoGrad { self.model(Variable(x), outputSize: size) } }
        var inference: [Double] = [0]
        if only != "train" {
            infer()
            inference = []
            for _ in 0..<runs { inference.append(timeMs(infer)) }
        }
        let flops = FlopCounter.count { _ = model(Variable(x), outputSize: size) }

        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return ["ms_train_step": median(train), "ms_inference": median(inference),
                "gflop_per_step": 3 * flops / 1e9, "peak_rss_mb": Double(usage.ru_maxrss) / 1024,
                "ms_forward": median(phases[0]), "ms_backward": median(phases[1]), "ms_sgd": median(phases[2]),
                "ms_train_step_all": train, "ms_train_step_min": train.min()!, "ms_inference_all": inference,
                "ms_inference_min": inference.min()!, "gemm_engine": Gemm.engine]
    }

    func timeMs(_ body: () -> Void) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }

    func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
}
