import XCTest
import Foundation
import Tensor

/// The host probe behind `dcot-bench host` and the host_* fields of `dcot-bench model`.
final class HostProbeTests: XCTestCase {
    /// CPUs the calling thread may run on (the probe needs two), from /proc/thread-self/status
    /// ("Cpus_allowed_list: 0-1" or "0,2-3").
    private var allowedCPUs: Int {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return 1 }
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces).split(separator: ",").reduce(0) {
            let ends = $1.split(separator: "-").compactMap { Int($0) }
            return $0 + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
    }

    func testProbeMeasuresRoundTripsBetweenTwoCPUs() throws {
        guard let p = HostProbe.measure(milliseconds: 20) else {
            XCTAssertEqual(allowedCPUs, 1, "the probe gave up although this process may use \(allowedCPUs) CPUs")
            return
        }
        XCTAssertGreaterThan(p.trips, 0)
        XCTAssertTrue(p.p50Ns > 0 && p.p50Ns <= p.p90Ns && p.p90Ns <= p.p99Ns && p.p99Ns <= p.maxNs, "\(p)")
        // The budget is spent, unless the record filled first (2^20 trips: under 19 ns each).
        XCTAssertTrue(p.elapsedNs >= 20_000_000 || p.trips == 1 << 20, "\(p)")
        XCTAssertLessThan(p.elapsedNs, 20_000_000 + p.maxNs + 1_000_000, "the probe overran its budget: \(p)")
        XCTAssertTrue(p.stalls <= p.trips && p.stalledNs <= p.elapsedNs, "\(p)")
        XCTAssertTrue(["fast", "slow"].contains(p.state))
        let again = try XCTUnwrap(HostProbe.measure(milliseconds: 5))
        XCTAssertGreaterThan(again.trips, 0)
    }

    func testCallerKeepsItsCPUs() throws {
        let before = allowedCPUs
        _ = HostProbe.measure(milliseconds: 5)
        XCTAssertEqual(allowedCPUs, before)
    }

    func testStateFollowsTheThresholds() {
        func probe(p50: Int, stalledPercent: Double) -> HostProbe {
            HostProbe(trips: 1000, elapsedNs: 100_000_000, p50Ns: p50, p90Ns: p50, p99Ns: p50, maxNs: p50,
                      stalls: 10, stalledNs: Int(stalledPercent * 1_000_000))
        }
        XCTAssertEqual(probe(p50: 90, stalledPercent: 1).state, "fast")
        XCTAssertEqual(probe(p50: 150, stalledPercent: 5).state, "fast")
        XCTAssertEqual(probe(p50: 151, stalledPercent: 0).state, "slow")
        XCTAssertEqual(probe(p50: 390, stalledPercent: 1).state, "slow")
        XCTAssertEqual(probe(p50: 90, stalledPercent: 12).state, "slow")
        let f = probe(p50: 390, stalledPercent: 12.34).fields(prefix: "host_after_")
        XCTAssertEqual(f["host_after_state"] as? String, "slow")
        XCTAssertEqual(f["host_after_round_trip_ns_p50"] as? Int, 390)
        XCTAssertEqual(f["host_after_stalled_pct"] as? Double, 12.3)
    }
}
