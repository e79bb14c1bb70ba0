// Parallel work over independent items (files, images) on a fixed number of workers.
// Items are handed out in order; results are returned in input order.
import Foundation
import Dispatch

public enum ParallelWork {
    /// Cores available to this process.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Applies `body` to every index in 0..<count on `jobs` workers. The first error thrown stops
    /// new work and is rethrown (the one with the lowest index, so the message is deterministic).
    public static func map<T>(_ count: Int, jobs: Int, _ body: (Int) throws -> T) throws -> [T] {
        var results = [T?](repeating: nil, count: count)
        var firstError: (Int, Error)?
        let lock = NSLock()
        var next = 0
        let workers = max(1, min(jobs, count))
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            withoutActuallyEscaping(body) { body in
                nonisolated(unsafe) let body = body
                DispatchQueue.concurrentPerform(iterations: workers) { _ in
                    while true {
                        lock.lock()
                        if firstError != nil || next >= count { lock.unlock(); return }
                        let i = next
                        next += 1
                        lock.unlock()
                        do {
                            out[i] = try body(i)
                        } catch {
                            lock.lock()
                            if firstError == nil || firstError!.0 > i { firstError = (i, error) }
                            lock.unlock()
                        }
                    }
                }
            }
        }
        if let (_, error) = firstError { throw error }
        return results.map { $0! }
    }
}
