// cv2.resize(INTER_LINEAR) by exactly 2 on uint8 images, in cv2's fixed-point arithmetic, so the
// DCT input matches the reference pipeline bit for bit. Weights along each axis are 1/4, 3/4
// (half-pixel centres); edge samples clamp to weight 1.
//
// Along one axis, output o = 2k uses source k-1 (1/4) and k (3/4); o = 2k+1 uses k (3/4) and
// k+1 (1/4); out-of-range neighbours give the in-range sample weight 1. Weights are kept in
// quarters (1, 3 or 4) and the 2-D sum has denominator 16.

@usableFromInline
struct Tap: Sendable {
    @usableFromInline var i0: Int32
    @usableFromInline var i1: Int32
    @usableFromInline var w0: Int32
    @usableFromInline var w1: Int32
}

/// Source taps of every output index along an axis of length n (output length 2n).
@usableFromInline
func upsampleTaps(_ n: Int) -> [Tap] {
    var taps = [Tap]()
    taps.reserveCapacity(2 * n)
    for o in 0..<(2 * n) {
        let k = o >> 1
        if o & 1 == 0 {
            if k == 0 { taps.append(Tap(i0: 0, i1: 0, w0: 4, w1: 0)) }
            else { taps.append(Tap(i0: Int32(k - 1), i1: Int32(k), w0: 1, w1: 3)) }
        } else {
            if k + 1 >= n { taps.append(Tap(i0: Int32(n - 1), i1: Int32(n - 1), w0: 4, w1: 0)) }
            else { taps.append(Tap(i0: Int32(k), i1: Int32(k + 1), w0: 3, w1: 1)) }
        }
    }
    return taps
}

/// cv2's vertical combination of two horizontally interpolated values (each in quarters).
/// Scalar fixed point: (b0*S0 + b1*S1 + 2^21) >> 22 with S in units of 2048 → (sum16 + 8) >> 4.
@inlinable @inline(__always)
func combineVertical(_ h0: Int32, _ h1: Int32, _ w0: Int32, _ w1: Int32) -> Int32 {
    (w0 &* h0 &+ w1 &* h1 &+ 8) >> 4
}

/// Horizontally upsamples one interleaved 3-channel row of `width` pixels into `out`
/// (2*width pixels, values in quarters).
@inlinable
func upsampleRowH(_ src: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<Int32>, _ taps: UnsafePointer<Tap>, _ outWidth: Int) {
    for o in 0..<outWidth {
        let t = taps[o]
        let a = src + Int(t.i0) &* 3
        let b = src + Int(t.i1) &* 3
        let d = out + o &* 3
        d[0] = t.w0 &* Int32(a[0]) &+ t.w1 &* Int32(b[0])
        d[1] = t.w0 &* Int32(a[1]) &+ t.w1 &* Int32(b[1])
        d[2] = t.w0 &* Int32(a[2]) &+ t.w1 &* Int32(b[2])
    }
}

/// Produces the rows of the ×2 upsampled image in increasing order, keeping only the two
/// horizontally interpolated source rows it needs.
public final class RowUpsampler {
    let src: UnsafePointer<UInt8>
    let width: Int, height: Int
    public let outWidth: Int, outHeight: Int
    let xTaps: [Tap], yTaps: [Tap]
    var rowA: UnsafeMutablePointer<Int32>, rowB: UnsafeMutablePointer<Int32>
    var cachedA = -1, cachedB = -1

    /// `src` must stay valid while rows are requested (height x width x 3 bytes).
    public init(src: UnsafePointer<UInt8>, width: Int, height: Int) {
        self.src = src
        self.width = width
        self.height = height
        outWidth = 2 * width
        outHeight = 2 * height
        xTaps = upsampleTaps(width)
        yTaps = upsampleTaps(height)
        rowA = .allocate(capacity: outWidth * 3)
        rowB = .allocate(capacity: outWidth * 3)
    }

    deinit {
        rowA.deallocate()
        rowB.deallocate()
    }

    private func load(_ row: Int, into dst: UnsafeMutablePointer<Int32>) {
        xTaps.withUnsafeBufferPointer { upsampleRowH(src + row * width * 3, dst, $0.baseAddress!, outWidth) }
    }

    /// Writes output row `oy` (outWidth x 3 bytes) into `dst`.
    public func row(_ oy: Int, into dst: UnsafeMutablePointer<UInt8>) {
        let t = yTaps[oy]
        let i0 = Int(t.i0), i1 = Int(t.i1)
        if cachedA != i0 {
            if cachedB == i0 {
                swap(&rowA, &rowB)
                swap(&cachedA, &cachedB)
            } else {
                load(i0, into: rowA)
                cachedA = i0
            }
        }
        if cachedB != i1 {
            load(i1, into: rowB)
            cachedB = i1
        }
        let a = rowA, b = rowB
        for i in 0..<(outWidth &* 3) {
            dst[i] = UInt8(truncatingIfNeeded: combineVertical(a[i], b[i], t.w0, t.w1))
        }
    }
}

/// The ×2 upsampled image (2H x 2W), exactly as cv2.resize(INTER_LINEAR).
public func upsample2x(_ image: RGBImage) -> RGBImage {
    let ow = 2 * image.width, oh = 2 * image.height
    var out = [UInt8](repeating: 0, count: ow * oh * 3)
    image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            let up = RowUpsampler(src: src.baseAddress!, width: image.width, height: image.height)
            for oy in 0..<oh { up.row(oy, into: dst.baseAddress! + oy * ow * 3) }
        }
    }
    return RGBImage(width: ow, height: oh, pixels: out)
}
