// metrics.json of dcot-eval (format "dcot-metrics"): the number, and the protocol that produced it.
import Foundation
import Support

public struct EvaluationProtocol: Codable, Sendable, Equatable {
    public struct ModelRef: Codable, Sendable, Equatable {
        public var config: String
        public var checkpoint: String
        public init(config: String, checkpoint: String) {
            self.config = config
            self.checkpoint = checkpoint
        }
    }
    /// original | center_crop | sliding_window
    public var mode: String
    public var window: Int?
    public var stride: Int?
    public var scales: [Double]
    public var flip: Bool
    public var models: [ModelRef]

    public init(mode: String, window: Int? = nil, stride: Int? = nil, scales: [Double] = [1.0], flip: Bool = false,
                models: [ModelRef] = []) {
        self.mode = mode
        self.window = window
        self.stride = stride
        self.scales = scales
        self.flip = flip
        self.models = models
    }

    /// One line to print next to every number.
    public var summary: String {
        var parts = ["mode \(mode)"]
        if let window, let stride { parts.append("window \(window) stride \(stride)") }
        parts.append("scales \(scales.map { String($0) }.joined(separator: ","))")
        parts.append(flip ? "flip" : "no flip")
        parts.append(models.count == 1 ? "1 model" : "ensemble of \(models.count)")
        return parts.joined(separator: ", ")
    }
}

public struct EvaluationReport: Codable, Sendable {
    public var format = "dcot-metrics"
    public var version = 1
    public var miou: Double
    public var pixel_accuracy: Double
    public var per_class_iou: [String: Double]
    public var confusion: [[Int64]]
    public var images: Int
    public var `protocol`: EvaluationProtocol

    public init(matrix: ConfusionMatrix, classNames: [String], protocol p: EvaluationProtocol) {
        precondition(classNames.count == matrix.classes)
        miou = matrix.meanIoU
        pixel_accuracy = matrix.pixelAccuracy
        per_class_iou = Dictionary(uniqueKeysWithValues: zip(classNames, matrix.iou))
        confusion = matrix.rows
        images = matrix.images
        self.protocol = p
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(self)) + [0x0A], to: path)
    }

    /// A per-class table for the terminal.
    public static func table(_ m: ConfusionMatrix, classNames: [String], protocol p: EvaluationProtocol) -> String {
        let width = max(12, (classNames.map(\.count).max() ?? 0) + 2)
        var lines = ["class".padding(toLength: width, withPad: " ", startingAt: 0) + "   IoU %"]
        for (name, v) in zip(classNames, m.iou) {
            lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%8.2f", 100 * v))
        }
        lines.append(String(format: "mIoU %.2f%%  pixel accuracy %.2f%%  (%d images; %@)", m.meanIoU,
                            100 * m.pixelAccuracy, m.images, p.summary))
        return lines.joined(separator: "\n")
    }
}
