// Parallel loops over a fixed thread count. Chunk boundaries depend only on (n, threads), and
// reductions use `blocks`, whose partition is independent of the thread count.
import Foundation
import COpenBLAS

public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Sets our thread count and OpenBLAS's (used for the single large GEMMs).
    public static func setThreads(_ n: Int) {
        _ = BLAS.configured
        threads = max(1, n)
        openblas_set_num_threads(Gemm.splitAcrossThreads ? 1 : Int32(clamping: threads))
    }

    /// Calls body on `threads` contiguous sub-ranges of 0..<n (serially when n < 2*grain).
    /// Only for maps whose per-index result does not depend on the range boundaries.
    @inlinable
    public static func `for`(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = min(threads, max(1, n / max(grain, 1)))
        if t <= 1 { if n > 0 { body(0..<n) }; return }
        withoutActuallyEscaping(body) { f in
            nonisolated(unsafe) let g = f
            DispatchQueue.concurrentPerform(iterations: t) { k in
                g((k * n / t)..<((k + 1) * n / t))
            }
        }
    }

    /// Calls body(i) for i in 0..<count; block i runs on worker i % threads. Use with per-block
    /// partial results reduced in block order: the outcome is independent of the thread count.
    @inlinable
    public static func blocks(_ count: Int, _ body: (Int) -> Void) {
        let t = min(threads, count)
        if t <= 1 { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { f in
            nonisolated(unsafe) let g = f
            DispatchQueue.concurrentPerform(iterations: t) { k in
                var i = k
                while i < count { g(i); i += t }
            }
        }
    }
}
