// dcot-split: labeled/unlabeled partitions (drawn with a seed, or imported and validated).
import ArgumentParser
import Pipeline
import Support

struct DcotSplit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-split",
        abstract: "Write labeled.txt and unlabeled.txt for a train list.",
        discussion: "Labeled ids are the first N of one seeded permutation, so fractions are nested for a seed. Always checked: no overlap, every id in the train list, no duplicates, no validation id.")

    @Option(help: "Train id list.")
    var list: String
    @Option(help: "Validation list (its ids must not appear in the partition).")
    var val: String?
    @Option(help: "Number of labeled ids (e.g. 92, 183, 366, 732, 1464).")
    var labeled: Int?
    @Option(help: "Labeled fraction of the list, rounded up (e.g. 1/16 or 1_16).")
    var fraction: String?
    @Option(help: "Draw labeled ids from this subset of the train list (e.g. VOC's 1464 train.txt).")
    var base: String?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(name: .customLong("import"), help: "Validate and normalise a published partition directory (labeled.txt [+ unlabeled.txt]).")
    var importDirectory: String?
    @Option(help: "Dataset layout used to resolve bare ids: pascal | cityscapes | generic.")
    var dataset: String = "pascal"
    @Option(help: "Dataset root (to resolve bare ids to files).")
    var root: String = "."
    @Option(help: "Output directory.")
    var out: String

    func run() throws {
        runReportingErrors {
            guard let kind = DatasetKind(rawValue: dataset) else {
                throw UserError("--dataset \(dataset)", "unknown dataset kind",
                                fix: "use one of \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var o = SplitOptions(list: list, out: out, layout: DatasetLayout(kind: kind, root: root))
            o.val = val
            o.base = base
            o.seed = seed
            o.importDirectory = importDirectory
            let choices = [labeled != nil, fraction != nil, importDirectory != nil].filter { $0 }.count
            guard choices == 1 else {
                throw UserError("dcot-split", "give exactly one of --labeled, --fraction, --import", fix: "see dcot-split --help")
            }
            if let labeled {
                guard labeled >= 1 else { throw UserError("--labeled \(labeled)", "must be at least 1", fix: "pass a positive count") }
                o.size = .count(labeled)
            }
            if let fraction { o.size = try SplitSize.parse(fraction: fraction) }
            print(try Split.run(o))
        }
    }
}

DcotSplit.main()
