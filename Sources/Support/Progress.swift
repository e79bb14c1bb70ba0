// Progress reporting: a `\r`-rewritten bar with count, rate and ETA on a terminal; periodic plain
// log lines otherwise (CI logs, make output).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class Progress: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let start = Date()
    private var done = 0
    private var lastPrint = Date.distantPast
    private let lock = NSLock()
    private let isTerminal: Bool
    private let quiet: Bool

    public init(total: Int, label: String, quiet: Bool = false) {
        self.total = total
        self.label = label
        self.isTerminal = isatty(fileno(stderr)) != 0
        self.quiet = quiet
    }

    public func advance(by n: Int = 1) {
        lock.lock()
        defer { lock.unlock() }
        done += n
        let now = Date()
        let interval: TimeInterval = isTerminal ? 0.1 : 10
        if done == total || now.timeIntervalSince(lastPrint) >= interval {
            lastPrint = now
            render(now)
        }
    }

    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        if isTerminal && !quiet { printError("") }
    }

    public var elapsed: TimeInterval { Date().timeIntervalSince(start) }

    private func render(_ now: Date) {
        guard !quiet else { return }
        let secs = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(done) / secs
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let stats = "\(done)/\(total) \(String(format: "%.1f", rate))/s ETA \(formatDuration(eta))"
        if isTerminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            _ = "\r\(label) [\(bar)] \(stats)  ".withCString { fputs($0, stderr) }
            fflush(stderr)
        } else {
            printError("\(label): \(stats)")
        }
    }
}

public func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
