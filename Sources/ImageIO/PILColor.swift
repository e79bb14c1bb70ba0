// The reference's strong (photometric) augmentation ops as Pillow computes them, bit for bit:
// greyscale (L), Image.blend (Brightness, Contrast, Color enhancers), the HSV round trip of
// torchvision's adjust_hue, and GaussianBlur (three fractional box-blur passes per axis).
import Foundation

/// Pillow's RGB → L: (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
public func pilLuminance(_ image: RGBImage) -> [UInt8] {
    let n = image.width * image.height
    var out = [UInt8](repeating: 0, count: n)
    image.pixels.withUnsafeBufferPointer { p in
        for i in 0..<n {
            let v = Int32(p[3 * i]) &* 19595 &+ Int32(p[3 * i + 1]) &* 38470 &+ Int32(p[3 * i + 2]) &* 7471 &+ 0x8000
            out[i] = UInt8(truncatingIfNeeded: v >> 16)
        }
    }
    return out
}

/// RandomGrayscale's output: L copied into three channels.
public func pilGrayscaleRGB(_ image: RGBImage) -> RGBImage {
    let l = pilLuminance(image)
    var px = [UInt8](repeating: 0, count: l.count * 3)
    for (i, v) in l.enumerated() { px[3 * i] = v; px[3 * i + 1] = v; px[3 * i + 2] = v }
    return RGBImage(width: image.width, height: image.height, pixels: px)
}

/// Image.blend(a, b, alpha) on byte arrays of equal length (Pillow's Blend.c, float arithmetic).
public func pilBlend(_ a: [UInt8], _ b: [UInt8], alpha: Float) -> [UInt8] {
    if alpha == 0 { return a }
    if alpha == 1 { return b }
    var out = [UInt8](repeating: 0, count: a.count)
    if alpha >= 0 && alpha <= 1 {
        for i in 0..<a.count {
            out[i] = UInt8(Float(Int32(a[i])) + alpha * Float(Int32(b[i]) - Int32(a[i])))
        }
    } else {
        for i in 0..<a.count {
            let t = Float(Int32(a[i])) + alpha * Float(Int32(b[i]) - Int32(a[i]))
            out[i] = t <= 0 ? 0 : t >= 255 ? 255 : UInt8(t)
        }
    }
    return out
}

/// ImageEnhance.Brightness(img).enhance(f): blend with black.
public func pilBrightness(_ image: RGBImage, _ factor: Float) -> RGBImage {
    RGBImage(width: image.width, height: image.height,
             pixels: pilBlend([UInt8](repeating: 0, count: image.pixels.count), image.pixels, alpha: factor))
}

/// ImageEnhance.Contrast(img).enhance(f): blend with the grey of the rounded mean luminance.
public func pilContrast(_ image: RGBImage, _ factor: Float) -> RGBImage {
    let l = pilLuminance(image)
    let mean = Int(Double(l.reduce(0) { $0 + Int($1) }) / Double(max(l.count, 1)) + 0.5)
    return RGBImage(width: image.width, height: image.height,
                    pixels: pilBlend([UInt8](repeating: UInt8(clamping: mean), count: image.pixels.count), image.pixels, alpha: factor))
}

/// ImageEnhance.Color(img).enhance(f): blend with the image's greyscale.
public func pilSaturation(_ image: RGBImage, _ factor: Float) -> RGBImage {
    RGBImage(width: image.width, height: image.height,
             pixels: pilBlend(pilGrayscaleRGB(image).pixels, image.pixels, alpha: factor))
}

/// torchvision adjust_hue on a PIL image: RGB → HSV (Pillow), H += uint8(hue·255) with wrap-around,
/// HSV → RGB (Pillow). `hue` in [-0.5, 0.5].
public func pilAdjustHue(_ image: RGBImage, _ hue: Double) -> RGBImage {
    // numpy's float64 → uint8 cast truncates toward zero, then wraps.
    let shift = UInt8(truncatingIfNeeded: Int(hue * 255))
    var out = image.pixels
    for i in 0..<(image.width * image.height) {
        var (h, s, v) = rgbToHSV(image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2])
        h = h &+ shift
        (out[3 * i], out[3 * i + 1], out[3 * i + 2]) = hsvToRGB(h, s, v)
    }
    return RGBImage(width: image.width, height: image.height, pixels: out)
}

