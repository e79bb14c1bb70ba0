// Plain image containers: interleaved RGB (HxWx3) and single-channel maps (HxW), row-major.

public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// height * width * 3 bytes, RGB order.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }
}

/// A class map: one byte per pixel, class index or 255 (ignore).
public struct LabelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var labels: [UInt8]

    public init(width: Int, height: Int, labels: [UInt8]) {
        precondition(labels.count == width * height, "LabelImage: label count does not match size")
        self.width = width
        self.height = height
        self.labels = labels
    }

    public static let ignore: UInt8 = 255
}

/// Codec failures; callers add the file name when turning them into user errors.
public struct CodecError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable { case corrupt, unsupported, notIndexed }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
