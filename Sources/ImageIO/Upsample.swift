// cv2.resize(INTER_LINEAR) by exactly 2 on uint8 images, in cv2's fixed-point arithmetic, so the
// DCT input matches the reference pipeline bit for bit (Scripts/goldens/dct.py verifies the same
// formula against OpenCV 4.5–5.0).
//
// Along each axis output 2k takes source k (weight 3/4, "near") and k-1 (1/4, "far"); output 2k+1
// takes k and k+1; a far index outside the image clamps to the edge. Horizontally cv2 keeps
// p = 3*near + far exactly (11-bit weights); its uint8 vertical pass truncates each weighted row
// before rounding: out = ((3*p_near >> 2) + (p_far >> 2) + 2) >> 2.

@usableFromInline
struct Tap: Sendable {
    @usableFromInline var near: Int32
    @usableFromInline var far: Int32
}

/// Near/far source indices of every output index along an axis of length n (output length 2n).
@usableFromInline
func upsampleTaps(_ n: Int) -> [Tap] {
    (0..<(2 * n)).map { o in
        let k = o >> 1
        let far = o & 1 == 0 ? max(k - 1, 0) : min(k + 1, n - 1)
        return Tap(near: Int32(k), far: Int32(far))
    }
}

/// Horizontally upsamples one interleaved 3-channel row into `out` (2*width pixels of p values).
@inlinable
func upsampleRowH(_ src: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<Int32>, _ taps: UnsafePointer<Tap>, _ outWidth: Int) {
    for o in 0..<outWidth {
        let t = taps[o]
        let a = src + Int(t.near) &* 3
        let b = src + Int(t.far) &* 3
        let d = out + o &* 3
        d[0] = 3 &* Int32(a[0]) &+ Int32(b[0])
        d[1] = 3 &* Int32(a[1]) &+ Int32(b[1])
        d[2] = 3 &* Int32(a[2]) &+ Int32(b[2])
    }
}

/// Produces the rows of the ×2 upsampled image in increasing order, caching the horizontally
/// interpolated source rows it needs (at most two at a time).
public final class RowUpsampler {
    let src: UnsafePointer<UInt8>
    let width: Int, height: Int
    public let outWidth: Int, outHeight: Int
    let xTaps: [Tap], yTaps: [Tap]
    var slots: (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>)
    var tags = (-1, -1)

    /// `src` must stay valid while rows are requested (height x width x 3 bytes).
    public init(src: UnsafePointer<UInt8>, width: Int, height: Int) {
        self.src = src
        self.width = width
        self.height = height
        outWidth = 2 * width
        outHeight = 2 * height
        xTaps = upsampleTaps(width)
        yTaps = upsampleTaps(height)
        slots = (.allocate(capacity: outWidth * 3), .allocate(capacity: outWidth * 3))
    }

    deinit {
        slots.0.deallocate()
        slots.1.deallocate()
    }

    /// The horizontally interpolated source row `r`, loaded into the slot not holding `keep`.
    private func sourceRow(_ r: Int, keep: Int) -> UnsafeMutablePointer<Int32> {
        if tags.0 == r { return slots.0 }
        if tags.1 == r { return slots.1 }
        let useFirst = tags.0 != keep
        let dst = useFirst ? slots.0 : slots.1
        xTaps.withUnsafeBufferPointer { upsampleRowH(src + r * width * 3, dst, $0.baseAddress!, outWidth) }
        if useFirst { tags.0 = r } else { tags.1 = r }
        return dst
    }

    /// Writes output row `oy` (outWidth x 3 bytes) into `dst`.
    public func row(_ oy: Int, into dst: UnsafeMutablePointer<UInt8>) {
        let t = yTaps[oy]
        let near = sourceRow(Int(t.near), keep: Int(t.far))
        let far = sourceRow(Int(t.far), keep: Int(t.near))
        for i in 0..<(outWidth &* 3) {
            let v = ((3 &* near[i]) >> 2) &+ (far[i] >> 2) &+ 2
            dst[i] = UInt8(truncatingIfNeeded: v >> 2)
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
