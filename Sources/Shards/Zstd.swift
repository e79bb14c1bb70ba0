// zstd frames: one-shot compression with content size and checksum, frame-size discovery.
import CZstd

public enum Zstd {
    /// Compresses `src` into one frame (content size recorded, xxhash checksum on).
    public static func compress(_ src: UnsafeRawBufferPointer, level: Int32, context: OpaquePointer? = nil) -> [UInt8] {
        let cctx = context ?? ZSTD_createCCtx()!
        defer { if context == nil { ZSTD_freeCCtx(cctx) } }
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        let bound = ZSTD_compressBound(src.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { ZSTD_compress2(cctx, $0.baseAddress, bound, src.baseAddress, src.count) }
        precondition(ZSTD_isError(n) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))")
        out.removeSubrange(n...)
        return out
    }

    /// Compresses several buffers, in order, into one frame (no concatenated copy).
    public static func compress(pieces: [UnsafeRawBufferPointer], level: Int32, context: OpaquePointer? = nil) -> [UInt8] {
        let cctx = context ?? ZSTD_createCCtx()!
        defer { if context == nil { ZSTD_freeCCtx(cctx) } }
        let total = pieces.reduce(0) { $0 + $1.count }
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setPledgedSrcSize(cctx, UInt64(total))
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(total) + 64)
        let written = out.withUnsafeMutableBytes { dst -> Int in
            var output = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
            for (i, piece) in pieces.enumerated() {
                var input = ZSTD_inBuffer(src: piece.baseAddress, size: piece.count, pos: 0)
                let last = i == pieces.count - 1
                while true {
                    let r = ZSTD_compressStream2(cctx, &output, &input, last ? ZSTD_e_end : ZSTD_e_continue)
                    precondition(ZSTD_isError(r) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(r)))")
                    if last ? r == 0 : input.pos == input.size { break }
                }
            }
            if pieces.isEmpty {
                var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
                while ZSTD_compressStream2(cctx, &output, &input, ZSTD_e_end) != 0 {}
            }
            return output.pos
        }
        out.removeSubrange(written...)
        return out
    }

    public static func compress(_ src: [UInt8], level: Int32) -> [UInt8] {
        src.withUnsafeBytes { compress($0, level: level) }
    }

    /// Decompresses exactly one frame whose content size is recorded and at most `maxSize` bytes
    /// (a forged size must not allocate the machine's memory away).
    public static func decompressFrame(_ src: UnsafeRawBufferPointer, maxSize: Int = 1 << 40) throws -> [UInt8] {
        let size = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN else {
            throw ShardError.corrupt("not a zstd frame with a recorded size")
        }
        guard size <= UInt64(max(0, min(maxSize, 1 << 40))) else {
            throw ShardError.corrupt("the frame says it holds \(size) bytes, more than the \(maxSize) expected")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, $0.count, src.baseAddress, src.count) }
        guard ZSTD_isError(n) == 0, n == Int(size) else {
            throw ShardError.corrupt("zstd: \(ZSTD_isError(n) != 0 ? String(cString: ZSTD_getErrorName(n)) : "size mismatch")")
        }
        return out
    }

    /// Compressed size of the frame starting at `src`.
    public static func frameSize(_ src: UnsafeRawBufferPointer) throws -> Int {
        let n = ZSTD_findFrameCompressedSize(src.baseAddress, src.count)
        guard ZSTD_isError(n) == 0 else { throw ShardError.corrupt("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        return n
    }

    /// A reusable compression context (one per worker thread).
    public final class Context: @unchecked Sendable {
        public let pointer: OpaquePointer
        public init() { pointer = ZSTD_createCCtx()! }
        deinit { ZSTD_freeCCtx(pointer) }
    }
}

public enum ShardError: Error, CustomStringConvertible {
    case corrupt(String)
    public var description: String {
        switch self {
        case .corrupt(let m): return m
        }
    }
}
