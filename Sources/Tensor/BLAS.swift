// OpenBLAS core selection. Debian's DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model;
// on virtual CPUs reported as a generic "Intel Xeon Processor" it falls back to Prescott (SSE3),
// about 4x slower than the AVX2/AVX-512 kernels the CPU supports (measured here: 30 vs 112 GFLOP/s
// on 2 threads). Unless OPENBLAS_CORETYPE is set, we re-initialise it once with the core that the
// CPU flags support, through OpenBLAS's exported gotoblas_dynamic_quit/init. setThreadTimeout
// controls how long OpenBLAS's threads spin between GEMMs.
import Foundation
import COpenBLAS

public enum BLAS {
    /// The OpenBLAS kernel family in use (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var coreName: String { _ = configured; return String(cString: openblas_get_corename()) }

    /// Runs once, before the first GEMM (Gemm.sgemm and Parallel.setThreads touch it). Also gives
    /// OpenBLAS the thread count that matches Gemm's mode, so a program that never calls
    /// Parallel.setThreads does not run threaded OpenBLAS calls inside the pool's blocks.
    public static let configured: Bool = {
        selectCore()
        openblas_set_num_threads(Gemm.splitAcrossThreads ? 1 : Int32(clamping: Parallel.threads))
        return true
    }()

    static func symbol<T>(_ name: String, as: T.Type) -> T? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: T.self) }
    }

    static func selectCore() {
        let current = String(cString: openblas_get_corename()).lowercased()
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              ["prescott", "core2", "katmai", "coppermine", "northwood", "banias", "atom", "nehalem"].contains(current),
              let flags = cpuFlags() else { return }
        let target = flags.contains("avx512f") && flags.contains("avx512bw") ? "SkylakeX"
            : flags.contains("avx2") && flags.contains("fma") ? "Haswell"
            : flags.contains("avx") ? "Sandybridge" : nil
        typealias Fn = @convention(c) () -> Void
        guard let target, let quit = symbol("gotoblas_dynamic_quit", as: Fn.self),
              let initialise = symbol("gotoblas_dynamic_init", as: Fn.self) else { return }
        setenv("OPENBLAS_CORETYPE", target, 1)
        quit()
        initialise()
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// OpenBLAS's worker threads busy-wait (with sched_yield) after every GEMM for 2^28 cycles by
    /// default: measured here, ~90 ms of CPU burnt in the 200 ms after one 2-thread sgemm. This
    /// restarts its thread server with 2^exponent cycles (4...30; 4 = sleep at once, 28 = OpenBLAS's
    /// default). Not changed by default: on this shared machine the short timeout made Winograd's
    /// 16 back-to-back GEMMs slower (each wake-up waits for a time slice), while the spinning costs
    /// our own loops the core only when they run right after a GEMM. Call with no GEMM in flight.
    public static func setThreadTimeout(exponent: Int) {
        _ = configured
        typealias Fn = @convention(c) () -> Void
        typealias IntFn = @convention(c) () -> Int32
        guard let readEnv = symbol("openblas_read_env", as: Fn.self),
              let shutdown = symbol("blas_thread_shutdown_", as: IntFn.self),
              let start = symbol("blas_thread_init", as: IntFn.self) else { return }
        let threads = openblas_get_num_threads()
        let previous = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"]
        setenv("OPENBLAS_THREAD_TIMEOUT", String(min(30, max(4, exponent))), 1)
        readEnv()
        _ = shutdown()
        _ = start()
        if let previous { setenv("OPENBLAS_THREAD_TIMEOUT", previous, 1) } else { unsetenv("OPENBLAS_THREAD_TIMEOUT") }
        openblas_set_num_threads(threads)
    }

    /// CPU time (ms) the process burns while its calling thread sleeps `ms` right after a GEMM on
    /// `Parallel.threads` threads: ~0 without spinning BLAS workers.
    public static func idleBurnAfterGemm(sleepMs: Int = 200) -> Double {
        let n = 384
        let a = Tensor(shape: [n, n], repeating: 1), c = Tensor(shape: [n, n])
        Gemm.sgemm(m: n, n: n, k: n, a: a.data, lda: n, b: a.data, ldb: n, c: c.data, ldc: n)
        func cpu() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3
        }
        let c0 = cpu()
        usleep(UInt32(sleepMs * 1000))
        return cpu() - c0
    }

    static func cpuFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return Set(line.split(separator: ":").last!.split(separator: " ").map(String.init))
    }
}
