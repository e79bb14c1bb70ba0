// OpenBLAS core selection. Debian's DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model;
// on virtual CPUs reported as a generic "Intel Xeon Processor" it falls back to Prescott (SSE3),
// about 4x slower than the AVX2/AVX-512 kernels the CPU supports (measured here: 30 vs 112 GFLOP/s
// on 2 threads). Unless OPENBLAS_CORETYPE is set, we re-initialise it once with the core that the
// CPU flags support, through OpenBLAS's exported gotoblas_dynamic_quit/init.
import Foundation
import COpenBLAS

public enum BLAS {
    /// The OpenBLAS kernel family in use (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var coreName: String { _ = configured; return String(cString: openblas_get_corename()) }

    /// Runs once, before the first GEMM (Gemm.sgemm and Parallel.setThreads touch it).
    public static let configured: Bool = {
        let current = String(cString: openblas_get_corename()).lowercased()
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              ["prescott", "core2", "katmai", "coppermine", "northwood", "banias", "atom", "nehalem"].contains(current),
              let flags = cpuFlags() else { return false }
        let target = flags.contains("avx512f") && flags.contains("avx512bw") ? "SkylakeX"
            : flags.contains("avx2") && flags.contains("fma") ? "Haswell"
            : flags.contains("avx") ? "Sandybridge" : nil
        guard let target,
              let quit = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_quit"),
              let initialise = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init") else { return false }
        typealias Fn = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quit, to: Fn.self)()
        unsafeBitCast(initialise, to: Fn.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return true
    }()

    static func cpuFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return Set(line.split(separator: ":").last!.split(separator: " ").map(String.init))
    }
}
