// One training run directory (dcot-train --out) as the report reads it: the name's fields, the
// metrics.jsonl rows (deduplicated: a resumed run re-logs iterations, the last line wins), the
// dcot-eval results of the best checkpoints (eval-mK.json) and the models' backbones (config.yaml).
import Foundation
import Support

/// `<method>-<split>-crop<crop>-s<seed>`, parsed from the right so that methods may contain '-' and '+'.
public struct RunName: Equatable, Sendable {
    public let method: String
    public let split: String
    public let seed: Int

    public init(method: String, split: String, seed: Int) {
        self.method = method
        self.split = split
        self.seed = seed
    }

    /// A name that does not follow the pattern is its own method, split "-", seed 0.
    public init(parsing name: String) {
        let fields = name.split(separator: "-", omittingEmptySubsequences: false)
        let n = fields.count
        if n >= 4, fields[n - 1].hasPrefix("s"), let seed = Int(fields[n - 1].dropFirst()),
           fields[n - 2].hasPrefix("crop"), Int(fields[n - 2].dropFirst(4)) != nil,
           !fields[n - 3].isEmpty, !fields[..<(n - 3)].joined(separator: "-").isEmpty {
            self.init(method: fields[..<(n - 3)].joined(separator: "-"), split: String(fields[n - 3]), seed: seed)
        } else {
            self.init(method: name, split: "-", seed: 0)
        }
    }
}

/// One model's losses in a step row; `unsup` is absent for supervised runs.
public struct LossTerms: Equatable, Sendable {
    public let sup: Double
    public let unsup: Double?

    public init(sup: Double, unsup: Double?) {
        self.sup = sup
        self.unsup = unsup
    }
}

/// A `"kind": "step"` row of metrics.jsonl.
public struct StepRow: Equatable, Sendable {
    public let iteration: Int
    public let loss: [String: LossTerms]
    /// Wall time of the logged iteration.
    public let seconds: Double?
}

/// A `"kind": "eval"` row of metrics.jsonl (validation during training).
public struct EvalRow: Equatable, Sendable {
    public let iteration: Int
    public let model: String
    /// Percent.
    public let miou: Double
}

/// What the report says about one model of a run.
public struct ModelSummary: Equatable, Sendable {
    public let model: String
    /// eval-mK.json's mIoU when present, else the best validation row's.
    public let best: Double?
    /// The validation row with the highest mIoU (earliest on ties).
    public let bestRow: EvalRow?
    public let lastRow: EvalRow?
}

public struct RunRecord: Sendable {
    /// The directory as given on the command line.
    public let path: String
    /// The directory's base name.
    public let name: String
    public let parsed: RunName
    /// One row per iteration, ascending.
    public let steps: [StepRow]
    /// Per model, one row per iteration, ascending.
    public let evals: [String: [EvalRow]]
    /// Per model, the mIoU of eval-mK.json (dcot-eval of the best checkpoint).
    public let evalFiles: [String: Double]
    /// config.yaml's `backbone:` per section, in order (section k belongs to model m(k+1)).
    public let backbones: [String?]
    /// Every model seen anywhere, in numeric order (m1, m2, ..., m10).
    public let models: [String]

    /// Reads a run directory; a missing metrics.jsonl or a malformed line is a `UserError`.
    public static func load(_ path: String) throws -> RunRecord {
        let metrics = "\(path)/metrics.jsonl"
        guard FileManager.default.fileExists(atPath: metrics) else {
            throw UserError(metrics, "not found: not a dcot-train run directory",
                            fix: "pass run directories written by dcot-train --out")
        }
        let (steps, evals) = try parseMetrics(metrics)
        let evalFiles = try readEvalFiles(path)
        let backbones = readBackbones("\(path)/config.yaml")
        var models = Set(evals.keys).union(evalFiles.keys)
        for s in steps { models.formUnion(s.loss.keys) }
        let name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        return RunRecord(path: path, name: name, parsed: RunName(parsing: name), steps: steps, evals: evals,
                         evalFiles: evalFiles, backbones: backbones, models: models.sorted(by: modelOrder))
    }

    /// The backbone of model `mK` from config.yaml's K-th section, if known. Models after the n
    /// configs' are EMA teachers, of m(K − n): Mean Teacher / CutMix-Seg runs (mt-, cutmix-) have one
    /// config and their m2 is the teacher; CPS runs with --ema-teachers have one per model.
    public func backbone(of model: String) -> String? {
        guard let k = modelIndex(model), k >= 1 else { return nil }
        let n = backbones.count
        if n >= 1, k > n, k <= 2 * n {
            let of = n > 1 ? " of m\(k - n)" : ""
            return backbones[k - n - 1].map { "\($0) EMA teacher\(of)" } ?? "EMA teacher\(of)"
        }
        guard k <= backbones.count else { return nil }
        return backbones[k - 1]
    }

    public func summary(of model: String) -> ModelSummary {
        let rows = (evals[model] ?? []).filter { $0.miou.isFinite }
        let bestRow = rows.reduce(nil as EvalRow?) { best, r in best.map { r.miou > $0.miou ? r : $0 } ?? r }
        return ModelSummary(model: model, best: evalFiles[model] ?? bestRow?.miou, bestRow: bestRow, lastRow: evals[model]?.last)
    }

    /// The run's model with the highest best mIoU (nil when nothing was evaluated).
    public var bestModel: ModelSummary? {
        models.map(summary).filter { $0.best != nil }.reduce(nil as ModelSummary?) { b, s in
            b.map { s.best! > $0.best! ? s : $0 } ?? s
        }
    }

