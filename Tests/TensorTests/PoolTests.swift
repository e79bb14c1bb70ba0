import XCTest
import Tensor

/// The thread pool behind Parallel.run (called through Parallel.onPool, which a crowded CI machine
/// does not route to Dispatch): every task runs exactly once, whatever the task count, thread count
/// and order in which the threads claim each other's ranges.
final class PoolTests: XCTestCase {
    func testEveryTaskRunsOnce() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        for threads in [2, 3, 4] {
            Parallel.setThreads(threads)
            for tasks in [2, 3, 5, 7, 16, 33, 100] {
                for round in 0..<50 {
                    let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
                    counts.initialize(repeating: 0, count: tasks)
                    defer { counts.deallocate() }
                    nonisolated(unsafe) let c = counts
                    Parallel.onPool(tasks) { k in
                        // Uneven tasks, so that threads finish early and claim from others' ranges.
                        if (k + round) % 3 == 0 { for _ in 0..<((k * 37) % 200) { _ = sin(Double(k)) } }
                        c[k] += 1
                    }
                    let bad = (0..<tasks).filter { counts[$0] != 1 }
                    XCTAssertEqual(bad, [], "threads \(threads), tasks \(tasks), round \(round)")
                    if !bad.isEmpty { return }
                }
            }
        }
    }

    func testNestedRunsInline() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        Parallel.setThreads(2)
        let cells = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 8)
        cells.initialize(repeating: 0, count: 32)
        defer { cells.deallocate() }
        nonisolated(unsafe) let c = cells
        Parallel.onPool(4) { i in
            Parallel.onPool(8) { j in c[i * 8 + j] += i * 8 + j + 1 }
        }
        XCTAssertEqual((0..<32).map { cells[$0] }, Array(1...32))
    }
}
