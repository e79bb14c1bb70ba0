// `dcot-bench host`: how two threads of this process run side by side right now (Tensor.HostProbe),
// the state every 2-thread number of the other subcommands depends on.
import ArgumentParser
import Foundation
import Support
import Tensor

struct HostBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Core-to-core round trips between two threads: the host's state for 2-thread timings.")

    @Option(help: "How long to pass the cache line back and forth, in milliseconds.")
    var ms: Double = 100
    @Option(help: "A round trip longer than this many microseconds counts as a stall (a descheduled thread).")
    var stallUs: Double = 10
    @Flag(help: "One JSON object.")
    var json = false

    func run() throws {
        runReportingErrors {
            guard ms > 0, ms <= 60_000 else { throw UserError("--ms \(ms)", "must be in (0, 60000]", fix: "e.g. --ms 100") }
            guard stallUs > 0 else { throw UserError("--stall-us \(stallUs)", "must be positive", fix: "e.g. --stall-us 10") }
            guard let probe = HostProbe.measure(milliseconds: ms, stallMicroseconds: stallUs) else {
                throw UserError("dcot-bench host", "this process may run on one CPU only: there is no second core to probe",
                                fix: "run it with at least 2 CPUs (no taskset/cgroup limit of one)")
            }
            var out = probe.fields(prefix: "host_")
            out["cpus_online"] = ProcessInfo.processInfo.activeProcessorCount
            out["stall_us"] = stallUs
            if json {
                let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(String(format: "host: %@ (core-to-core round trip p50 %d ns, p90 %d, p99 %d, max %.1f us; %d trips in %.0f ms, %d over %.0f us = %.1f %% of the time)",
                             probe.state, probe.p50Ns, probe.p90Ns, probe.p99Ns, Double(probe.maxNs) / 1000, probe.trips,
                             Double(probe.elapsedNs) / 1e6, probe.stalls, stallUs, probe.stalledFraction * 100))
            }
        }
    }
}
