// Parallel loops over a fixed thread count. Chunk boundaries depend only on (n, threads), and
// reductions use `blocks`, whose partition is independent of the thread count. The loops run on
// CNative's spinning thread pool (the caller plus threads - 1 workers); OpenBLAS runs one thread
// and Gemm splits large products over the same pool, so exactly `threads` threads compute.
import Foundation
import COpenBLAS
import CNative

public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Sets our thread count: the pool's workers (OpenBLAS runs one thread), or with
    /// Gemm.splitAcrossThreads off, OpenBLAS's threads and Dispatch for our loops.
    public static func setThreads(_ n: Int) {
        _ = BLAS.configured
        threads = max(1, n)
        _ = poolStarted
        cn_pool_set_threads(Int32(clamping: Gemm.splitAcrossThreads ? threads : 1))
        openblas_set_num_threads(Gemm.splitAcrossThreads ? 1 : Int32(clamping: threads))
    }

    /// The pool's workers for the default thread count, made on first use.
    @usableFromInline
    static let poolStarted: Bool = {
        cn_pool_set_threads(Int32(clamping: Gemm.splitAcrossThreads ? threads : 1))
        return true
    }()

    /// body(k) for k in 0..<tasks on the pool (each k once: each thread its own contiguous range of
    /// k first, then what is left of the others').
    @usableFromInline
    static func run(_ tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        // Inside a pool task (a conv's per-thread samples, Conv.sampleTasks): the tasks run here, in
        // order, as cn_pool_run would run them, without asking whether the machine is crowded.
        if cn_pool_in_task() != 0 { for k in 0..<tasks { body(k) }; return }
        // A crowded machine (more runnable threads than cores): Dispatch's blocking workers, the
        // same tasks (cnn-dct train with three other busy processes: spinning pool 156-410 ms,
        // Dispatch 123 ms).
        if tasks == 1 || !Gemm.splitAcrossThreads || cn_pool_crowded() != 0 {
            if tasks == 1 { body(0); return }
            withoutActuallyEscaping(body) { f in
                nonisolated(unsafe) let g = f
                DispatchQueue.concurrentPerform(iterations: tasks) { g($0) }
            }
            return
        }
        onPool(tasks, body)
    }

    /// body(k) for k in 0..<tasks on the pool itself, whatever the machine's load (Parallel.run
    /// decides when to call it; tests call it directly).
    public static func onPool(_ tasks: Int, _ body: (Int) -> Void) {
        _ = poolStarted
        withoutActuallyEscaping(body) { f in
            var g = f
            withUnsafeMutablePointer(to: &g) { p in
                cn_pool_run(tasks, { ctx, k in ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(k) }, p)
            }
        }
    }

    /// Calls body on `threads` contiguous sub-ranges of 0..<n (serially when n < 2*grain).
    /// Only for maps whose per-index result does not depend on the range boundaries.
    @inlinable
    public static func `for`(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = min(threads, max(1, n / max(grain, 1)))
        if t <= 1 { if n > 0 { body(0..<n) }; return }
        run(t) { k in body((k * n / t)..<((k + 1) * n / t)) }
    }

    /// Calls body(i) for i in 0..<count, each block a pool task: each thread takes a contiguous run of
    /// blocks first (the run a contiguous `for` over the same rows gives it, so the blocks find the
    /// rows that thread wrote in its own cache), then what is left of the others'. Use with per-block
    /// partial results reduced in block order: the outcome is independent of the thread count.
    /// (Blocks dealt round-robin, as before 2026-12-07, read half their rows from the other core: the
    /// demo MiT's layer-norm backward took 2.05 samples per step there, 1.59 here, perf at 2 threads.)
    @inlinable
    public static func blocks(_ count: Int, _ body: (Int) -> Void) {
        if min(threads, count) <= 1 { for i in 0..<count { body(i) }; return }
        run(count, body)
    }
}
