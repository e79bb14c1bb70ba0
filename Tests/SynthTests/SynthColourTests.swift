// Colour must not identify a class: colour-only classifiers fitted on train object pixels
// (label 1..K-1 of rgb [H, W, 3]) must do far worse than a segmentor that sees shape and texture.
import Foundation
import Synth
import XCTest

final class SynthColourTests: XCTestCase {
    let config = SynthConfig(classes: 6, size: 96, seed: 5)

    /// Object pixels of `count` images as (class, r, g, b).
    func objectPixels(split: String, count: Int) -> [(Int, Int, Int, Int)] {
        var out = [(Int, Int, Int, Int)]()
        for index in 0..<count {
            let s = SynthRenderer.render(config, split: split, index: index)
            for (i, v) in s.label.enumerated() where v != 0 && v != 255 {
                out.append((Int(v), Int(s.rgb[3 * i]), Int(s.rgb[3 * i + 1]), Int(s.rgb[3 * i + 2])))
            }
        }
        return out
    }

    func testColourDoesNotDetermineClass() {
        let k = config.classes
        let train = objectPixels(split: "train", count: 150)
        let test = objectPixels(split: "val", count: 100)

        // Nearest class-mean colour.
        var sums = [[Double]](repeating: [0, 0, 0], count: k), counts = [Double](repeating: 0, count: k)
        // Colour-histogram naive Bayes: 8×8×8 bins per class, Laplace-smoothed, with class priors.
        var histograms = [[Double]](repeating: [Double](repeating: 1, count: 512), count: k)
        func bin(_ r: Int, _ g: Int, _ b: Int) -> Int { (r >> 5) << 6 | (g >> 5) << 3 | (b >> 5) }
        for (c, r, g, b) in train {
            sums[c][0] += Double(r); sums[c][1] += Double(g); sums[c][2] += Double(b)
            counts[c] += 1
            histograms[c][bin(r, g, b)] += 1
        }
        let means = (0..<k).map { c in sums[c].map { $0 / max(counts[c], 1) } }
        let logPosterior = (0..<k).map { c -> [Double] in
            let total = histograms[c].reduce(0, +)
            return histograms[c].map { log($0 / total) + log(max(counts[c], 1)) }
        }

        var nearestCorrect = 0, bayesCorrect = 0, majority = [Int](repeating: 0, count: k)
        for (c, r, g, b) in test {
            majority[c] += 1
            var best = 1, bestDistance = Double.infinity
            for cand in 1..<k {
                let dr = Double(r) - means[cand][0], dg = Double(g) - means[cand][1], db = Double(b) - means[cand][2]
                let d = dr * dr + dg * dg + db * db
                if d < bestDistance { bestDistance = d; best = cand }
            }
            if best == c { nearestCorrect += 1 }
            let h = bin(r, g, b)
            let bayes = (1..<k).max { logPosterior[$0][h] < logPosterior[$1][h] }!
            if bayes == c { bayesCorrect += 1 }
        }
        let n = Double(test.count)
        let nearest = Double(nearestCorrect) / n, bayes = Double(bayesCorrect) / n
        let chance = Double(majority.max()!) / n
        print("colour-only accuracy on \(test.count) object pixels: nearest mean \(nearest), "
              + "histogram Bayes \(bayes), majority class \(chance)")
        XCTAssertGreaterThan(test.count, 10_000)
        XCTAssertLessThan(nearest, 0.5)
        XCTAssertLessThan(bayes, 0.5)
    }
}
