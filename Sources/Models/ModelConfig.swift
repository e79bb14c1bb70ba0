// Model configuration from the reference YAML keys (DESIGN.md section 5). Every key the reference
// configs use is accepted; run-level keys are kept for other stages; an unknown key, a wrong type
// or an unknown backbone / head is a one-line error naming the file, line and valid choices.
import Foundation
import Yams
import Support

public struct ModelConfig: Sendable, Equatable {
    public var backbone: String
    public var nclass: Int
    public var decodeHead: String?
    public var multiGrid = false
    public var replaceStrideWithDilation = [false, false, true]
    public var lowChannels: Int?
    public var highChannels: Int?
    public var dilations = [6, 12, 18]
    public var inChannels: [Int]?
    public var channels: Int?
    // Our small-model additions.
    public var width: Double = 1
    public var headChannels: Int?
    public var reduceChannels = 48
    public var embedDims: Int?
    public var depths: [Int]?
    public var numHeads: [Int]?
    public var srRatios: [Int]?
    public var mlpRatio: Int?
    public var dropPathRate: Double?
    /// Head dropout (SegformerHead dropout_ratio, 0.1); 0 for parity tests.
    public var dropoutRatio: Double?
    // Run-level keys other stages read.
    public var cropSize: Int?
    public var cropSizeDct: Int?
    public var seed: UInt64?
    /// The weak augmentation's random scale range [lo, hi] (long side × lo…hi; ours, not the
    /// reference's key): nil keeps the reference's 0.5–2.0.
    public var scaleRange: [Double]?
    /// The strong augmentation's blur σ range [lo, hi] in pixels (ours, not the reference's key):
    /// nil keeps the reference's 0.1–2.0; hi 0 never blurs.
    public var blurSigmaRange: [Double]?
    /// A valid blur σ range (config key and dcot-train flag): 0 <= lo <= hi <= 50 pixels.
    public static func isBlurSigmaRange(_ lo: Double, _ hi: Double) -> Bool { lo >= 0 && lo <= hi && hi <= 50 }
    /// Every key as written (scalars as strings), for the run-level stages.
    public var raw: [String: String] = [:]
    /// The file it was read from, for errors found while building the model.
    public var source = "config"

    public init(backbone: String, nclass: Int) { (self.backbone, self.nclass) = (backbone, nclass) }

