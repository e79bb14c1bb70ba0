// Atomic file writes (DESIGN.md section 6): temp file in the same directory, fsync, rename,
// fsync the directory. A reader never sees a half-written file under its final name.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    public static func write(_ data: some Collection<UInt8>, to path: String) throws {
        try write(to: path) { fd in
            let bytes = Array(data)
            try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Creates a temp file next to `path`, lets `body` write to its descriptor, then fsyncs and
    /// renames it into place. On any error the temp file is removed and `path` is untouched.
    public static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        let dir = directory(of: path)
        let name = (path as NSString).lastPathComponent
        var template = Array("\(dir)/.\(name).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw UserError(path, "cannot create a temporary file in \(dir) (\(errnoText()))",
                            fix: "check that the directory exists and is writable")
        }
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            try body(fd)
            guard fsync(fd) == 0 else {
                throw UserError(path, "fsync failed (\(errnoText()))", fix: "check the disk")
            }
        } catch {
            close(fd)
            throw error
        }
        fchmod(fd, 0o644)
        close(fd)
        guard rename(tmp, path) == 0 else {
            throw UserError(path, "cannot rename the temporary file into place (\(errnoText()))",
                            fix: "check permissions of \(dir)")
        }
        ok = true
        syncDirectory(dir)
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw UserError(path, "write failed (\(errnoText()))", fix: "check free disk space")
            }
            offset += n
        }
    }

    public static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    public static func directory(of path: String) -> String {
        let d = (path as NSString).deletingLastPathComponent
        return d.isEmpty ? "." : d
    }
}

public func errnoText() -> String { String(cString: strerror(errno)) }

/// Reads a whole file, with a user-facing error naming it.
public func readFileBytes(_ path: String, what: String = "file") throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            throw UserError(path, isDir.boolValue ? "is a directory, expected a \(what)" : "cannot read \(what)",
                            fix: "check the path and its permissions")
        }
        throw UserError(path, "\(what) not found", fix: "check the path (and the dataset root)")
    }
    return [UInt8](data)
}

/// Creates a directory (and parents) or throws a user-facing error.
public func makeDirectory(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw UserError(path, "cannot create directory (\(error.localizedDescription))",
                        fix: "check the path and permissions")
    }
}
