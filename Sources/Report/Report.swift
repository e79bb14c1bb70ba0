// dcot-report's entry point: training run directories → one Markdown report (results table like a
// paper's, per-run details, SVG curves, prediction overlays). Figures go to `<report>-figures/` next
// to the report and every link is relative to the report's directory, so the pair can be moved or
// committed together. The report is written last, atomically, after the figures it links.
import Foundation
import Support

public struct ReportOptions: Sendable {
    /// Run directories (dcot-train --out), in the order methods and splits should appear.
    public var runs: [String]
    /// The Markdown file to write.
    public var out: String
    public var title: String
    /// Lines under the title, one paragraph each.
    public var notes: [String]
    /// Overlay panels per run and model (0: no overlay section).
    public var overlays: Int

    public init(runs: [String], out: String, title: String = "dcot report", notes: [String] = [], overlays: Int = 4) {
        self.runs = runs
        self.out = out
        self.title = title
        self.notes = notes
        self.overlays = overlays
    }
}

public enum Report {
    /// Writes the figures and the report; returns the main table with its footnote (the report's text).
    public static func write(_ o: ReportOptions) throws -> String {
        guard !o.runs.isEmpty else {
            throw UserError("dcot-report", "no run directories given",
                            fix: "pass run directories (dcot-train --out) after the options, e.g. cache/demo/runs/*-s0")
        }
        guard o.overlays >= 0 else { throw UserError("--overlays", "must be 0 or more", fix: "pass a count, 0 for none") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: o.out, isDirectory: &isDirectory), isDirectory.boolValue {
            throw UserError(o.out, "is a directory", fix: "give the report's file name, e.g. \(o.out)/report.md")
        }
        let runs = try loadRuns(o.runs)
        var figures = try Figures(report: o.out)
        let grid = Grid(runs)
        let results = grid.resultsTable()

        var parts = ["# \(o.title)"] + o.notes
        parts += ["## Results", results]
        parts += ["## Runs", detailTable(runs, figures)]
        parts += try miouCurves(grid, &figures)
        parts += try lossCurves(runs, &figures)
        parts += overlaySection(grid, figures, count: o.overlays)
        try AtomicFile.write(parts.joined(separator: "\n\n") + "\n", to: o.out)
        return results
    }

    /// Reads every run once (a directory given twice counts once).
    static func loadRuns(_ paths: [String]) throws -> [RunRecord] {
        var seen = Set<String>()
        return try paths.filter { seen.insert(canonicalPath($0)).inserted }.map(RunRecord.load)
    }

    // MARK: - Tables

    /// Per run and model: backbone, best and last validation mIoU, length and speed.
    static func detailTable(_ runs: [RunRecord], _ figures: Figures) -> String {
        var rows = [[String]]()
        for run in runs {
            let name = "[\(run.name)](\(figures.link(to: run.path)))"
            let iterations = "\(run.iterations)"
            let speed = run.secondsPerIteration.map { String(format: "%.3f", $0) } ?? "–"
            if run.models.isEmpty { rows.append([name, "–", "–", "–", iterations, speed]) }
            for model in run.models {
                let s = run.summary(of: model)
                let label = run.backbone(of: model).map { "\(model) (\($0))" } ?? model
                let best = percent(s.best) + (s.bestRow.map { " (it \($0.iteration))" } ?? "")
                let last = s.lastRow.map { "\(percent($0.miou)) (it \($0.iteration))" } ?? "–"
                rows.append([name, label, best, last, iterations, speed])
            }
        }
        let table = markdownTable(header: ["run", "model", "best mIoU", "last eval mIoU", "iterations", "s/iteration"], rows: rows)
        return table + "\n\n" + "best mIoU: eval-mK.json (dcot-eval of the best checkpoint) when present, else the best validation "
            + "row of metrics.jsonl; (it N): the iteration of the best / last validation row. iterations: last logged + 1. "
            + "s/iteration: mean over the logged steps after the first (warm-up)."
    }

    // MARK: - Curves

