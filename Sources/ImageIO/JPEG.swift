// JPEG decode/encode through TurboJPEG (2.x API). A handle is not thread-safe: one codec per worker.
import CTurboJPEG

public final class JPEGCodec: @unchecked Sendable {
    private let decoder: tjhandle
    private let encoder: tjhandle

    public init() {
        guard let d = tjInitDecompress(), let e = tjInitCompress() else {
            fatalError("TurboJPEG could not allocate a codec handle")
        }
        decoder = d
        encoder = e
    }

    deinit {
        tjDestroy(decoder)
        tjDestroy(encoder)
    }

    /// Chroma subsampling of an encoded JPEG.
    public enum Subsampling: Sendable {
        case s444, s422, s420, gray
        var tj: Int32 {
            switch self {
            case .s444: return Int32(TJSAMP_444.rawValue)
            case .s422: return Int32(TJSAMP_422.rawValue)
            case .s420: return Int32(TJSAMP_420.rawValue)
            case .gray: return Int32(TJSAMP_GRAY.rawValue)
            }
        }
    }

    /// Header facts without decoding.
    public func header(_ data: [UInt8]) throws -> (width: Int, height: Int, colorspace: Int32) {
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, cs: Int32 = 0
        let rc = data.withUnsafeBufferPointer {
            tjDecompressHeader3(decoder, $0.baseAddress, UInt($0.count), &w, &h, &sub, &cs)
        }
        // A truncated header can return 0 without setting the size: check it.
        guard rc == 0, w > 0, h > 0 else { throw CodecError(.corrupt, "not a valid JPEG (\(errorText(decoder, rc)))") }
        return (Int(w), Int(h), cs)
    }

    /// Decodes to RGB; greyscale becomes three equal channels. CMYK/YCCK are rejected, and so is
    /// corrupt-but-decodable data (TurboJPEG's warnings), since a grey-filled image is a silent error.
    public func decode(_ data: [UInt8]) throws -> RGBImage {
        let (w, h, cs) = try header(data)
        if cs == Int32(TJCS_CMYK.rawValue) || cs == Int32(TJCS_YCCK.rawValue) {
            throw CodecError(.unsupported, "CMYK JPEG is not supported")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let rc = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(decoder, src.baseAddress, UInt(src.count), dst.baseAddress, Int32(w), 0, Int32(h),
                              Int32(TJPF_RGB.rawValue), 0)
            }
        }
        if rc != 0 {
            let fatal = tjGetErrorCode(decoder) != Int32(TJERR_WARNING.rawValue)
            let what = fatal ? "corrupt JPEG" : "corrupt or truncated JPEG"
            throw CodecError(.corrupt, "\(what) (\(errorText(decoder, rc)))")
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// Encodes RGB pixels (accurate integer DCT, TurboJPEG default flags).
    public func encode(_ image: RGBImage, quality: Int, subsampling: Subsampling = .s420) throws -> [UInt8] {
        try encode(pixels: image.pixels, width: image.width, height: image.height, channels: 3,
                   quality: quality, subsampling: subsampling)
    }

    /// Encodes 1-channel (grey), 3-channel (RGB) or 4-channel (CMYK) pixels.
    public func encode(pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int,
                       subsampling: Subsampling) throws -> [UInt8] {
        precondition(pixels.count == width * height * channels)
        let format = channels == 1 ? Int32(TJPF_GRAY.rawValue)
            : channels == 4 ? Int32(TJPF_CMYK.rawValue) : Int32(TJPF_RGB.rawValue)
        let sub = channels == 1 ? JPEGCodec.Subsampling.gray.tj : subsampling.tj
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = pixels.withUnsafeBufferPointer {
            tjCompress2(encoder, $0.baseAddress, Int32(width), 0, Int32(height), format, &out, &size, sub,
                        Int32(quality), 0)
        }
        defer { if out != nil { tjFree(out) } }
        guard rc == 0, let out else { throw CodecError(.corrupt, "JPEG encode failed (\(errorText(encoder, rc)))") }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    /// Progressive encoding (for tests of coefficient extraction).
    public func encodeProgressive(_ image: RGBImage, quality: Int) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = image.pixels.withUnsafeBufferPointer {
            tjCompress2(encoder, $0.baseAddress, Int32(image.width), 0, Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &out, &size, Int32(TJSAMP_420.rawValue), Int32(quality),
                        TJFLAG_PROGRESSIVE)
        }
        defer { if out != nil { tjFree(out) } }
        guard rc == 0, let out else { throw CodecError(.corrupt, "JPEG encode failed (\(errorText(encoder, rc)))") }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }
}

private func errorText(_ handle: tjhandle, _ rc: Int32) -> String {
    guard let s = tjGetErrorStr2(handle) else { return "code \(rc)" }
    return String(cString: s)
}

/// True when the bytes start like a JPEG (SOI marker).
public func looksLikeJPEG(_ data: [UInt8]) -> Bool { data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 }
/// True when the bytes start with the PNG signature.
public func looksLikePNG(_ data: [UInt8]) -> Bool {
    data.count >= 8 && data[0] == 0x89 && data[1] == 0x50 && data[2] == 0x4E && data[3] == 0x47
}
