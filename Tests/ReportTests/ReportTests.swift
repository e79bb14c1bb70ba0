import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import Report
import Support

final class ReportTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dcot-report-\(UUID().uuidString)"
        try makeDirectory(root)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: - Fixtures

    /// A run directory under `root` with these metrics lines and optional extras.
    private func makeRun(_ name: String, _ lines: [String], evalFiles: [String: Double] = [:], config: String? = nil,
                         overlays: [String: Int] = [:]) throws -> String {
        let dir = "\(root)/runs/\(name)"
        try makeDirectory(dir)
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: "\(dir)/metrics.jsonl")
        for (model, miou) in evalFiles {
            try AtomicFile.write(#"{"format": "dcot-metrics", "miou": \#(miou), "images": 10}"#, to: "\(dir)/eval-\(model).json")
        }
        if let config { try AtomicFile.write(config, to: "\(dir)/config.yaml") }
        for (model, n) in overlays {
            try makeDirectory("\(dir)/overlays-\(model)")
            for i in 0..<n { try AtomicFile.write([0x89, 0x50], to: String(format: "\(dir)/overlays-\(model)/val_%05d.png", i)) }
        }
        return dir
    }

    private func step(_ it: Int, _ losses: [String: (Double, Double?)], seconds: Double) -> String {
        let loss = losses.sorted { $0.key < $1.key }.map { m, l in
            "\"\(m)\": {\"sup\": \(l.0)" + (l.1.map { ", \"unsup\": \($0)" } ?? "") + "}"
        }.joined(separator: ", ")
        return #"{"kind": "step", "iteration": \#(it), "epoch": 0, "lr": 0.01, "loss": {\#(loss)}, "seconds": \#(seconds), "data_wait_seconds": 1e-05}"#
    }

    private func eval(_ it: Int, _ model: String, _ miou: Double) -> String {
        #"{"kind": "eval", "iteration": \#(it), "model": "\#(model)", "miou": \#(miou), "protocol": "original", "per_class_iou": [0.5, 0.1]}"#
    }

    private let twoConfigs = "# configs/a.yaml\n# comment\nnclass: 3\nbackbone: resnet18\n\n---\n# configs/b.yaml\nbackbone: mit-b0  # small\n"

    /// Co-training seed 0: a resumed run (iteration 10 and the m2 eval logged twice; the last lines win).
    private func cotrainingSeed0() throws -> String {
        try makeRun("cot+x-25-crop64-s0", [
            step(0, ["m1": (2.0, 1.0), "m2": (2.1, 1.1)], seconds: 3.0),
            step(10, ["m1": (9.0, 9.0), "m2": (9.0, 9.0)], seconds: 9.0),
            eval(9, "m1", 40), eval(9, "m2", 99),
            #"{"kind": "resume", "iteration": 10}"#,
            step(10, ["m1": (1.0, 0.5), "m2": (1.2, 0.6)], seconds: 0.5),
            eval(9, "m2", 45),
            step(19, ["m1": (0.8, 0.4), "m2": (0.9, 0.5)], seconds: 0.7),
            eval(19, "m1", 50), eval(19, "m2", 55),
        ], evalFiles: ["m1": 60], config: twoConfigs, overlays: ["m1": 5, "m2": 5])
    }

    // MARK: - Tests

    func testRunNameParsesFromTheRight() {
        XCTAssertEqual(RunName(parsing: "cnn+cnn-dct+mit-25-crop64-s0"), RunName(method: "cnn+cnn-dct+mit", split: "25", seed: 0))
        XCTAssertEqual(RunName(parsing: "sup-cnn-100-crop64-s2"), RunName(method: "sup-cnn", split: "100", seed: 2))
        XCTAssertEqual(RunName(parsing: "segformer-b2+r50-dct-1_16-crop321-s0"),
                       RunName(method: "segformer-b2+r50-dct", split: "1_16", seed: 0))
        XCTAssertEqual(RunName(parsing: "2cps-100"), RunName(method: "2cps-100", split: "-", seed: 0))
        XCTAssertEqual(RunName(parsing: "x-25-cropA-s1"), RunName(method: "x-25-cropA-s1", split: "-", seed: 0))
    }

    func testRunRecordKeepsTheLastDuplicate() throws {
        let run = try RunRecord.load(try cotrainingSeed0())
        XCTAssertEqual(run.steps.map(\.iteration), [0, 10, 19])
        XCTAssertEqual(run.steps[1].loss["m1"], LossTerms(sup: 1.0, unsup: 0.5))
        XCTAssertEqual(run.evals["m2"]?.map(\.miou), [45, 55])
        XCTAssertEqual(run.models, ["m1", "m2"])
        XCTAssertEqual(run.backbone(of: "m1"), "resnet18")
        XCTAssertEqual(run.backbone(of: "m2"), "mit-b0")
        XCTAssertEqual(run.summary(of: "m1").best, 60, "eval-m1.json wins over the rows")
        XCTAssertEqual(run.summary(of: "m1").bestRow?.iteration, 19)
        XCTAssertEqual(run.summary(of: "m2").best, 55)
        XCTAssertEqual(run.bestModel?.model, "m1")
        XCTAssertEqual(run.iterations, 20)
        XCTAssertEqual(run.secondsPerIteration!, 0.6, accuracy: 1e-12, "mean of the steps after the first")
    }

    /// Models after the configs' are EMA teachers: of m(K - n) for co-training with --ema-teachers,
    /// the student's for a one-config Mean Teacher run.
    func testModelsAfterTheConfigsAreEMATeachers() throws {
        let cps = try RunRecord.load(try makeRun("cnn+mit-8-crop96-s0", [eval(9, "m1", 40), eval(9, "m3", 41), eval(9, "m4", 30)],
                                                 config: twoConfigs))
        XCTAssertEqual(cps.backbone(of: "m3"), "resnet18 EMA teacher of m1")
        XCTAssertEqual(cps.backbone(of: "m4"), "mit-b0 EMA teacher of m2")
        XCTAssertNil(cps.backbone(of: "m5"))
        let mt = try RunRecord.load(try makeRun("mt-cnn-8-crop96-s0", [eval(9, "m2", 40)], config: "backbone: resnet18\n"))
        XCTAssertEqual(mt.backbone(of: "m2"), "resnet18 EMA teacher")
    }

    func testNonFiniteLossesAreRead() throws {
        let dir = try makeRun("div-25-crop64-s0", [
            #"{"kind": "step", "iteration": 0, "loss": {"m1": {"sup": nan, "unsup": -inf}}, "agreement": nan, "seconds": 1.0}"#,
        ])
        let run = try RunRecord.load(dir)
        XCTAssertTrue(run.steps[0].loss["m1"]!.sup.isNaN)
        XCTAssertEqual(run.steps[0].loss["m1"]!.unsup?.isNaN, true)
    }

    /// The paper's method names from make's MODELS strings.
    func testPaperMethodNames() {
        XCTAssertEqual(MethodName.paper("sup-cnn"), "SupOnly (sup-cnn)")
        XCTAssertEqual(MethodName.paper("cnn+cnn"), "CPS (cnn+cnn)")
        XCTAssertEqual(MethodName.paper("r101+r101+r101"), "3-CPS (r101+r101+r101)")
        XCTAssertEqual(MethodName.paper("mt-r101"), "MT (mt-r101)")
        XCTAssertEqual(MethodName.paper("cutmix-cnn"), "CutMix-Seg (cutmix-cnn)")
        XCTAssertEqual(MethodName.paper("stpp-r50-dct"), "ST++ (stpp-r50-dct)")
        XCTAssertEqual(MethodName.paper("segformer-b2+r50-dct"), "2-cps (segformer-b2+r50-dct)")
        XCTAssertEqual(MethodName.paper("cnn+cnn-dct+mit"), "3-cps (cnn+cnn-dct+mit)")
        XCTAssertEqual(MethodName.paper("my-run"), "my-run")
        XCTAssertEqual(MethodName.paper("sup-"), "sup-")
    }

    func testStats() {
        let (mean, std) = Stats.meanAndStd([60, 62])
        XCTAssertEqual(mean, 61)
        XCTAssertEqual(std!, 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertNil(Stats.meanAndStd([1]).std)
        XCTAssertEqual(Stats.exponentialMovingAverage([1, 2, 2], alpha: 0.1), [1, 1.1, 1.1 * 0.9 + 0.2])
    }

    func testReportTableFiguresAndLinks() throws {
        let s0 = try cotrainingSeed0()
        let s1 = try makeRun("cot+x-25-crop64-s1", [
            step(0, ["m1": (2.0, 1.0), "m2": (2.0, 1.0)], seconds: 1.0),
            eval(9, "m1", 58), eval(9, "m2", 62), eval(19, "m1", 57),
        ], overlays: ["m1": 2])
        let sup25 = try makeRun("sup-25-crop64-s0", [step(0, ["m1": (1.5, nil)], seconds: 1.0), eval(19, "m1", 30.5)])
        let sup100 = try makeRun("sup-100-crop64-s0", [step(0, ["m1": (1.5, nil)], seconds: 1.0), eval(19, "m1", 70.25)])
        let out = "\(root)/out/sub/report.md"
        let text = try Report.write(ReportOptions(runs: [s0, s1, sup25, sup100, s0], out: out, title: "Test", notes: ["a note"]))

        // The main table: methods × splits in command-line order; best over models; mean ± std over seeds.
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| ") }.map {
            $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertEqual(rows, [["method", "25", "100"], ["2-cps (cot+x)", "61.00 ± 1.41", "–"], ["sup", "30.50", "70.25"]])
        XCTAssertTrue(text.contains("cot+x / 25: 2 (0, 1)"), text)

        let report = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(report.hasPrefix("# Test\n\na note\n"))
        XCTAssertTrue(report.contains(text), "stdout text is the report's")
        XCTAssertTrue(report.contains("m2 (mit-b0)"))

        // Figures: one mIoU chart per split, one loss chart per run; all well-formed XML.
        let figures = "\(root)/out/sub/report-figures"
        let svgs = try FileManager.default.contentsOfDirectory(atPath: figures).sorted()
        XCTAssertEqual(svgs, ["loss-cot+x-25-crop64-s0.svg", "loss-cot+x-25-crop64-s1.svg", "loss-sup-100-crop64-s0.svg",
                              "loss-sup-25-crop64-s0.svg", "miou-100.svg", "miou-25.svg"])
        for svg in svgs {
            let data = try XCTUnwrap(FileManager.default.contents(atPath: "\(figures)/\(svg)"))
            let parser = XMLParser(data: data)
            XCTAssertTrue(parser.parse(), "\(svg): \(String(describing: parser.parserError))")
        }
        let lossSup = try String(contentsOfFile: "\(figures)/loss-sup-25-crop64-s0.svg", encoding: .utf8)
        XCTAssertFalse(lossSup.contains("unsup"), "a supervised run has no unsup series")
        let lossCot = try String(contentsOfFile: "\(figures)/loss-cot+x-25-crop64-s0.svg", encoding: .utf8)
        XCTAssertTrue(lossCot.contains("m2 unsup") && lossCot.contains("stroke-dasharray"))
        XCTAssertTrue(try String(contentsOfFile: "\(figures)/miou-100.svg", encoding: .utf8).contains("<circle"), "one point: a marker")

        // Every link is relative to the report's directory and points at an existing file.
        let links = try NSRegularExpression(pattern: #"\]\(([^)]+)\)"#)
            .matches(in: report, range: NSRange(report.startIndex..., in: report))
            .map { String(report[Range($0.range(at: 1), in: report)!]) }
        XCTAssertFalse(links.isEmpty)
        for link in links {
            XCTAssertFalse(link.hasPrefix("/") || link.contains("://"), link)
            let path = "\(root)/out/sub/" + link.removingPercentEncoding!
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), link)
        }
        // Overlays: the first 4 panels of the first seed's m1 (its best model), none of seed 1.
        let panels = links.filter { $0.contains("overlays-") }
        XCTAssertEqual(panels, (0..<4).map { "../../runs/cot+x-25-crop64-s0/overlays-m1/val_0000\($0).png" })
        XCTAssertTrue(report.contains("*cot+x-25-crop64-s0 m1: image | ground truth | prediction*"))
    }

    func testErrorsNameTheFileAndLine() throws {
        let out = "\(root)/report.md"
        let bad = try makeRun("bad-25-crop64-s0", [step(0, ["m1": (1, nil)], seconds: 1), #"{"kind": "step", "iteration": "#])
        XCTAssertThrowsError(try Report.write(ReportOptions(runs: [bad], out: out))) { error in
            XCTAssertEqual((error as? UserError)?.location, "\(bad)/metrics.jsonl:2")
        }
        let noEvalMiou = try makeRun("bad-25-crop64-s1", [step(0, ["m1": (1, nil)], seconds: 1), #"{"kind": "eval", "iteration": 3}"#])
        XCTAssertThrowsError(try Report.write(ReportOptions(runs: [noEvalMiou], out: out))) { error in
            XCTAssertEqual((error as? UserError)?.location, "\(noEvalMiou)/metrics.jsonl:2")
        }
        try makeDirectory("\(root)/empty")
        XCTAssertThrowsError(try Report.write(ReportOptions(runs: ["\(root)/empty"], out: out))) { error in
            XCTAssertEqual((error as? UserError)?.location, "\(root)/empty/metrics.jsonl")
        }
        XCTAssertThrowsError(try Report.write(ReportOptions(runs: [], out: out))) { error in
            XCTAssertTrue("\(error)".contains("no run directories"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no report after an error")
    }
}
