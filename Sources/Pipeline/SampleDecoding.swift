// Decoding and validating one list entry's files: the image (JPEG or PNG) and its label mask.
import Foundation
import ImageIO
import Shards
import Support

public struct LabelRules: Sendable {
    public var dataset: DatasetKind
    public var classCount: Int
    /// Map RGB colour masks to indices through this palette instead of rejecting them.
    public var colourPalette: [UInt8]?

    public init(dataset: DatasetKind, classCount: Int, colourPalette: [UInt8]? = nil) {
        self.dataset = dataset
        self.classCount = classCount
        self.colourPalette = colourPalette
    }
}

public enum SampleDecoding {
    /// Decodes an image file's bytes (JPEG or PNG) to RGB; errors name `path`.
    public static func image(_ bytes: [UInt8], path: String, codec: JPEGCodec) throws -> RGBImage {
        do {
            if looksLikeJPEG(bytes) { return try codec.decode(bytes) }
            if looksLikePNG(bytes) { return try rgb(from: PNG.read(bytes)) }
        } catch let e as CodecError {
            throw UserError(path, "\(e.message)", fix: "replace the file with a valid image, or remove its line from the list")
        }
        throw UserError(path, "is neither a JPEG nor a PNG file", fix: "convert it to JPEG or PNG, or remove its line from the list")
    }

    static func rgb(from png: PNGImage) -> RGBImage {
        let n = png.width * png.height
        switch png.kind {
        case .rgb:
            return RGBImage(width: png.width, height: png.height, pixels: png.pixels)
        case .rgba:
            var px = [UInt8](repeating: 0, count: n * 3)
            for i in 0..<n { for c in 0..<3 { px[3 * i + c] = png.pixels[4 * i + c] } }
            return RGBImage(width: png.width, height: png.height, pixels: px)
        case .palette:
            var px = [UInt8](repeating: 0, count: n * 3)
            for i in 0..<n {
                let p = Int(png.pixels[i])
                for c in 0..<3 { px[3 * i + c] = 3 * p + c < png.palette.count ? png.palette[3 * p + c] : 0 }
            }
            return RGBImage(width: png.width, height: png.height, pixels: px)
        case .gray, .grayAlpha:
            var px = [UInt8](repeating: 0, count: n * 3)
            for i in 0..<n { px[3 * i] = png.pixels[i]; px[3 * i + 1] = png.pixels[i]; px[3 * i + 2] = png.pixels[i] }
            return RGBImage(width: png.width, height: png.height, pixels: px)
        }
    }

    /// Decodes and validates a label mask against its image size and the class rules.
    public static func label(_ bytes: [UInt8], path: String, imageWidth: Int, imageHeight: Int, imagePath: String,
                             rules: LabelRules) throws -> LabelImage {
        var label: LabelImage
        do {
            let decoding: LabelDecoding = rules.colourPalette.map { .mapColours(palette: $0) } ?? .indices
            guard looksLikePNG(bytes) else {
                throw CodecError(.corrupt, "is not a PNG file (label masks must be palette or greyscale PNGs)")
            }
            label = try LabelPNG.read(bytes, decoding: decoding)
        } catch let e as CodecError {
            switch e.kind {
            case .notIndexed:
                throw UserError(path, "is an RGB colour mask, not class indices",
                                fix: "convert it to a palette or greyscale index PNG, or pass --map-voc-colours to map VOC colours to class indices")
            default:
                throw UserError(path, e.message, fix: "replace the mask with a valid PNG, or remove its line from the list")
            }
        }
        guard label.width == imageWidth, label.height == imageHeight else {
            throw UserError(path, "mask is \(label.width)x\(label.height) but its image \(imagePath) is \(imageWidth)x\(imageHeight)",
                            fix: "pair each image with its own mask (check the list line)")
        }
        if rules.dataset == .cityscapes && path.hasSuffix("_labelIds.png") {
            // Raw Cityscapes labelIds: map to the 19 trainIds, everything else to 255.
            let table = BuiltinClasses.cityscapesTrainId
            label.labels = label.labels.map { table[Int($0)] }
        }
        let limit = rules.classCount
        if let bad = label.labels.firstIndex(where: { Int($0) >= limit && $0 != 255 }) {
            let v = label.labels[bad]
            throw UserError(path, "label value \(v) at (x \(bad % label.width), y \(bad / label.width)) is outside [0, \(limit)) and not 255 (ignore)",
                            fix: rules.dataset == .cityscapes
                                ? "use *_labelTrainIds.png or *_labelIds.png masks"
                                : "check --dataset / the classes file (it defines \(limit) classes)")
        }
        return label
    }
}
