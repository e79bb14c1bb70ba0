// dcot-bench: benchmarks printed as JSON lines (one object per measurement).
import ArgumentParser

struct DcotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-bench",
        abstract: "Measure dcot's kernels and stages; Scripts/bench puts them next to PyTorch/OpenCV.",
        subcommands: [IOBench.self, OpsBench.self, ModelBench.self])
}

DcotBench.main()
