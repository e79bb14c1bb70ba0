// SHA-256 checksums for manifests and checkpoints (the compression function is C, CNative/sha256.c).
import CNative

public struct SHA256 {
    private var ctx = cn_sha256_ctx()

    public init() { cn_sha256_init(&ctx) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        cn_sha256_update(&ctx, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Lower-case hex digest.
    public mutating func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { cn_sha256_final(&ctx, $0.baseAddress!) }
        return hexString(digest)
    }

    public static func hex(of bytes: [UInt8]) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    /// Whether the CPU's SHA extensions are used (else the portable C code).
    public static var isAccelerated: Bool { cn_sha256_accelerated() != 0 }

    /// Forces the portable implementation (tests compare it with the accelerated one).
    public static func forcePortable(_ on: Bool) { cn_sha256_force_portable(on ? 1 : 0) }

    public static func hex(ofFile path: String) throws -> String {
        var h = SHA256()
        try readFileChunks(path) { h.update($0) }
        return h.finalize()
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

#if canImport(Glibc)
import Glibc
#endif

/// Streams a file in 1 MiB chunks.
public func readFileChunks(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw UserError(path, "cannot open (\(errnoText()))", fix: "check the path") }
    defer { close(fd) }
    let size = 1 << 20
    let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    defer { buf.deallocate() }
    while true {
        let n = read(fd, buf, size)
        if n < 0 {
            if errno == EINTR { continue }
            throw UserError(path, "read failed (\(errnoText()))", fix: "check the file")
        }
        if n == 0 { break }
        try body(UnsafeRawBufferPointer(start: buf, count: n))
    }
}
