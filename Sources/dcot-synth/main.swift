// dcot-synth: a procedural VOC-layout segmentation dataset (deterministic given the seed).
import ArgumentParser
import Support
import Synth

struct DcotSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-synth",
        abstract: "Write a synthetic segmentation dataset in the Pascal VOC layout.",
        discussion: "Classes differ by shape and texture (not colour); images have clutter, occlusion, blur, noise and JPEG artefacts; masks carry a 255 band on object borders like VOC.")

    @Option(help: "Output dataset root.")
    var out: String
    @Option(help: "Training images.")
    var train: Int = 400
    @Option(help: "Validation images.")
    var val: Int = 100
    @Option(help: "Classes, background included (2...\(SynthRenderer.maxClasses)).")
    var classes: Int = 6
    @Option(name: .customLong("class-offset"),
            help: "Draw object class c from the catalogue's class c + N: datasets with different offsets have disjoint object classes (a pretraining stand-in).")
    var classOffset: Int = 0
    @Flag(name: .customLong("no-decoys"),
          help: "No background clutter in the shape and texture of catalogue classes the dataset lacks (a pretraining set then does not teach that other datasets' classes are background).")
    var noDecoys = false
    @Option(help: "Long side of each image in pixels.")
    var size: Int = 128
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(help: "Parallel workers (default: all cores).")
    var jobs: Int = ParallelWork.cores
    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        runReportingErrors {
            let o = SynthWriteOptions(config: SynthConfig(classes: classes, size: size, seed: seed, classOffset: classOffset, decoys: !noDecoys), train: train, val: val,
                                      out: out, jobs: max(1, jobs), quiet: quiet)
            print(try SynthDataset.write(o))
        }
    }
}

DcotSynth.main()
