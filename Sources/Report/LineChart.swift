// Line charts as standalone SVG (no dependencies): title, axes with "nice" tick labels, grid, one
// polyline per series and a legend below the plot, so long run names never overlap the data.
// The output is plain SVG 1.1 with a white background: it renders in browsers and on GitHub.
import Foundation

struct ChartSeries {
    var label: String
    var points: [(x: Double, y: Double)]
    /// Index into the palette (cycled).
    var colour: Int
    var dashed = false
}

struct LineChart {
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [ChartSeries]
    /// The y axis spans at least this much (mIoU: 1 point, so noise in the second decimal stays flat).
    var minimumYSpan = 0.0

    /// Tableau 10: distinct, colour-blind friendly hues.
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static let gridColour = "#e5e5e5", frameColour = "#333333"

    private let width = 720.0, plotLeft = 70.0, plotRight = 700.0, plotTop = 40.0, plotBottom = 330.0
    private let legendRow = 18.0

    func svg() -> String {
        let series = self.series.map { s in
            ChartSeries(label: s.label, points: s.points.filter { $0.x.isFinite && $0.y.isFinite }, colour: s.colour, dashed: s.dashed)
        }
        let points = series.flatMap(\.points)
        // Iterations start at 0; the y range follows the data (mIoU differences matter more than 0).
        let x = Axis(lo: 0, hi: points.map(\.x).max() ?? 1, integer: true)
        let y = Axis(lo: points.map(\.y).min() ?? 0, hi: points.map(\.y).max() ?? 1, integer: false, minimumSpan: minimumYSpan)
        let px = { (v: Double) in plotLeft + (v - x.lo) / (x.hi - x.lo) * (plotRight - plotLeft) }
        let py = { (v: Double) in plotBottom - (v - y.lo) / (y.hi - y.lo) * (plotBottom - plotTop) }
        let legendTop = plotBottom + 56
        let height = legendTop + Double(series.count) * legendRow + 10

        var out = [String]()
        out.append(#"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif" font-size="12">"#)
        out.append(#"<rect width="100%" height="100%" fill="white"/>"#)
        out.append(#"<text x="\#(f(width / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\#(escape(title))</text>"#)
        for t in x.ticks {
            out.append(#"<line x1="\#(f(px(t)))" y1="\#(f(plotTop))" x2="\#(f(px(t)))" y2="\#(f(plotBottom))" stroke="\#(Self.gridColour)"/>"#)
            out.append(#"<text x="\#(f(px(t)))" y="\#(f(plotBottom + 16))" text-anchor="middle">\#(x.label(t))</text>"#)
        }
        for t in y.ticks {
            out.append(#"<line x1="\#(f(plotLeft))" y1="\#(f(py(t)))" x2="\#(f(plotRight))" y2="\#(f(py(t)))" stroke="\#(Self.gridColour)"/>"#)
            out.append(#"<text x="\#(f(plotLeft - 6))" y="\#(f(py(t) + 4))" text-anchor="end">\#(y.label(t))</text>"#)
        }
        out.append(#"<rect x="\#(f(plotLeft))" y="\#(f(plotTop))" width="\#(f(plotRight - plotLeft))" height="\#(f(plotBottom - plotTop))" fill="none" stroke="\#(Self.frameColour)"/>"#)
        out.append(#"<text x="\#(f((plotLeft + plotRight) / 2))" y="\#(f(plotBottom + 36))" text-anchor="middle">\#(escape(xLabel))</text>"#)
        let yMid = (plotTop + plotBottom) / 2
        out.append(#"<text x="18" y="\#(f(yMid))" text-anchor="middle" transform="rotate(-90 18 \#(f(yMid)))">\#(escape(yLabel))</text>"#)
        for s in series {
            let stroke = Self.stroke(s)
            if s.points.count > 1 {
                let coords = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                out.append(#"<polyline points="\#(coords)" fill="none" stroke-width="1.8" stroke-linejoin="round" \#(stroke)/>"#)
            } else if let p = s.points.first {
                out.append(#"<circle cx="\#(f(px(p.x)))" cy="\#(f(py(p.y)))" r="4" fill="\#(Self.colour(s))"/>"#)
            }
        }
        for (i, s) in series.enumerated() {
            let ly = legendTop + Double(i) * legendRow
            if s.points.count == 1 {
                out.append(#"<circle cx="\#(f(plotLeft + 12))" cy="\#(f(ly))" r="4" fill="\#(Self.colour(s))"/>"#)
            } else {
                out.append(#"<line x1="\#(f(plotLeft))" y1="\#(f(ly))" x2="\#(f(plotLeft + 24))" y2="\#(f(ly))" stroke-width="2" \#(Self.stroke(s))/>"#)
            }
            let note = s.points.isEmpty ? " (no data)" : ""
            out.append(#"<text x="\#(f(plotLeft + 32))" y="\#(f(ly + 4))">\#(escape(s.label + note))</text>"#)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    private static func colour(_ s: ChartSeries) -> String { palette[s.colour % palette.count] }

    private static func stroke(_ s: ChartSeries) -> String {
        #"stroke="\#(colour(s))""# + (s.dashed ? #" stroke-dasharray="6 4""# : "")
    }
}

/// An axis range widened to multiples of a 1-2-5 step, with about five ticks.
private struct Axis {
    let lo: Double, hi: Double, step: Double

    init(lo dataLo: Double, hi dataHi: Double, integer: Bool, minimumSpan: Double = 0) {
        // Values beyond ±1e15 (a hand-edited or damaged metrics file) would overflow the tick arithmetic.
        let limit = 1e15
        var lo = min(max(dataLo, -limit), limit), hi = min(max(dataHi, -limit), limit)
        // Widen narrow ranges around their centre; a single value gets ±10 % (±1 at zero).
        let singleValueSpan = lo == 0 ? 2 : abs(lo) * 0.2
        // Never narrower than doubles resolve at this magnitude, or the ticks' step would round to 0.
        let span = max(minimumSpan, hi > lo ? 0 : singleValueSpan, abs(lo) * 1e-9, 1e-9)
        if hi - lo < span { (lo, hi) = ((lo + hi - span) / 2, (lo + hi + span) / 2) }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        if integer { step = max(step, 1) }
        var niceLo = floor(lo / step) * step
        if dataLo >= 0 && niceLo < 0 { niceLo = 0 }  // no negative mIoU or loss ticks
        self.lo = niceLo
        self.hi = ceil(hi / step) * step
        self.step = step
    }

    var ticks: [Double] {
        let n = Int(((hi - lo) / step).rounded())
        return (0...n).map { lo + Double($0) * step }
    }

    /// As many decimals as the step needs.
    func label(_ v: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", abs(v) < step * 1e-9 ? 0 : v)
    }
}

/// SVG coordinates: one decimal is plenty.
private func f(_ v: Double) -> String { String(format: "%.1f", v) }

/// Text content and attribute values.
func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
