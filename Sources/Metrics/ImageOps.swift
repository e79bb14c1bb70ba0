// Inference-side image operations: flips of probability maps and bilinear resizes of images and
// probability maps (half-pixel centres, as align_corners=False). Crops and image flips: ImageIO.
import ImageIO

public func flipHorizontal(_ p: [Float], channels: Int, height: Int, width: Int) -> [Float] {
    var out = p
    for c in 0..<channels {
        for r in 0..<height {
            let row = (c * height + r) * width
            for q in 0..<width { out[row + q] = p[row + width - 1 - q] }
        }
    }
    return out
}

/// Source coordinate and weights along one axis (half-pixel centres, edge clamped).
private func taps(_ from: Int, _ to: Int) -> [(Int, Int, Float)] {
    let scale = Double(from) / Double(to)
    return (0..<to).map { o in
        let f = max(0, (Double(o) + 0.5) * scale - 0.5)
        let i0 = min(Int(f), from - 1), i1 = min(i0 + 1, from - 1)
        return (i0, i1, Float(f - Double(i0)))
    }
}

public func resizeBilinear(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
    let ty = taps(image.height, height), tx = taps(image.width, width)
    var out = [UInt8](repeating: 0, count: height * width * 3)
    for (r, (y0, y1, fy)) in ty.enumerated() {
        for (q, (x0, x1, fx)) in tx.enumerated() {
            for c in 0..<3 {
                func px(_ y: Int, _ x: Int) -> Float { Float(image.pixels[(y * image.width + x) * 3 + c]) }
                let top = px(y0, x0) + (px(y0, x1) - px(y0, x0)) * fx
                let bottom = px(y1, x0) + (px(y1, x1) - px(y1, x0)) * fx
                out[(r * width + q) * 3 + c] = UInt8(max(0, min(255, (top + (bottom - top) * fy).rounded())))
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: out)
}

public func resizeProbabilities(_ p: [Float], channels: Int, from: (Int, Int), to: (Int, Int)) -> [Float] {
    let ty = taps(from.0, to.0), tx = taps(from.1, to.1)
    var out = [Float](repeating: 0, count: channels * to.0 * to.1)
    for c in 0..<channels {
        let base = c * from.0 * from.1
        for (r, (y0, y1, fy)) in ty.enumerated() {
            for (q, (x0, x1, fx)) in tx.enumerated() {
                let a = p[base + y0 * from.1 + x0], b = p[base + y0 * from.1 + x1]
                let d = p[base + y1 * from.1 + x0], e = p[base + y1 * from.1 + x1]
                let top = a + (b - a) * fx, bottom = d + (e - d) * fx
                out[(c * to.0 + r) * to.1 + q] = top + (bottom - top) * fy
            }
        }
    }
    return out
}
