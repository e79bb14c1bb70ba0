// PNG read/write through the CNative shim (libpng's longjmp stays in C). Label PNGs are read as raw
// palette indices (VOC: index = class, 255 = ignore) or 8-bit grey values (Cityscapes ids).
import CNative

public struct PNGImage: Sendable {
    public enum Kind: Sendable { case palette, gray, rgb, rgba, grayAlpha }
    public var width: Int
    public var height: Int
    public var kind: Kind
    public var bitDepth: Int
    /// Bytes per pixel in `pixels` (1 for palette/grey, 3 RGB, 4 RGBA).
    public var channels: Int
    public var pixels: [UInt8]
    /// RGB triples of the palette (palette images only).
    public var palette: [UInt8]
}

public enum PNG {
    public static func read(_ data: [UInt8]) throws -> PNGImage {
        var info = cn_png_info()
        var err = [CChar](repeating: 0, count: 256)
        var rc = data.withUnsafeBufferPointer { cn_png_read($0.baseAddress, $0.count, nil, 0, &info, &err, err.count) }
        try check(rc, err)
        let n = Int(info.width) * Int(info.height) * Int(info.channels)
        var pixels = [UInt8](repeating: 0, count: n)
        rc = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                cn_png_read(src.baseAddress, src.count, dst.baseAddress, n, &info, &err, err.count)
            }
        }
        try check(rc, err)
        let kind: PNGImage.Kind
        switch Int(info.kind) {
        case Int(CN_PNG_PALETTE): kind = .palette
        case Int(CN_PNG_GRAY): kind = .gray
        case Int(CN_PNG_RGB): kind = .rgb
        case Int(CN_PNG_RGBA): kind = .rgba
        default: kind = .grayAlpha
        }
        let palette = withUnsafeBytes(of: info.palette) { Array($0.prefix(Int(info.num_palette) * 3)) }
        return PNGImage(width: Int(info.width), height: Int(info.height), kind: kind, bitDepth: Int(info.bit_depth),
                        channels: Int(info.channels), pixels: pixels, palette: palette)
    }

    /// 8-bit palette PNG of class indices with the given palette (default: the VOC colour map).
    public static func writePalette(_ label: LabelImage, palette: [UInt8] = VOCPalette.rgb, level: Int32 = 6) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var len = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = label.labels.withUnsafeBufferPointer { idx in
            palette.withUnsafeBufferPointer { pal in
                cn_png_write_palette(idx.baseAddress, UInt32(label.width), UInt32(label.height), pal.baseAddress,
                                     Int32(palette.count / 3), level, &out, &len, &err, err.count)
            }
        }
        return try collect(rc, out, len, err)
    }

    /// 8-bit greyscale (channels 1) or RGB (channels 3) PNG.
    public static func write(pixels: [UInt8], width: Int, height: Int, channels: Int, level: Int32 = 6) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var len = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = pixels.withUnsafeBufferPointer {
            cn_png_write($0.baseAddress, UInt32(width), UInt32(height), Int32(channels), level, &out, &len, &err, err.count)
        }
        return try collect(rc, out, len, err)
    }

    private static func collect(_ rc: Int32, _ out: UnsafeMutablePointer<UInt8>?, _ len: Int, _ err: [CChar]) throws -> [UInt8] {
        defer { if out != nil { cn_free(out) } }
        try check(rc, err)
        return Array(UnsafeBufferPointer(start: out, count: len))
    }

    private static func check(_ rc: Int32, _ err: [CChar]) throws {
        guard rc != Int32(CN_OK) else { return }
        let msg = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if rc == Int32(CN_E_UNSUPPORTED) { throw CodecError(.unsupported, msg) }
        throw CodecError(.corrupt, msg.isEmpty ? "corrupt PNG" : "corrupt PNG (\(msg))")
    }
}

/// How a label PNG's pixels become class indices.
public enum LabelDecoding: Sendable {
    /// Palette indices or 8-bit grey values as stored (VOC, Cityscapes trainIds).
    case indices
    /// As `indices`, but RGB(A) masks are mapped colour → index through a palette (255 for unknown colours).
    case mapColours(palette: [UInt8])
}

public enum LabelPNG {
    /// Reads a label map. RGB masks are an error unless `.mapColours` is requested.
    public static func read(_ data: [UInt8], decoding: LabelDecoding = .indices) throws -> LabelImage {
        let png = try PNG.read(data)
        switch png.kind {
        case .palette, .gray, .grayAlpha:
            return LabelImage(width: png.width, height: png.height, labels: png.pixels)
        case .rgb, .rgba:
            guard case .mapColours(let palette) = decoding else {
                throw CodecError(.notIndexed, "is an RGB colour mask, not a palette/greyscale label PNG")
            }
            return mapColours(png, palette: palette)
        }
    }

    static func mapColours(_ png: PNGImage, palette: [UInt8]) -> LabelImage {
        var lookup = [UInt32: UInt8]()
        for i in stride(from: palette.count / 3 - 1, through: 0, by: -1) {
            let key = UInt32(palette[3 * i]) << 16 | UInt32(palette[3 * i + 1]) << 8 | UInt32(palette[3 * i + 2])
            lookup[key] = UInt8(i)
        }
        let n = png.width * png.height
        var labels = [UInt8](repeating: 255, count: n)
        let c = png.channels
        for p in 0..<n {
            let key = UInt32(png.pixels[p * c]) << 16 | UInt32(png.pixels[p * c + 1]) << 8 | UInt32(png.pixels[p * c + 2])
            labels[p] = lookup[key] ?? 255
        }
        return LabelImage(width: png.width, height: png.height, labels: labels)
    }
}

/// The Pascal VOC colour map (256 entries): bits of the index spread over R, G, B from the top bit down.
public enum VOCPalette {
    public static let rgb: [UInt8] = {
        var out = [UInt8](repeating: 0, count: 256 * 3)
        for i in 0..<256 {
            var r = 0, g = 0, b = 0, c = i
            for j in 0..<8 {
                r |= ((c >> 0) & 1) << (7 - j)
                g |= ((c >> 1) & 1) << (7 - j)
                b |= ((c >> 2) & 1) << (7 - j)
                c >>= 3
            }
            out[3 * i] = UInt8(r)
            out[3 * i + 1] = UInt8(g)
            out[3 * i + 2] = UInt8(b)
        }
        return out
    }()
}
