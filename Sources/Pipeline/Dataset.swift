// Dataset kinds: where files live (layout), the classes, and how label files become class ids.
import Foundation
import ImageIO
import Shards
import Support

public enum DatasetKind: String, Sendable, CaseIterable {
    case pascal, cityscapes, generic
}

/// How bare ids map to files.
public struct DatasetLayout: Sendable {
    public let kind: DatasetKind
    public let root: String

    public init(kind: DatasetKind, root: String) {
        self.kind = kind
        self.root = root
    }

    /// A bare id as a list entry. Pascal/generic: JPEGImages/<id>.jpg and SegmentationClass/<id>.png
    /// (the mask only if it exists). Cityscapes: leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png
    /// with gtFine/.../<id>_gtFine_labelTrainIds.png (or _labelIds.png).
    public func resolve(id: String, line: Int) -> ListEntry {
        let fm = FileManager.default
        switch kind {
        case .pascal, .generic:
            let mask = "SegmentationClass/\(id).png"
            return ListEntry(id: id, image: "JPEGImages/\(id).jpg",
                             mask: fm.fileExists(atPath: "\(root)/\(mask)") ? mask : nil, line: line)
        case .cityscapes:
            let city = id.split(separator: "_").first.map(String.init) ?? id
            for split in ["train", "val", "test"] {
                let image = "leftImg8bit/\(split)/\(city)/\(id)_leftImg8bit.png"
                guard fm.fileExists(atPath: "\(root)/\(image)") else { continue }
                for suffix in ["labelTrainIds", "labelIds"] {
                    let mask = "gtFine/\(split)/\(city)/\(id)_gtFine_\(suffix).png"
                    if fm.fileExists(atPath: "\(root)/\(mask)") { return ListEntry(id: id, image: image, mask: mask, line: line) }
                }
                return ListEntry(id: id, image: image, mask: nil, line: line)
            }
            return ListEntry(id: id, image: "leftImg8bit/train/\(city)/\(id)_leftImg8bit.png", mask: nil, line: line)
        }
    }
}

public enum BuiltinClasses {
    public static let pascal = ClassList(
        names: ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
                "tvmonitor"],
        palette: (0..<21).map { [Int(VOCPalette.rgb[3 * $0]), Int(VOCPalette.rgb[3 * $0 + 1]), Int(VOCPalette.rgb[3 * $0 + 2])] })

    public static let cityscapes = ClassList(
        names: ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
                "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"],
        palette: [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
                  [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
                  [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]])

    /// Cityscapes labelId → trainId (cityscapesScripts); everything else is 255.
    public static let cityscapesTrainId: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        let pairs: [(Int, UInt8)] = [(7, 0), (8, 1), (11, 2), (12, 3), (13, 4), (17, 5), (19, 6), (20, 7), (21, 8),
                                     (22, 9), (23, 10), (24, 11), (25, 12), (26, 13), (27, 14), (28, 15), (31, 16),
                                     (32, 17), (33, 18)]
        for (id, train) in pairs { table[id] = train }
        return table
    }()

    /// Loads a classes.json (format dcot-classes).
    public static func load(_ path: String) throws -> ClassList {
        let bytes = try readFileBytes(path, what: "classes file")
        let list: ClassList
        do {
            list = try JSONDecoder().decode(ClassList.self, from: Data(bytes))
        } catch {
            throw UserError(path, "is not a valid classes file (\(error))",
                            fix: "write {\"format\": \"dcot-classes\", \"version\": 1, \"names\": [...], \"palette\": [[r,g,b], ...], \"ignore_index\": 255}")
        }
        guard list.format == "dcot-classes", list.version == 1 else {
            throw UserError(path, "format/version is \(list.format)/\(list.version), expected dcot-classes/1",
                            fix: "regenerate it (dcot-synth writes one) or fix the header fields")
        }
        guard !list.names.isEmpty, list.names.count <= 255, list.palette.count == list.names.count else {
            throw UserError(path, "needs 1...255 names and one palette colour per name",
                            fix: "make 'names' and 'palette' the same length")
        }
        return list
    }
}