    /// Per split, validation mIoU against iteration: one series per (run, model).
    static func miouCurves(_ grid: Grid, _ figures: inout Figures) throws -> [String] {
        var parts = ["## Validation mIoU"]
        for split in grid.splits {
            var series = [ChartSeries]()
            for run in grid.runs where run.parsed.split == split {
                for model in run.models {
                    guard let rows = run.evals[model], !rows.isEmpty else { continue }
                    let label = "\(grid.seriesName(run)) \(model)" + (run.backbone(of: model).map { " (\($0))" } ?? "")
                    let i = series.count
                    series.append(ChartSeries(label: label, points: rows.map { (Double($0.iteration), $0.miou) },
                                              colour: i, dashed: (i / LineChart.palette.count) % 2 == 1))
                }
            }
            guard !series.isEmpty else { continue }
            let title = "validation mIoU vs iteration, \(Grid.splitTitle(split))"
            let chart = LineChart(title: title, xLabel: "iteration", yLabel: "mIoU (%)", series: series, minimumYSpan: 1)
            parts.append("![\(title)](\(try figures.write(chart, name: "miou-\(split == "-" ? "other" : slug(split))")))")
        }
        return parts.count > 1 ? parts : []
    }

    /// Per run, the training losses (EMA, α = 0.1) against iteration: `mK sup` solid, `mK unsup` dashed.
    static func lossCurves(_ runs: [RunRecord], _ figures: inout Figures) throws -> [String] {
        var parts = ["## Training loss"]
        for run in runs where !run.steps.isEmpty {
            var series = [ChartSeries]()
            for (k, model) in run.models.enumerated() {
                let terms = run.steps.compactMap { s in s.loss[model].map { (Double(s.iteration), $0) } }
                guard !terms.isEmpty else { continue }
                series.append(ChartSeries(label: "\(model) sup", points: smoothed(terms.map { ($0.0, $0.1.sup) }), colour: k))
                // Supervised runs log no unsup term, or 0.0: a flat zero line would only hide the scale.
                let unsup = terms.compactMap { t in t.1.unsup.map { (t.0, $0) } }
                if unsup.contains(where: { $0.1 != 0 }) {
                    series.append(ChartSeries(label: "\(model) unsup", points: smoothed(unsup), colour: k, dashed: true))
                }
            }
            guard !series.isEmpty else { continue }
            let title = "training loss vs iteration, \(run.name)"
            let chart = LineChart(title: title, xLabel: "iteration", yLabel: "loss (EMA, α = 0.1)", series: series)
            parts.append("![\(title)](\(try figures.write(chart, name: "loss-\(slug(run.name))")))")
        }
        return parts.count > 1 ? parts : []
    }

    /// Exponential moving average (α = 0.1) over the finite values: a diverged step does not poison the rest.
    static func smoothed(_ points: [(Double, Double)]) -> [(x: Double, y: Double)] {
        let finite = points.filter { $0.1.isFinite }
        return Array(zip(finite.map(\.0), Stats.exponentialMovingAverage(finite.map(\.1), alpha: 0.1))).map { (x: $0.0, y: $0.1) }
    }

    // MARK: - Overlays

    /// Per split, for each method's first seed: the first `count` panels of overlays-m1 and of the best model's.
    static func overlaySection(_ grid: Grid, _ figures: Figures, count: Int) -> [String] {
        guard count > 0 else { return [] }
        var parts = ["## Prediction overlays"]
        for split in grid.splits {
            var entries = [String]()
            for method in grid.methods {
                guard let run = grid.cell(method, split).min(by: { $0.parsed.seed < $1.parsed.seed }) else { continue }
                var models = ["m1"]
                if let best = run.bestModel?.model, best != "m1" { models.append(best) }
                for model in models {
                    let panels = overlayFiles("\(run.path)/overlays-\(model)").prefix(count)
                    guard !panels.isEmpty else { continue }
                    let caption = "\(run.name) \(model): image | ground truth | prediction"
                    let images = panels.map { file in
                        "![\(caption) (\((file as NSString).deletingPathExtension))](\(figures.link(to: "\(run.path)/overlays-\(model)/\(file)")))"
                    }
                    entries.append("*\(caption)*\n\n" + images.joined(separator: "\n"))
                }
            }
            if !entries.isEmpty { parts += ["### \(Grid.splitTitle(split))"] + entries }
        }
        return parts.count > 1 ? parts : []
    }

