// The DCT input domain of METHOD.md section 3, computed directly (no JPEG round trip):
// U2 = cv2 x2 upsample, U4 = x2 of U2; Y from U2, Cb/Cr from U4 after 4:2:0 box downsampling;
// edge replication to whole blocks; libjpeg islow DCT; quality 100 (step 1). Output: Int16
// [64, ceil(H/4), ceil(W/4)]: 44 Y, 10 Cb, 10 Cr channels in the reference's "square" order.
import CNative

public struct DCTCoefficients: Sendable, Equatable {
    /// Grid rows, ceil(H/4).
    public let height: Int
    /// Grid columns, ceil(W/4).
    public let width: Int
    /// [64, height, width], channel-major.
    public var values: [Int16]

    public init(height: Int, width: Int, values: [Int16]) {
        precondition(values.count == DCTTransform.channels * height * width)
        self.height = height
        self.width = width
        self.values = values
    }
}

public enum DCTTransform {
    public static let channels = 64
    /// Coefficients k = 8v + u kept from Y: rows v = 0, 1 with u = 0..6; rows v = 2..6 with u = 0..5.
    public static let lumaSelection: [Int] = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14,
                                              16, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28, 29,
                                              32, 33, 34, 35, 36, 37, 40, 41, 42, 43, 44, 45,
                                              48, 49, 50, 51, 52, 53]
    /// Coefficients kept from Cb and from Cr.
    public static let chromaSelection: [Int] = [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]

    public static func gridSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 3) / 4, (width + 3) / 4)
    }

    /// The un-normalised integer coefficients of an RGB image (the fast C kernel, CNative/dct_input.c).
    public static func coefficients(_ image: RGBImage) -> DCTCoefficients {
        precondition(image.width > 0 && image.height > 0)
        let (gh, gw) = gridSize(height: image.height, width: image.width)
        var out = [Int16](repeating: 0, count: channels * gh * gw)
        let rc = image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { cn_dct_input(src.baseAddress!, Int32(image.height), Int32(image.width), $0.baseAddress!) }
        }
        precondition(rc == CN_OK, "DCT transform: out of memory")
        return DCTCoefficients(height: gh, width: gw, values: out)
    }

    /// The naive twin of `coefficients`: the same arithmetic written step by step in Swift
    /// (materialised U2, streamed U4). Tests hold the two equal.
    public static func coefficientsReference(_ image: RGBImage) -> DCTCoefficients {
        precondition(image.width > 0 && image.height > 0)
        let (gh, gw) = gridSize(height: image.height, width: image.width)
        let u2 = upsample2x(image)
        var out = [Int16](repeating: 0, count: channels * gh * gw)
        let lumaPlane = paddedLuma(u2, rows: 8 * gh, cols: 8 * gw)
        let (cb, cr) = paddedChroma(u2, rows: 8 * gh, cols: 8 * gw)
        out.withUnsafeMutableBufferPointer { o in
            blockDCT(lumaPlane, rows: 8 * gh, cols: 8 * gw, select: lumaSelection, out: o.baseAddress!, gh: gh, gw: gw)
            blockDCT(cb, rows: 8 * gh, cols: 8 * gw, select: chromaSelection,
                     out: o.baseAddress! + 44 * gh * gw, gh: gh, gw: gw)
            blockDCT(cr, rows: 8 * gh, cols: 8 * gw, select: chromaSelection,
                     out: o.baseAddress! + 54 * gh * gw, gh: gh, gw: gw)
        }
        return DCTCoefficients(height: gh, width: gw, values: out)
    }

    /// libjpeg's RGB → Y in 16-bit fixed point (jccolor.c constants).
    @inline(__always)
    static func luma(_ r: Int32, _ g: Int32, _ b: Int32) -> Int32 {
        (19595 &* r &+ 38470 &* g &+ 7471 &* b &+ 32768) >> 16
    }

    /// Cb and Cr with libjpeg's rounding fudge (0.5 - epsilon).
    @inline(__always)
    static func chroma(_ r: Int32, _ g: Int32, _ b: Int32) -> (Int32, Int32) {
        let offset: Int32 = (128 << 16) &+ 32767
        let cb = (0 &- 11059 &* r &- 21709 &* g &+ 32768 &* b &+ offset) >> 16
        let cr = (32768 &* r &- 27439 &* g &- 5329 &* b &+ offset) >> 16
        return (cb, cr)
    }

    /// Y of U2, edge-replicated to rows x cols.
    static func paddedLuma(_ u2: RGBImage, rows: Int, cols: Int) -> [UInt8] {
        var plane = [UInt8](repeating: 0, count: rows * cols)
        let w = u2.width, h = u2.height
        u2.pixels.withUnsafeBufferPointer { src in
            plane.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let s = src.baseAddress! + y * w * 3
                    let d = dst.baseAddress! + y * cols
                    for x in 0..<w {
                        d[x] = UInt8(truncatingIfNeeded: luma(Int32(s[3 &* x]), Int32(s[3 &* x &+ 1]), Int32(s[3 &* x &+ 2])))
                    }
                    for x in w..<cols { d[x] = d[w - 1] }
                }
                for y in h..<rows {
                    (dst.baseAddress! + y * cols).update(from: dst.baseAddress! + (h - 1) * cols, count: cols)
                }
            }
        }
        return plane
    }

    /// Cb and Cr of U4 = x2(U2), 2x2 box-downsampled with libjpeg's alternating bias (1, 2, 1, ...).
    /// As in libjpeg, the right edge is replicated before downsampling (to 2*cols) and the bottom
    /// after it (the last chroma row repeats down to `rows`). U4 is streamed row by row.
    static func paddedChroma(_ u2: RGBImage, rows: Int, cols: Int) -> ([UInt8], [UInt8]) {
        var cb = [UInt8](repeating: 0, count: rows * cols)
        var cr = cb
        let w4 = 2 * u2.width, h4 = 2 * u2.height
        let wide = 2 * cols // padded U4 width
        var u4row = [UInt8](repeating: 0, count: w4 * 3)
        var sumCb = [Int32](repeating: 0, count: wide), sumCr = sumCb
        var rowCb = [Int32](repeating: 0, count: wide), rowCr = rowCb
        u2.pixels.withUnsafeBufferPointer { src in
            let up = RowUpsampler(src: src.baseAddress!, width: u2.width, height: u2.height)
            u4row.withUnsafeMutableBufferPointer { u4 in
            rowCb.withUnsafeMutableBufferPointer { rcb in
            rowCr.withUnsafeMutableBufferPointer { rcr in
            sumCb.withUnsafeMutableBufferPointer { scb in
            sumCr.withUnsafeMutableBufferPointer { scr in
            cb.withUnsafeMutableBufferPointer { ocb in
            cr.withUnsafeMutableBufferPointer { ocr in
                let u = u4.baseAddress!
                for r in 0..<h4 {
                    up.row(r, into: u)
                    for x in 0..<w4 {
                        let (b, c) = chroma(Int32(u[3 &* x]), Int32(u[3 &* x &+ 1]), Int32(u[3 &* x &+ 2]))
                        rcb[x] = b
                        rcr[x] = c
                    }
                    for x in w4..<wide {
                        rcb[x] = rcb[w4 - 1]
                        rcr[x] = rcr[w4 - 1]
                    }
                    let y = r >> 1
                    if r & 1 == 0 {
                        for j in 0..<cols {
                            let j0 = 2 &* j, j1 = j0 &+ 1
                            scb[j] = rcb[j0] &+ rcb[j1]
                            scr[j] = rcr[j0] &+ rcr[j1]
                        }
                    } else {
                        let dcb = ocb.baseAddress! + y * cols, dcr = ocr.baseAddress! + y * cols
                        for j in 0..<cols {
                            let bias: Int32 = 1 &+ Int32(j & 1)
                            let j0 = 2 &* j, j1 = j0 &+ 1
                            let b: Int32 = scb[j] &+ rcb[j0] &+ rcb[j1] &+ bias
                            let c: Int32 = scr[j] &+ rcr[j0] &+ rcr[j1] &+ bias
                            dcb[j] = UInt8(truncatingIfNeeded: b >> 2)
                            dcr[j] = UInt8(truncatingIfNeeded: c >> 2)
                        }
                    }
                }
                // libjpeg pads the bottom after downsampling: repeat the last chroma row.
                let last = h4 / 2 - 1
                for y in (last + 1)..<rows {
                    (ocb.baseAddress! + y * cols).update(from: ocb.baseAddress! + last * cols, count: cols)
                    (ocr.baseAddress! + y * cols).update(from: ocr.baseAddress! + last * cols, count: cols)
                }
            }}}}}}}
        }
        return (cb, cr)
    }

    /// DCT of every 8x8 block of a padded plane; writes the selected coefficients as channels.
    static func blockDCT(_ plane: [UInt8], rows: Int, cols: Int, select: [Int], out: UnsafeMutablePointer<Int16>,
                         gh: Int, gw: Int) {
        let gridArea = gh * gw
        var block = [Int32](repeating: 0, count: 64)
        plane.withUnsafeBufferPointer { src in
            block.withUnsafeMutableBufferPointer { blk in
                select.withUnsafeBufferPointer { sel in
                    let b = blk.baseAddress!
                    for by in 0..<gh {
                        for bx in 0..<gw {
                            for y in 0..<8 {
                                let row: Int = (by &* 8 &+ y) &* cols
                                let s: UnsafePointer<UInt8> = src.baseAddress! + (row &+ bx &* 8)
                                for x in 0..<8 { b[y &* 8 &+ x] = Int32(s[x]) &- 128 }
                            }
                            forwardDCTIslow(b)
                            let cell = by &* gw &+ bx
                            for (c, k) in sel.enumerated() {
                                out[c &* gridArea &+ cell] = quantizeQ100(b[k])
                            }
                        }
                    }
                }
            }
        }
    }
}
