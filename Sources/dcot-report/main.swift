// dcot-report: training run directories → a Markdown report with SVG curves and overlay panels.
import ArgumentParser
import Report
import Support

struct DcotReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcot-report",
        abstract: "Summarise training runs in one Markdown report: results table, per-run details, curves, overlays.",
        discussion: "Run directories are named <method>-<split>-crop<crop>-s<seed>; several seeds of a method and split are averaged (mean ± std). Figures are written to <report name>-figures/ next to the report; the main table is also printed.")

    @Option(help: "Report file (.md) to write.")
    var out: String
    @Option(help: "Report title.")
    var title: String = "dcot report"
    @Option(name: .customLong("note"), help: "A line under the title (repeatable).")
    var notes: [String] = []
    @Option(help: "Overlay panels per run and model (0: none).")
    var overlays: Int = 4
    @Argument(help: "Run directories (dcot-train --out).")
    var runs: [String] = []

    func run() throws {
        runReportingErrors {
            print(try Report.write(ReportOptions(runs: runs, out: out, title: title, notes: notes, overlays: overlays)))
        }
    }
}

DcotReport.main()
