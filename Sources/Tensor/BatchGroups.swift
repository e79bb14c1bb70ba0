// Which samples of a batch may share one GEMM. A GEMM over several samples' rows or columns can give
// a sample other bits than a GEMM over fewer (OpenBLAS picks kernels and blockings by size), while a
// data-parallel replica's rows must compute the same bits whichever process runs it
// (Autograd/Replicas.swift). So batched kernels multiply one group at a time, where a group is one
// local replica's rows: the whole batch in an ordinary one-replica run, and the same group shape under
// any number of processes.

public enum BatchGroups {
    /// Equal contiguous groups a batch is made of: the replicas this process runs (set by
    /// `Replicas.configure`). A batch whose size it does not divide is taken one sample at a time.
    nonisolated(unsafe) public static var count = 1

    /// Samples per group in a batch of n (1 when `count` does not divide n).
    public static func size(_ n: Int) -> Int { n % count == 0 ? n / count : 1 }

    /// Runs body on a tensor that is one group (one replica's rows), e.g. a per-replica gradient.
    public static func one<T>(_ body: () throws -> T) rethrows -> T {
        let saved = count
        count = 1
        defer { count = saved }
        return try body()
    }

    /// Consecutive sample ranges covering 0..<n, each inside one group and at most `limit` samples:
    /// the same ranges for a group's samples in any batch that holds `count` such groups.
    public static func ranges(_ n: Int, limit: Int = .max) -> [Range<Int>] {
        let group = size(n)
        let step = max(1, min(group, limit))
        var out = [Range<Int>]()
        out.reserveCapacity(n / step + count)
        var g0 = 0
        while g0 < n {
            var s = g0
            while s < g0 + group { out.append(s..<min(s + step, g0 + group)); s += step }
            g0 += group
        }
        return out
    }
}