    /// PNG files of an overlay directory, sorted; none if it does not exist.
    static func overlayFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.lowercased().hasSuffix(".png") }.sorted()
    }
}

/// Runs arranged like a paper's table: methods (rows) × splits (columns), both in command-line order.
struct Grid {
    let runs: [RunRecord]
    let methods: [String]
    let splits: [String]

    init(_ runs: [RunRecord]) {
        self.runs = runs
        methods = Self.firstSeen(runs.map(\.parsed.method))
        splits = Self.firstSeen(runs.map(\.parsed.split))
    }

    func cell(_ method: String, _ split: String) -> [RunRecord] {
        runs.filter { $0.parsed.method == method && $0.parsed.split == split }
    }

    /// The main table and its footnote: best mIoU per run, mean ± sample std over seeds.
    func resultsTable() -> String {
        var seedsPerCell = [(cell: String, seeds: [Int])]()
        let rows = methods.map { method in
            [MethodName.paper(method)] + splits.map { split -> String in
                let scored = cell(method, split).compactMap { r in r.bestModel?.best.map { (seed: r.parsed.seed, miou: $0) } }
                guard !scored.isEmpty else { return "–" }
                seedsPerCell.append(("\(method) / \(split)", scored.map(\.seed).sorted()))
                let (mean, std) = Stats.meanAndStd(scored.map(\.miou))
                return std.map { String(format: "%.2f ± %.2f", mean, $0) } ?? percent(mean)
            }
        }
        let table = markdownTable(header: ["method"] + splits, rows: rows)
        var note = "mIoU (%) of each run's best model (dcot-eval of its best checkpoint, else its best validation row); "
            + "several seeds: mean ± sample std (n − 1)."
        if let first = seedsPerCell.first?.seeds, seedsPerCell.allSatisfy({ $0.seeds == first }) {
            note += " Seeds: \(first.map(String.init).joined(separator: ", ")) (\(first.count) per cell)."
        } else if !seedsPerCell.isEmpty {
            note += " Seeds per cell: " + seedsPerCell.map { "\($0.cell): \($0.seeds.count) (\($0.seeds.map(String.init).joined(separator: ", ")))" }
                .joined(separator: "; ") + "."
        }
        return table + "\n\n" + note
    }

    /// A (run, model) series name inside a per-split figure: the split is in the title already.
    func seriesName(_ run: RunRecord) -> String {
        run.parsed.split == "-" ? run.name : "\(run.parsed.method) s\(run.parsed.seed)"
    }

    static func splitTitle(_ split: String) -> String {
        split == "-" ? "runs without a split in their name" : "split \(split)"
    }

    private static func firstSeen(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}

/// The report's directory and its figures folder (`<report name without .md>-figures/`).
struct Figures {
    let reportDirectory: String
    let folderName: String
    private var used = Set<String>()

    init(report: String) throws {
        let dir = AtomicFile.directory(of: report)
        try makeDirectory(dir)
        reportDirectory = canonicalPath(dir)
        let base = (report as NSString).lastPathComponent
        folderName = (base.hasSuffix(".md") ? String(base.dropLast(3)) : base) + "-figures"
        try makeDirectory("\(reportDirectory)/\(folderName)")
    }

    /// A link to `path` relative to the report's directory.
    func link(to path: String) -> String {
        linkDestination(relativePath(from: reportDirectory, to: canonicalPath(path)))
    }

    /// Writes `<name>.svg` atomically (a numbered name if already taken) and returns its relative link.
    mutating func write(_ chart: LineChart, name: String) throws -> String {
        var file = "\(name).svg", n = 2
        while !used.insert(file).inserted {
            file = "\(name)-\(n).svg"
            n += 1
        }
        try AtomicFile.write(chart.svg(), to: "\(reportDirectory)/\(folderName)/\(file)")
        return linkDestination("\(folderName)/\(file)")
    }
}
