// dcot-prep: decode every listed image and mask, validate them, and write zstd-framed shards plus
// a manifest (written last). Work is parallel over --jobs; shard assignment depends only on the
// list order, so the output is identical for any job count.
import Foundation
import ImageIO
import Shards
import Support

public struct PrepOptions: Sendable {
    public var dataset: DatasetKind
    public var root: String
    public var lists: [String]
    public var out: String
    public var dct = false
    public var jobs = ParallelWork.cores
    public var shardMB = 256.0
    public var force = false
    public var classesFile: String?
    public var mapVOCColours = false
    public var level = ShardFormat.defaultLevel
    public var quiet = false

    public init(dataset: DatasetKind, root: String, lists: [String], out: String) {
        self.dataset = dataset
        self.root = root
        self.lists = lists
        self.out = out
    }
}

public struct PrepSummary: Sendable, CustomStringConvertible {
    public var samples = 0
    public var labeled = 0
    public var withDCT = 0
    public var shards = 0
    public var bytes = 0
    public var seconds = 0.0
    public var upToDate = false
    public var out = ""

    public var description: String {
        if upToDate { return "dcot-prep: \(out) is up to date (\(samples) samples); nothing to do (--force rebuilds)" }
        let rate = seconds > 0 ? Double(samples) / seconds : 0
        return String(format: "dcot-prep: %d samples (%d labeled, %d with DCT) in %d shards, %.1f MB, %.1f s, %.1f images/s → %@",
                      samples, labeled, withDCT, shards, Double(bytes) / 1e6, seconds, rate, out)
    }
}

