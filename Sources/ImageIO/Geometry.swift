// Geometric helpers on images, label maps and DCT grids: crops and horizontal flips (used by the
// augmentations and by inference).

public func crop(_ image: RGBImage, y: Int, x: Int, h: Int, w: Int) -> RGBImage {
    var out = [UInt8](repeating: 0, count: h * w * 3)
    for r in 0..<h {
        let src = ((y + r) * image.width + x) * 3
        out.replaceSubrange((r * w * 3)..<((r + 1) * w * 3), with: image.pixels[src..<(src + w * 3)])
    }
    return RGBImage(width: w, height: h, pixels: out)
}

public func crop(_ label: LabelImage, y: Int, x: Int, h: Int, w: Int) -> LabelImage {
    var out = [UInt8](repeating: 0, count: h * w)
    for r in 0..<h {
        let src = (y + r) * label.width + x
        out.replaceSubrange((r * w)..<((r + 1) * w), with: label.labels[src..<(src + w)])
    }
    return LabelImage(width: w, height: h, labels: out)
}

public func cropDCT(_ d: DCTCoefficients, y: Int, x: Int, h: Int, w: Int) -> DCTCoefficients {
    var out = [Int16](repeating: 0, count: DCTTransform.channels * h * w)
    for c in 0..<DCTTransform.channels {
        for r in 0..<h {
            let src = (c * d.height + y + r) * d.width + x
            let dst = (c * h + r) * w
            for q in 0..<w { out[dst + q] = d.values[src + q] }
        }
    }
    return DCTCoefficients(height: h, width: w, values: out)
}

public func flipHorizontal(_ label: LabelImage) -> LabelImage {
    var out = label.labels
    for r in 0..<label.height {
        for q in 0..<label.width { out[r * label.width + q] = label.labels[r * label.width + label.width - 1 - q] }
    }
    return LabelImage(width: label.width, height: label.height, labels: out)
}

public func flipHorizontal(_ image: RGBImage) -> RGBImage {
    var out = image.pixels
    let w = image.width
    for r in 0..<image.height {
        for q in 0..<w {
            for c in 0..<3 { out[(r * w + q) * 3 + c] = image.pixels[(r * w + (w - 1 - q)) * 3 + c] }
        }
    }
    return RGBImage(width: w, height: image.height, pixels: out)
}

