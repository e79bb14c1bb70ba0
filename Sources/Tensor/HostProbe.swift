// How two threads of this process run side by side right now (CNative's host_probe.c): the number
// every 2-thread timing depends on. On the 2-vCPU test machines the host switches, minutes at a time,
// between two states: a cache line crosses between the vCPUs in ~40 ns, or in ~400 ns; and at times
// one vCPU is descheduled for milliseconds while the other waits (README "Benchmarks").
import CNative

public struct HostProbe: Equatable, Sendable {
    public var trips: Int
    public var elapsedNs: Int
    public var p50Ns: Int, p90Ns: Int, p99Ns: Int, maxNs: Int
    /// Round trips longer than the stall threshold, and their total time.
    public var stalls: Int, stalledNs: Int

    /// A round trip above this median, or this share of the time in stalls, is the slow state.
    public static let slowMedianNs = 150
    public static let slowStalledFraction = 0.05

    public init(trips: Int, elapsedNs: Int, p50Ns: Int, p90Ns: Int, p99Ns: Int, maxNs: Int, stalls: Int, stalledNs: Int) {
        (self.trips, self.elapsedNs, self.p50Ns, self.p90Ns, self.p99Ns, self.maxNs) = (trips, elapsedNs, p50Ns, p90Ns, p99Ns, maxNs)
        (self.stalls, self.stalledNs) = (stalls, stalledNs)
    }

    /// Share of the probe's time spent in stalled round trips.
    public var stalledFraction: Double { elapsedNs > 0 ? Double(stalledNs) / Double(elapsedNs) : 0 }

    /// "fast" or "slow" by the thresholds above.
    public var state: String { p50Ns > Self.slowMedianNs || stalledFraction > Self.slowStalledFraction ? "slow" : "fast" }

    /// Passes a cache line between this thread and a new one for `milliseconds`; a trip longer than
    /// `stallMicroseconds` counts as a stall. nil when this process may run on one CPU only.
    public static func measure(milliseconds: Double = 100, stallMicroseconds: Double = 10) -> HostProbe? {
        precondition(milliseconds > 0 && stallMicroseconds > 0, "HostProbe.measure: durations must be positive")
        var r = cn_core_pair_probe()
        let rc = cn_probe_core_pair(Int(milliseconds * 1e6), Int(stallMicroseconds * 1e3), &r)
        if rc == CN_E_UNSUPPORTED { return nil }
        precondition(rc == CN_OK, "cn_probe_core_pair failed with code \(rc)")
        return HostProbe(trips: r.trips, elapsedNs: r.elapsed_ns, p50Ns: r.p50_ns, p90Ns: r.p90_ns, p99Ns: r.p99_ns,
                         maxNs: r.max_ns, stalls: r.stalls, stalledNs: r.stalled_ns)
    }

    /// JSON fields, each name prefixed (e.g. "host_" or "host_after_").
    public func fields(prefix: String) -> [String: Any] {
        [prefix + "state": state, prefix + "round_trip_ns_p50": p50Ns, prefix + "round_trip_ns_p90": p90Ns,
         prefix + "round_trip_ns_p99": p99Ns, prefix + "round_trip_ns_max": maxNs, prefix + "trips": trips,
         prefix + "stalls": stalls, prefix + "stalled_pct": (stalledFraction * 1000).rounded() / 10]
    }
}