public enum Prep {
    public static func run(_ o: PrepOptions, commandLine: String) throws -> PrepSummary {
        let classes = try resolveClasses(o)
        let layout = DatasetLayout(kind: o.dataset, root: o.root)
        let entries = try gatherEntries(o.lists, layout: layout)
        guard !entries.isEmpty else {
            throw UserError(o.lists.joined(separator: ", "), "the lists contain no samples", fix: "give a list with at least one line")
        }
        try checkOutputDirectory(o.out)
        let inputsHash = try hashInputs(o, classes: classes, entries: entries)
        if !o.force, let old = try? Manifest.load(directory: o.out), old.inputs_sha256 == inputsHash {
            var s = PrepSummary()
            s.samples = old.samples.count
            s.upToDate = true
            s.out = o.out
            return s
        }
        try makeDirectory(o.out)
        // An old manifest would describe shards we are about to replace: drop it first.
        try? FileManager.default.removeItem(atPath: "\(o.out)/\(Manifest.fileName)")

        let rules = LabelRules(dataset: o.dataset, classCount: classes.count,
                               colourPalette: o.mapVOCColours ? classPaletteBytes(classes) : nil)
        let progress = Progress(total: entries.count, label: "dcot-prep", quiet: o.quiet)
        let start = Date()
        let shardBytes = max(1, Int(o.shardMB * 1e6))
        let batch = max(64, o.jobs * 16)
        let workers = (0..<max(1, o.jobs)).map { _ in (JPEGCodec(), Zstd.Context()) }
        let workerLock = NSLock()
        var freeWorkers = Array(workers.indices)

        var summary = PrepSummary()
        summary.out = o.out
        var output = ShardAccumulator(directory: o.out, dataset: o.dataset.rawValue, targetBytes: shardBytes, level: o.level)

        var first = 0
        while first < entries.count {
            let chunk = Array(entries[first..<min(first + batch, entries.count)])
            let results = try ParallelWork.map(chunk.count, jobs: o.jobs) { i -> (EncodedSample, Manifest.Sample) in
                workerLock.lock()
                let w = freeWorkers.removeLast()
                workerLock.unlock()
                defer {
                    workerLock.lock()
                    freeWorkers.append(w)
                    workerLock.unlock()
                }
                let r = try process(chunk[i], root: o.root, rules: rules, dct: o.dct, level: o.level,
                                    codec: workers[w].0, zstd: workers[w].1)
                progress.advance()
                return r
            }
            for (encoded, info) in results {
                if info.has_label { summary.labeled += 1 }
                if info.has_dct { summary.withDCT += 1 }
                try output.add(encoded, info)
            }
            first += chunk.count
        }
        try output.flush()
        progress.finish()
        try removeStaleShards(o.out, keep: Set(output.shards.map(\.file)))
        let manifest = Manifest(dataset: o.dataset.rawValue, classes: classes, sourceRoot: o.root, createdBy: commandLine,
                                shards: output.shards, samples: output.samples, inputsSHA256: inputsHash)
        try manifest.write(to: o.out)
        summary.samples = entries.count
        summary.shards = output.shards.count
        summary.bytes = output.bytes
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Decodes, validates and compresses one sample (runs on a worker).
    static func process(_ e: ListEntry, root: String, rules: LabelRules, dct: Bool, level: Int32,
                        codec: JPEGCodec, zstd: Zstd.Context) throws -> (EncodedSample, Manifest.Sample) {
        let imagePath = "\(root)/\(e.image)"
        let imageBytes = try readFileBytes(imagePath, what: "image")
        let image = try SampleDecoding.image(imageBytes, path: imagePath, codec: codec)
        var sha = SHA256()
        sha.update(imageBytes)
        var tensors = [SampleTensor(key: "image", dtype: .U8, shape: [image.height, image.width, 3], bytes: image.pixels)]
        if let mask = e.mask {
            let maskPath = "\(root)/\(mask)"
            let maskBytes = try readFileBytes(maskPath, what: "label mask")
            sha.update(maskBytes)
            let label = try SampleDecoding.label(maskBytes, path: maskPath, imageWidth: image.width,
                                                 imageHeight: image.height, imagePath: imagePath, rules: rules)
            tensors.append(SampleTensor(key: "label", dtype: .U8, shape: [label.height, label.width], bytes: label.labels))
        }
        if dct {
            let c = DCTTransform.coefficients(image)
            tensors.append(SampleTensor(key: "dct", dtype: .I16, shape: [DCTTransform.channels, c.height, c.width], values: c.values))
        }
        let encoded = EncodedSample(id: e.id, tensors: tensors, level: level, context: zstd)
        let info = Manifest.Sample(shard: "", offset: 0, length: 0, height: image.height, width: image.width,
                                   has_label: e.mask != nil, has_dct: dct, source_sha256: sha.finalize())
        return (encoded, info)
    }

    static func resolveClasses(_ o: PrepOptions) throws -> ClassList {
        if let file = o.classesFile { return try BuiltinClasses.load(file) }
        switch o.dataset {
        case .pascal: return BuiltinClasses.pascal
        case .cityscapes: return BuiltinClasses.cityscapes
        case .generic:
            let path = "\(o.root)/classes.json"
            guard FileManager.default.fileExists(atPath: path) else {
                throw UserError(path, "not found: --dataset generic takes its classes from classes.json in the root",
                                fix: "write one (see README, 'File formats') or pass --classes FILE")
            }
            return try BuiltinClasses.load(path)
        }
    }

    static func classPaletteBytes(_ c: ClassList) -> [UInt8] {
        c.palette.flatMap { $0.map { UInt8(clamping: $0) } }
    }

    /// Entries of all lists; an id in two lists must name the same files.
    static func gatherEntries(_ lists: [String], layout: DatasetLayout) throws -> [ListEntry] {
        var all = [ListEntry]()
        var index = [String: (ListEntry, String)]()
        for list in lists {
            for e in try IdList.read(list, layout: layout) {
                if let (prev, prevList) = index[e.id] {
                    if prev.image != e.image || (prev.mask != nil && e.mask != nil && prev.mask != e.mask) {
                        throw UserError("\(list):\(e.line)", "id '\(e.id)' names other files than in \(prevList):\(prev.line)",
                                        fix: "make the lists agree, or rename one of the images")
                    }
                    if prev.mask == nil, e.mask != nil, let k = all.firstIndex(where: { $0.id == e.id }) {
                        all[k].mask = e.mask // the labelled line wins
                        index[e.id] = (all[k], list)
                    }
                    continue
                }
                index[e.id] = (e, list)
                all.append(e)
            }
        }
        return all
    }

    /// The output must be new, empty, or one of ours (manifest, shards, temp files).
    public static func checkOutputDirectory(_ out: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDir) else { return }
        guard isDir.boolValue else {
            throw UserError(out, "exists and is not a directory", fix: "choose another --out")
        }
        let foreign = (try? fm.contentsOfDirectory(atPath: out))?.filter {
            !($0 == Manifest.fileName || $0.hasSuffix(".\(ShardFormat.fileExtension)") || $0.hasPrefix("."))
        } ?? []
        if let f = foreign.sorted().first {
            throw UserError(out, "is not a dcot-prep output directory (it contains '\(f)')",
                            fix: "choose a new or empty --out directory; dcot-prep never deletes files it did not write")
        }
    }

    static func removeStaleShards(_ out: String, keep: Set<String>) throws {
        let fm = FileManager.default
        for f in (try? fm.contentsOfDirectory(atPath: out)) ?? []
        where f.hasSuffix(".\(ShardFormat.fileExtension)") && !keep.contains(f) {
            try? fm.removeItem(atPath: "\(out)/\(f)")
        }
    }

    /// A cheap fingerprint of everything that determines the output: options, classes, and each
    /// entry's paths with file size and modification time.
    static func hashInputs(_ o: PrepOptions, classes: ClassList, entries: [ListEntry]) throws -> String {
        var h = SHA256()
        let fm = FileManager.default
        func add(_ s: String) { h.update(Array(s.utf8) + [0]) }
        add("dcot-prep/\(ShardFormat.version)/\(o.dataset.rawValue)/dct=\(o.dct)/level=\(o.level)/mb=\(o.shardMB)/map=\(o.mapVOCColours)")
        add(classes.names.joined(separator: ","))
        add(classes.palette.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";"))
        for e in entries {
            add("\(e.id)|\(e.image)|\(e.mask ?? "")")
            for rel in [e.image, e.mask].compactMap({ $0 }) {
                let attrs = try? fm.attributesOfItem(atPath: "\(o.root)/\(rel)")
                let size = (attrs?[.size] as? NSNumber)?.intValue ?? -1
                let mtime = (attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
                add("\(size)@\(mtime)")
            }
        }
        return h.finalize()
    }
}