    public static let modelKeys = ["backbone", "nclass", "decode_head", "multi_grid", "replace_stride_with_dilation",
                                   "low_channels", "high_channels", "dilations", "in_channels", "channels",
                                   "width", "head_channels", "reduce_channels", "embed_dims", "depths", "num_heads",
                                   "sr_ratios", "mlp_ratio", "drop_path_rate", "dropout_ratio"]
    public static let runKeys = ["dataset", "crop_size", "crop_size_dct", "data_root", "epochs", "batch_size", "lr",
                                 "lr_multi", "criterion", "conf_thresh", "t", "optim", "gpus", "seed", "iterations",
                                 "scale_range", "blur_sigma_range"]
    public static var validKeys: [String] { modelKeys + runKeys }
    public static let backbones = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                   "resnet18_dct_64", "resnet34_dct_64", "resnet50_dct_64", "resnet101_dct_64",
                                   "resnet152_dct_64", "mit-b0", "mit-b1", "mit-b2", "mit-b3", "mit-b4", "mit-b5"]
    public static let decodeHeads = ["DeepLabV3PlusHead", "SegformerHead"]

    public static func load(_ path: String) throws -> ModelConfig {
        let bytes = try readFileBytes(path, what: "config")
        return try parse(String(decoding: bytes, as: UTF8.self), source: path)
    }

    public static func parse(_ yaml: String, source: String = "<config>") throws -> ModelConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw UserError(source, "not valid YAML (\(oneLine(error)))", fix: "fix the YAML syntax")
        }
        guard let mapping = root?.mapping else {
            throw UserError(source, "expected a mapping of keys to values", fix: "write one `key: value` per line")
        }
        var values: [String: Node] = [:]
        for (k, v) in mapping {
            let key = k.string ?? ""
            let at = "\(source):\((k.mark?.line).map(String.init) ?? "?")"
            guard validKeys.contains(key) else {
                throw UserError(at, "unknown key '\(key)'", fix: "valid keys are \(validKeys.joined(separator: ", "))")
            }
            guard values[key] == nil else { throw UserError(at, "key '\(key)' appears twice", fix: "keep one") }
            values[key] = v
        }
        func location(_ key: String) -> String { "\(source):\((values[key]?.mark?.line).map(String.init) ?? "?") \(key)" }
        func bad(_ key: String, _ expected: String) -> UserError {
            UserError(location(key), "expected \(expected), got '\(values[key].map { String(describing: $0.any) } ?? "")'",
                      fix: "write \(key) as \(expected)")
        }
        func int(_ key: String) throws -> Int? {
            guard let n = values[key] else { return nil }
            guard let v = n.int else { throw bad(key, "an integer") }
            return v
        }
        func double(_ key: String) throws -> Double? {
            guard let n = values[key] else { return nil }
            guard let v = n.float else { throw bad(key, "a number") }
            return v
        }
        func bool(_ key: String) throws -> Bool? {
            guard let n = values[key] else { return nil }
            guard let v = n.bool else { throw bad(key, "true or false") }
            return v
        }
        func ints(_ key: String) throws -> [Int]? {
            guard let n = values[key] else { return nil }
            guard let s = n.sequence else { throw bad(key, "a list of integers") }
            let v = s.compactMap(\.int)
            guard v.count == s.count else { throw bad(key, "a list of integers") }
            return v
        }
        guard let name = values["backbone"]?.string else {
            throw UserError(source, "missing key 'backbone'", fix: "add backbone: one of \(backbones.joined(separator: ", "))")
        }
        guard backbones.contains(name) else {
            throw UserError(location("backbone"), "unknown backbone '\(name)'", fix: "use one of \(backbones.joined(separator: ", "))")
        }
        guard let nclass = try int("nclass") else {
            throw UserError(source, "missing key 'nclass'", fix: "add nclass: the number of classes (background included)")
        }
        var c = ModelConfig(backbone: name, nclass: nclass)
        c.source = source
        if let h = values["decode_head"] {
            guard let s = h.string, decodeHeads.contains(s) else {
                throw UserError(location("decode_head"), "unknown decode_head '\(h.string ?? "")'",
                                fix: "use one of \(decodeHeads.joined(separator: ", "))")
            }
            c.decodeHead = s
        }
        c.multiGrid = try bool("multi_grid") ?? false
        if let n = values["replace_stride_with_dilation"] {
            guard let s = n.sequence, s.count == 3, s.allSatisfy({ $0.bool != nil }) else {
                throw bad("replace_stride_with_dilation", "a list of three booleans")
            }
            c.replaceStrideWithDilation = s.map { $0.bool! }
        }
        c.lowChannels = try int("low_channels")
        c.highChannels = try int("high_channels")
        if let d = try ints("dilations") {
            guard d.count == 3 else { throw bad("dilations", "three ASPP rates") }
            c.dilations = d
        }
        c.inChannels = try ints("in_channels")
        c.channels = try int("channels")
        c.width = try double("width") ?? 1
        c.headChannels = try int("head_channels")
        c.reduceChannels = try int("reduce_channels") ?? 48
        c.embedDims = try int("embed_dims")
        c.depths = try ints("depths")
        c.numHeads = try ints("num_heads")
        c.srRatios = try ints("sr_ratios")
        c.mlpRatio = try int("mlp_ratio")
        c.dropPathRate = try double("drop_path_rate")
        c.dropoutRatio = try double("dropout_ratio")
        c.cropSize = try int("crop_size")
        c.cropSizeDct = try int("crop_size_dct")
        func outOfRange<T>(_ key: String, _ value: T, _ range: ClosedRange<T>) -> UserError {
            if "\(range.upperBound)" == "\(Int.max)" {
                return UserError(location(key), "\(value) is less than \(range.lowerBound)", fix: "write \(key) as \(range.lowerBound) or more")
            }
            return UserError(location(key), "\(value) is outside \(range.lowerBound)...\(range.upperBound)", fix: "write \(key) in that range")
        }
        for (key, range) in ModelConfig.integerRanges {
            if let v = try int(key), !range.contains(v) { throw outOfRange(key, v, range) }
        }
        for (key, range) in ModelConfig.listRanges {
            if let v = try ints(key)?.first(where: { !range.contains($0) }) { throw outOfRange(key, v, range) }
        }
        for key in ["depths", "num_heads", "sr_ratios"] where name.hasPrefix("mit-") {
            if let v = try ints(key), v.count != 4 { throw bad(key, "4 entries, one per stage") }
        }
        for (key, range) in ModelConfig.numberRanges {
            if let v = try double(key), !range.contains(v) { throw outOfRange(key, v, range) }
        }
        c.seed = try int("seed").map { UInt64($0) }
        if let n = values["scale_range"] {
            guard let s = n.sequence, s.count == 2, let lo = s[0].float, let hi = s[1].float, lo > 0, lo <= hi else {
                throw bad("scale_range", "two positive numbers [lo, hi] with lo <= hi (the reference: [0.5, 2.0])")
            }
            c.scaleRange = [lo, hi]
        }
        if let n = values["blur_sigma_range"] {
            guard let s = n.sequence, s.count == 2, let lo = s[0].float, let hi = s[1].float, ModelConfig.isBlurSigmaRange(lo, hi) else {
                throw bad("blur_sigma_range", "two numbers [lo, hi] with 0 <= lo <= hi <= 50 (the reference: [0.1, 2.0]; [0, 0] never blurs)")
            }
            c.blurSigmaRange = [lo, hi]
        }
        for (k, v) in values { c.raw[k] = v.string ?? String(describing: v.any) }
        try c.validate(source: source)
        return c
    }

    /// Ranges of the integer keys (single values or every entry of a list): sizes the model can be
    /// built with on one machine, so a typo is an error naming the key instead of a trap or an
    /// allocation of terabytes. nclass stops at 254 because 255 is the ignore label.
    static let integerRanges: [(String, ClosedRange<Int>)] = [
        ("nclass", 1...254), ("low_channels", 1...65536), ("high_channels", 1...65536), ("channels", 1...8192),
        ("head_channels", 1...8192), ("reduce_channels", 1...8192), ("embed_dims", 1...1024), ("mlp_ratio", 1...16),
        ("crop_size", 8...4096), ("crop_size_dct", 2...1024), ("seed", 0...Int.max),
    ]
    static let listRanges: [(String, ClosedRange<Int>)] = [
        ("dilations", 1...256), ("in_channels", 1...65536), ("depths", 1...64), ("num_heads", 1...64), ("sr_ratios", 1...64),
    ]
    static let numberRanges: [(String, ClosedRange<Double>)] = [
        ("width", 0.01...4), ("drop_path_rate", 0...0.99), ("dropout_ratio", 0...0.99),
    ]

    public var isMiT: Bool { backbone.hasPrefix("mit-") }
    public var isDCT: Bool { backbone.contains("_dct") }
    public var resolvedHead: String { decodeHead ?? (isMiT ? "SegformerHead" : "DeepLabV3PlusHead") }

    func validate(source: String) throws {
        if isMiT && resolvedHead != "SegformerHead" || !isMiT && resolvedHead != "DeepLabV3PlusHead" {
            throw UserError(source, "decode_head \(resolvedHead) does not fit backbone \(backbone)",
                            fix: "use SegformerHead with mit-*, DeepLabV3PlusHead with resnet*")
        }
        guard (1...254).contains(nclass) else { throw UserError(source, "nclass must be 1 to 254", fix: "set nclass") }
        guard width > 0 && width <= 4 else { throw UserError(source, "width must be in (0, 4]", fix: "set width (1 = reference)") }
    }
}

extension Node {
    /// A plain value for error messages.
    var any: Any {
        if let s = sequence { return s.map { $0.any } }
        if let m = mapping { return m.map { "\($0.key.string ?? ""): \($0.value.any)" } }
        return string ?? ""
    }
}
