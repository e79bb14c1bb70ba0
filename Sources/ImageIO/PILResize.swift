// Pillow's Image.resize, bit for bit, for the reference's weak augmentation: BILINEAR (a triangle
// filter widened by the scale factor when shrinking, i.e. antialiased; coefficients normalised and
// rounded to 22-bit fixed point; a horizontal pass rounded to uint8, then a vertical pass) for
// images, and NEAREST (an affine map whose source coordinate is accumulated in Double) for masks.

private let precisionBits = 22

/// Per output index: first source index, count, and fixed-point weights (Pillow's precompute_coeffs
/// and normalize_coeffs_8bpc).
private func bilinearCoefficients(inSize: Int, outSize: Int) -> (bounds: [(Int, Int)], weights: [[Int32]]) {
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1.0)
    let support = 1.0 * filterScale
    var bounds = [(Int, Int)]()
    var weights = [[Int32]]()
    for xx in 0..<outSize {
        let center = (Double(xx) + 0.5) * scale
        let ss = 1.0 / filterScale
        let xmin = max(Int(center - support + 0.5), 0)
        let xmax = min(Int(center + support + 0.5), inSize) - xmin
        var k = [Double](repeating: 0, count: max(xmax, 0))
        var ww = 0.0
        for x in 0..<max(xmax, 0) {
            let w = max(0, 1 - abs((Double(x + xmin) - center + 0.5) * ss))
            k[x] = w
            ww += w
        }
        let fixed = k.map { v -> Int32 in
            let n = ww != 0 ? v / ww : v
            return n < 0 ? Int32(-0.5 + n * Double(1 << precisionBits)) : Int32(0.5 + n * Double(1 << precisionBits))
        }
        bounds.append((xmin, max(xmax, 0)))
        weights.append(fixed)
    }
    return (bounds, weights)
}

@inline(__always)
private func clip8(_ v: Int32) -> UInt8 {
    let s = v >> Int32(precisionBits)
    return s <= 0 ? 0 : s >= 255 ? 255 : UInt8(s)
}

/// Image.resize((width, height), Image.BILINEAR) on an RGB image.
public func pilResizeBilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    if width == image.width && height == image.height { return image }
    let (hb, hw) = bilinearCoefficients(inSize: image.width, outSize: width)
    let (vb, vw) = bilinearCoefficients(inSize: image.height, outSize: height)
    let needH = width != image.width, needV = height != image.height
    var src = image
    if needH {
        // Only the source rows the vertical pass will read (Pillow's ybox_first ... ybox_last).
        let first = needV ? vb[0].0 : 0
        let last = needV ? vb[height - 1].0 + vb[height - 1].1 : image.height
        var tmp = [UInt8](repeating: 0, count: (last - first) * width * 3)
        image.pixels.withUnsafeBufferPointer { p in
            for y in first..<last {
                let row = y * image.width * 3
                for x in 0..<width {
                    let (x0, n) = hb[x]
                    let k = hw[x]
                    var s0: Int32 = 1 << Int32(precisionBits - 1), s1 = s0, s2 = s0
                    for i in 0..<n {
                        let o = row + (x0 + i) * 3
                        s0 &+= Int32(p[o]) &* k[i]
                        s1 &+= Int32(p[o + 1]) &* k[i]
                        s2 &+= Int32(p[o + 2]) &* k[i]
                    }
                    let d = ((y - first) * width + x) * 3
                    tmp[d] = clip8(s0)
                    tmp[d + 1] = clip8(s1)
                    tmp[d + 2] = clip8(s2)
                }
            }
        }
        src = RGBImage(width: width, height: last - first, pixels: tmp)
        if !needV { return src }
    }
    let shift = needH ? vb[0].0 : 0
    var out = [UInt8](repeating: 0, count: height * width * 3)
    src.pixels.withUnsafeBufferPointer { p in
        for y in 0..<height {
            let (y0, n) = vb[y]
            let k = vw[y]
            for x in 0..<(width * 3) {
                var s: Int32 = 1 << Int32(precisionBits - 1)
                for i in 0..<n { s &+= Int32(p[(y0 - shift + i) * width * 3 + x]) &* k[i] }
                out[y * width * 3 + x] = clip8(s)
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: out)
}

/// Image.resize((width, height), Image.NEAREST) on a label map (what Pillow does for mode P masks).
public func pilResizeNearest(_ label: LabelImage, width: Int, height: Int) -> LabelImage {
    if width == label.width && height == label.height { return label }
    func sources(_ inSize: Int, _ outSize: Int) -> [Int] {
        let a = Double(inSize) / Double(outSize)
        var o = a * 0.5 // ImagingScaleAffine: xo = a[2] + a[0] * 0.5, then xo += a[0] per pixel
        var out = [Int]()
        for _ in 0..<outSize {
            let i = o < 0 ? -1 : Int(o)
            out.append(min(max(i, 0), inSize - 1))
            o += a
        }
        return out
    }
    let xs = sources(label.width, width), ys = sources(label.height, height)
    var out = [UInt8](repeating: 0, count: width * height)
    for (y, sy) in ys.enumerated() {
        for (x, sx) in xs.enumerated() { out[y * width + x] = label.labels[sy * label.width + sx] }
    }
    return LabelImage(width: width, height: height, labels: out)
}
