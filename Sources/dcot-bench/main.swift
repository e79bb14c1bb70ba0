// dcot-bench: benchmarks printed as JSON lines (one object per measurement).
import ArgumentParser
import Support
import Tensor

struct DcotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-bench",
        abstract: "Measure dcot's kernels and stages; Scripts/bench puts them next to PyTorch/OpenCV.",
        subcommands: [IOBench.self, OpsBench.self, ModelBench.self, HostBench.self])
}

/// --gemm: `native` (dcot's AVX-512 GEMM) or `openblas`; nil keeps what DCOT_GEMM or the machine chose.
func chooseGemm(_ choice: String?) throws {
    switch choice {
    case nil: return
    case "openblas": Gemm.setNative(false)
    case "native":
        guard VectorISA.supported >= 2 else {
            throw UserError("--gemm native", "this CPU has no AVX-512", fix: "use --gemm openblas or leave --gemm out")
        }
        Gemm.setNative(true)
    default: throw UserError("--gemm \(choice!)", "unknown GEMM", fix: "use native or openblas")
    }
}

DcotBench.main()
