// An exclusive lock on a directory for the lifetime of a process: flock(2) on a lock file inside it,
// which holds the holder's pid and host. The kernel releases a flock when its holder dies (even by
// kill -9), so a crashed writer never leaves the directory locked; a second writer fails at once.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class DirectoryLock {
    /// The lock file.
    public let path: String
    private var descriptor: Int32

    /// Creates `directory` if needed and locks `directory/name`, or throws a UserError naming the
    /// process that holds it. `program` and `flag` go into the message ("another dcot-train", "--out").
    public init(directory: String, name: String, program: String, flag: String) throws {
        try makeDirectory(directory)
        path = "\(directory)/\(name)"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw UserError(path, "cannot create the lock file (\(errnoText()))", fix: "check that \(directory) is writable")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = errnoText()
            let holder = DirectoryLock.holder(descriptor)
            close(descriptor)
            descriptor = -1
            if busy {
                throw UserError(path, "\(directory) is in use by another \(program) (\(holder))",
                                fix: "wait for it to finish or stop it, or use another \(flag)")
            }
            // A file system without locks: run unprotected rather than not at all, and say so.
            printError("warning: \(path): cannot lock (\(reason)); make sure no other \(program) uses \(directory)")
            return
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let text = Array("pid \(getpid()) on \(String(cString: host))\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { release() }

    /// Gives the lock up (closing the descriptor releases the flock); idempotent.
    public func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    /// "pid N on HOST" as the holder wrote it (it may not have written it yet).
    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 300)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : ""
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.hasPrefix("pid ") ? line : "pid unknown"
    }
}