    /// Last logged iteration + 1.
    public var iterations: Int {
        let last = max(steps.last?.iteration ?? -1, evals.values.compactMap { $0.last?.iteration }.max() ?? -1)
        return last + 1
    }

    /// Mean wall time of the logged iterations, without the first (warm-up: allocation, first batch).
    public var secondsPerIteration: Double? {
        let times = steps.dropFirst().compactMap(\.seconds).filter(\.isFinite)
        return times.isEmpty ? nil : times.reduce(0, +) / Double(times.count)
    }
}

// MARK: - Parsing

/// m2 before m10; names without a number after them, alphabetically.
func modelOrder(_ a: String, _ b: String) -> Bool {
    switch (modelIndex(a), modelIndex(b)) {
    case let (x?, y?): return x < y
    case (_?, nil): return true
    case (nil, _?): return false
    default: return a < b
    }
}

/// K of "mK".
func modelIndex(_ model: String) -> Int? {
    model.hasPrefix("m") ? Int(model.dropFirst()) : nil
}

/// Step and eval rows of a metrics.jsonl; other kinds are skipped, later duplicates replace earlier ones.
func parseMetrics(_ path: String) throws -> (steps: [StepRow], evals: [String: [EvalRow]]) {
    let text = String(decoding: try readFileBytes(path, what: "metrics file"), as: UTF8.self)
    var steps = [Int: StepRow]()
    var evals = [String: [Int: EvalRow]]()
    for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty { continue }
        func malformed(_ why: String) -> UserError {
            UserError("\(path):\(i + 1)", "malformed metrics line (\(why))",
                      fix: "repair or delete that line (dcot-train appends one JSON object per line)")
        }
        guard let data = jsonTolerantOfNonFinite(line).data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw malformed("not a JSON object")
        }
        guard let kind = object["kind"] as? String else { throw malformed("no \"kind\"") }
        switch kind {
        case "step":
            guard let it = integer(object["iteration"]) else { throw malformed("step row without an integer \"iteration\"") }
            guard let lossObject = object["loss"] as? [String: Any] else { throw malformed("step row without a \"loss\" object") }
            var loss = [String: LossTerms]()
            for (model, value) in lossObject {
                guard let terms = value as? [String: Any], let sup = number(terms["sup"]) else {
                    throw malformed("loss of \(model) without a \"sup\" number")
                }
                loss[model] = LossTerms(sup: sup, unsup: number(terms["unsup"]))
            }
            steps[it] = StepRow(iteration: it, loss: loss, seconds: number(object["seconds"]))
        case "eval":
            guard let it = integer(object["iteration"]), let model = object["model"] as? String,
                  let miou = number(object["miou"]) else {
                throw malformed("eval row needs \"iteration\", \"model\" and \"miou\"")
            }
            evals[model, default: [:]][it] = EvalRow(iteration: it, model: model, miou: miou)
        default:
            continue
        }
    }
    return (steps.keys.sorted().map { steps[$0]! },
            evals.mapValues { rows in rows.keys.sorted().map { rows[$0]! } })
}

/// dcot-train writes Swift's `nan` / `inf` for diverged losses, which JSON cannot hold: read them as null
/// (then NaN) so a diverged run is reported rather than rejected.
func jsonTolerantOfNonFinite(_ line: String) -> String {
    guard line.contains("nan") || line.contains("inf") else { return line }
    return line.replacingOccurrences(of: #"([:\[,]\s*)[-+]?(nan|inf)(?=\s*[,}\]])"#, with: "$1null", options: .regularExpression)
}

/// A JSON number as Double; null (a non-finite value, see above) is NaN.
func number(_ value: Any?) -> Double? {
    if value is NSNull { return .nan }
    if let s = value as? String { return Double(s) }
    return (value as? NSNumber)?.doubleValue
}

/// A JSON number that is a whole iteration count (|n| < 2^53, where doubles are exact).
func integer(_ value: Any?) -> Int? {
    guard let d = (value as? NSNumber)?.doubleValue, d.isFinite, d == d.rounded(), abs(d) < 0x1p53 else { return nil }
    return Int(d)
}

/// eval-mK.json files of a run: model → top-level "miou".
func readEvalFiles(_ run: String) throws -> [String: Double] {
    var result = [String: Double]()
    for file in (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? [] {
        guard file.hasPrefix("eval-m"), file.hasSuffix(".json") else { continue }
        let model = String(file.dropFirst("eval-".count).dropLast(".json".count))
        guard modelIndex(model) != nil else { continue }
        let path = "\(run)/\(file)"
        let object = (try? JSONSerialization.jsonObject(with: Data(try readFileBytes(path, what: "dcot-eval result")))) as? [String: Any]
        guard let miou = number(object?["miou"]), miou.isFinite else {
            throw UserError(path, "no numeric top-level \"miou\"", fix: "rerun dcot-eval --out for this model, or delete the file")
        }
        result[model] = miou
    }
    return result
}

/// `backbone:` of each section of a run's config.yaml (configs joined by `---`, each starting with `# <path>`).
/// Only top-level keys count; a missing file gives no names.
func readBackbones(_ path: String) -> [String?] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    var sections: [String?] = [nil]
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.trimmingCharacters(in: .whitespaces) == "---" {
            sections.append(nil)
        } else if line.hasPrefix("backbone:"), sections[sections.count - 1] == nil {
            var value = line.dropFirst("backbone:".count)
            if let hash = value.range(of: " #") { value = value[..<hash.lowerBound] }
            let name = value.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'"))
            sections[sections.count - 1] = name.isEmpty ? nil : name
        }
    }
    return sections
}
