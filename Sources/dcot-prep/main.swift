// dcot-prep: images + masks from id lists → zstd-framed shards + manifest.json.
import ArgumentParser
import Foundation
import Pipeline
import Shards
import Support

struct DcotPrep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-prep",
        abstract: "Decode, validate and shard a dataset (optionally with DCT inputs).",
        discussion: "Rerunning with unchanged inputs does nothing unless --force. The manifest is written last: a directory without one is unfinished.")

    @Option(help: "pascal | cityscapes | generic (classes from ROOT/classes.json or --classes)")
    var dataset: String
    @Option(help: "Dataset root; list paths are relative to it.")
    var root: String
    @Option(name: .customLong("list"), help: "Id list (repeatable): 'IMAGE [MASK]' lines or bare ids.")
    var lists: [String]
    @Option(help: "Output shard directory.")
    var out: String
    @Flag(help: "Also store each full image's DCT coefficients (Int16 [64, H/4, W/4]).")
    var dct = false
    @Option(help: "Parallel workers (default: all cores).")
    var jobs: Int = ParallelWork.cores
    @Option(name: .customLong("shard-mb"), help: "Target compressed shard size in MB.")
    var shardMB: Double = 256
    @Flag(help: "Rebuild even if the inputs are unchanged.")
    var force = false
    @Option(help: "classes.json to use instead of the built-in classes.")
    var classes: String?
    @Flag(name: .customLong("map-voc-colours"), help: "Accept RGB colour masks, mapping palette colours to class indices.")
    var mapVOCColours = false
    @Option(name: .customLong("zstd-level"), help: "zstd compression level.")
    var zstdLevel: Int32 = ShardFormat.defaultLevel
    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        runReportingErrors {
            Allocator.tuneForLargeBuffers()
            guard let kind = DatasetKind(rawValue: dataset) else {
                throw UserError("--dataset \(dataset)", "unknown dataset kind",
                                fix: "use one of \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard jobs >= 1, shardMB > 0 else {
                throw UserError("dcot-prep", "--jobs and --shard-mb must be positive", fix: "pass positive values")
            }
            var o = PrepOptions(dataset: kind, root: root, lists: lists, out: out)
            o.dct = dct
            o.jobs = jobs
            o.shardMB = shardMB
            o.force = force
            o.classesFile = classes
            o.mapVOCColours = mapVOCColours
            o.level = zstdLevel
            o.quiet = quiet
            let summary = try Prep.run(o, commandLine: CommandLine.arguments.joined(separator: " "))
            print(summary)
        }
    }
}

DcotPrep.main()