/// Pillow's rgb2hsv_row: float intermediates, double constants, truncation to bytes.
func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
    let maxc = max(r, max(g, b)), minc = min(r, min(g, b))
    if minc == maxc { return (0, 0, maxc) }
    let cr = Float(Int(maxc) - Int(minc))
    let s: Float = cr / Float(maxc)
    let rc: Float = Float(Int(maxc) - Int(r)) / cr
    let gc: Float = Float(Int(maxc) - Int(g)) / cr
    let bc: Float = Float(Int(maxc) - Int(b)) / cr
    var h: Float
    if r == maxc { h = bc - gc }
    else if g == maxc { h = Float(2.0 + Double(rc) - Double(bc)) }
    else { h = Float(4.0 + Double(gc) - Double(rc)) }
    h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
    let uh = clip8(Int(Double(h) * 255.0)), us = clip8(Int(Double(s) * 255.0))
    return (uh, us, maxc)
}

/// Pillow's hsv2rgb (colorsys order), float/double mix as in C.
func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
    if s == 0 { return (v, v, v) }
    let hh = Double(Float(h)) * 6.0 / 255.0
    let i = Int(hh.rounded(.down))
    let f = Float(hh - Double(i))
    let fs = Float(Double(Float(s)) / 255.0)
    let fv = Double(Float(v))
    let p = Int((fv * (1.0 - Double(fs))).rounded())
    let q = Int((fv * (1.0 - Double(fs * f))).rounded())
    let t = Int((fv * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded())
    let up = clip8(p), uq = clip8(q), ut = clip8(t)
    switch i % 6 {
    case 0: return (v, ut, up)
    case 1: return (uq, v, up)
    case 2: return (up, v, ut)
    case 3: return (up, uq, v)
    case 4: return (ut, up, v)
    default: return (v, up, uq)
    }
}

@inline(__always) private func clip8(_ x: Int) -> UInt8 { x <= 0 ? 0 : x >= 255 ? 255 : UInt8(x) }

/// ImageFilter.GaussianBlur(radius): Pillow approximates the Gaussian by 3 box blurs per axis with a
/// fractional radius (Gwosdek et al.), in 24-bit fixed point.
public func pilGaussianBlur(_ image: RGBImage, radius: Float) -> RGBImage {
    let passes: Float = 3
    let sigma2: Float = radius * radius / passes
    let L = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
    let l = Float(((Double(L) - 1.0) / 2.0).rounded(.down))
    var a: Float = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
    a /= 6 * (sigma2 - (l + 1) * (l + 1))
    let boxRadius = l + a
    var px = image.pixels
    var w = image.width, h = image.height
    for _ in 0..<3 { px = boxBlurRows(px, width: w, height: h, radius: boxRadius) }
    px = transpose(px, width: w, height: h)
    swap(&w, &h)
    for _ in 0..<3 { px = boxBlurRows(px, width: w, height: h, radius: boxRadius) }
    px = transpose(px, width: w, height: h)
    return RGBImage(width: image.width, height: image.height, pixels: px)
}

private func transpose(_ px: [UInt8], width: Int, height: Int) -> [UInt8] {
    var out = px
    for y in 0..<height { for x in 0..<width { for c in 0..<3 { out[(x * height + y) * 3 + c] = px[(y * width + x) * 3 + c] } } }
    return out
}

/// One horizontal pass of Pillow's ImagingLineBoxBlur32 over every row (unsigned 32-bit wrap-around
/// arithmetic as in C).
private func boxBlurRows(_ px: [UInt8], width: Int, height: Int, radius floatRadius: Float) -> [UInt8] {
    let radius = Int(floatRadius)
    let ww = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
    let fw = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2
    let edgeA = min(radius + 1, width), edgeB = max(width - radius - 1, 0)
    let lastx = width - 1
    var out = px
    for y in 0..<height {
        let row = y * width * 3
        for c in 0..<3 {
            @inline(__always) func at(_ x: Int) -> UInt32 { UInt32(px[row + x * 3 + c]) }
            var acc = at(0) &* UInt32(radius + 1)
            var x = 0
            while x < edgeA - 1 { acc = acc &+ at(x); x += 1 }
            acc = acc &+ at(lastx) &* UInt32(truncatingIfNeeded: radius - edgeA + 1)
            func step(_ x: Int, _ sub: Int, _ add: Int, _ left: Int, _ right: Int) {
                acc = acc &+ at(add) &- at(sub)
                let bulk = acc &* ww &+ (at(left) &+ at(right)) &* fw
                out[row + x * 3 + c] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
            }
            if edgeA <= edgeB {
                for x in 0..<edgeA { step(x, 0, x + radius, 0, x + radius + 1) }
                for x in edgeA..<max(edgeA, edgeB) { step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1) }
                for x in edgeB...lastx { step(x, x - radius - 1, lastx, x - radius - 1, lastx) }
            } else {
                for x in 0..<edgeB { step(x, 0, x + radius, 0, x + radius + 1) }
                for x in edgeB..<edgeA { step(x, 0, lastx, 0, lastx) }
                for x in edgeA..<(lastx + 1) { step(x, x - radius - 1, lastx, x - radius - 1, lastx) }
            }
        }
    }
    return out
}
