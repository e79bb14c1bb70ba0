// A JPEG file's own DCT coefficients (libjpeg jpeg_read_coefficients via CNative), jpeg2dct-style:
// Y/Cb/Cr planes of blocks_h x blocks_w x 64 Int16, natural row-major coefficient order.
import CNative

public struct JPEGCoefficientPlanes: Sendable {
    public struct Plane: Sendable, Equatable {
        public let blocksHigh: Int
        public let blocksWide: Int
        /// blocksHigh x blocksWide x 64.
        public var values: [Int16]
        /// Quantisation table of this component, natural order.
        public let quant: [UInt16]
    }
    public var planes: [Plane]
    public let imageWidth: Int
    public let imageHeight: Int
    public let progressive: Bool
    /// libjpeg warnings (e.g. a truncated file: missing blocks are zero).
    public let warnings: Int
}

public enum JPEGCoefficients {
    /// Reads the coefficients exactly as stored (`dequantize: false`) or multiplied by the
    /// quantisation step (`true`, jpeg2dct's default). With `jpeg2dctCompatible`, colour files that
    /// are not 4:2:0 are decoded and re-encoded at quality 100, 4:2:0 first, and greyscale files get
    /// zero Cb/Cr planes of ((Yh+1)/2, (Yw+1)/2) blocks — what jpeg2dct returns.
    public static func read(_ data: [UInt8], dequantize: Bool = true, jpeg2dctCompatible: Bool = false,
                            codec: JPEGCodec? = nil) throws -> JPEGCoefficientPlanes {
        var info = cn_jpeg_coef_info()
        var err = [CChar](repeating: 0, count: 256)
        var rc = data.withUnsafeBufferPointer { cn_jpeg_coef_header($0.baseAddress, $0.count, &info, &err, err.count) }
        try check(rc, err)
        let n = Int(info.num_components)
        if jpeg2dctCompatible && n == 3 {
            let is420 = info.h_samp == (2, 1, 1) && info.v_samp == (2, 1, 1)
            if !is420 {
                let c = codec ?? JPEGCodec()
                let rgb = try c.decode(data)
                let again = try c.encode(rgb, quality: 100, subsampling: .s420)
                return try read(again, dequantize: dequantize, jpeg2dctCompatible: false, codec: c)
            }
        }
        guard n == 1 || n == 3 else {
            throw CodecError(.unsupported, "JPEG with \(n) components (CMYK?) is not supported")
        }
        let bh = [info.blocks_h.0, info.blocks_h.1, info.blocks_h.2].map(Int.init)
        let bw = [info.blocks_w.0, info.blocks_w.1, info.blocks_w.2].map(Int.init)
        let caps = (0..<3).map { c in c < n ? bh[c] * bw[c] * 64 : 0 }
        var p0 = [Int16](repeating: 0, count: caps[0])
        var p1 = [Int16](repeating: 0, count: caps[1])
        var p2 = [Int16](repeating: 0, count: caps[2])
        let flags = dequantize ? Int32(CN_DCT_DEQUANTIZE) : 0
        rc = data.withUnsafeBufferPointer { src in
            p0.withUnsafeMutableBufferPointer { b0 in
                p1.withUnsafeMutableBufferPointer { b1 in
                    p2.withUnsafeMutableBufferPointer { b2 in
                        var ptrs: [UnsafeMutablePointer<Int16>?] = [b0.baseAddress, b1.baseAddress, b2.baseAddress]
                        return ptrs.withUnsafeMutableBufferPointer { p in
                            caps.withUnsafeBufferPointer { cp in
                                cn_jpeg_read_coefs(src.baseAddress, src.count, flags, p.baseAddress, cp.baseAddress,
                                                   &info, &err, err.count)
                            }
                        }
                    }
                }
            }
        }
        try check(rc, err)
        let buffers = [p0, p1, p2]
        let quant = withUnsafeBytes(of: info.quant) { raw in
            (0..<3).map { c in Array(raw.bindMemory(to: UInt16.self)[(c * 64)..<(c * 64 + 64)]) }
        }
        var planes = (0..<n).map { c in
            JPEGCoefficientPlanes.Plane(blocksHigh: bh[c], blocksWide: bw[c], values: buffers[c], quant: quant[c])
        }
        if jpeg2dctCompatible && n == 1 {
            let ch = (bh[0] + 1) / 2, cw = (bw[0] + 1) / 2
            let zero = JPEGCoefficientPlanes.Plane(blocksHigh: ch, blocksWide: cw,
                                                   values: [Int16](repeating: 0, count: ch * cw * 64),
                                                   quant: [UInt16](repeating: 1, count: 64))
            planes += [zero, zero]
        }
        return JPEGCoefficientPlanes(planes: planes, imageWidth: Int(info.image_width),
                                     imageHeight: Int(info.image_height), progressive: info.progressive != 0,
                                     warnings: Int(info.num_warnings))
    }

    private static func check(_ rc: Int32, _ err: [CChar]) throws {
        guard rc != Int32(CN_OK) else { return }
        let msg = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw CodecError(rc == Int32(CN_E_UNSUPPORTED) ? .unsupported : .corrupt,
                         msg.isEmpty ? "corrupt JPEG" : "corrupt JPEG (\(msg))")
    }
}

extension DCTTransform {
    /// The reference pipeline's route, for cross-checking: JPEG-encode U2 and U4 at quality 100,
    /// 4:2:0 with TurboJPEG, read the coefficients back, take Y from U2 and Cb/Cr from U4.
    public static func coefficientsViaJPEG(_ image: RGBImage, codec: JPEGCodec = JPEGCodec()) throws -> DCTCoefficients {
        let u2 = upsample2x(image)
        let u4 = upsample2x(u2)
        let y = try JPEGCoefficients.read(try codec.encode(u2, quality: 100, subsampling: .s420)).planes[0]
        let c = try JPEGCoefficients.read(try codec.encode(u4, quality: 100, subsampling: .s420))
        let (gh, gw) = gridSize(height: image.height, width: image.width)
        var out = [Int16](repeating: 0, count: channels * gh * gw)
        func put(_ plane: JPEGCoefficientPlanes.Plane, _ select: [Int], _ first: Int) {
            precondition(plane.blocksHigh == gh && plane.blocksWide == gw, "unexpected plane size")
            for by in 0..<gh {
                for bx in 0..<gw {
                    let base = (by * gw + bx) * 64
                    for (i, k) in select.enumerated() { out[(first + i) * gh * gw + by * gw + bx] = plane.values[base + k] }
                }
            }
        }
        put(y, lumaSelection, 0)
        put(c.planes[1], chromaSelection, 44)
        put(c.planes[2], chromaSelection, 54)
        return DCTCoefficients(height: gh, width: gw, values: out)
    }
}
