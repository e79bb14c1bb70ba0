// ST++'s reliable-image selection (Yang et al., CVPR 2022, `select_reliable.py`): the checkpoints a
// supervised teacher saved during training (at 1/3, 2/3 and the end of its schedule) each predict an
// unlabeled image; its stability is the mean over the earlier checkpoints of the mIoU between their
// prediction and the last one's (per image, classes present in neither map skipped, as their nanmean
// does). Images are ranked by stability and the top fraction (ST++: half) is reliable.
import Foundation
import Pipeline
import Support

public enum Reliability {
    /// Mean over `predictions.dropLast()` of mIoU(prediction, predictions.last) for one image.
    public static func stability(_ predictions: [[UInt8]], classes: Int) -> Double {
        guard predictions.count > 1, let reference = predictions.last else { return 1 }
        var total = 0.0
        for p in predictions.dropLast() { total += meanIoU(p, reference, classes: classes) }
        return total / Double(predictions.count - 1)
    }

    /// Per-image mIoU of two label maps over the classes that occur in either (1 when both are empty).
    static func meanIoU(_ a: [UInt8], _ b: [UInt8], classes: Int) -> Double {
        var inter = [Int](repeating: 0, count: classes), countA = inter, countB = inter
        for i in 0..<min(a.count, b.count) {
            let x = Int(a[i]), y = Int(b[i])
            if x < classes { countA[x] += 1 }
            if y < classes { countB[y] += 1 }
            if x == y && x < classes { inter[x] += 1 }
        }
        var sum = 0.0, present = 0
        for c in 0..<classes where countA[c] + countB[c] > 0 {
            sum += Double(inter[c]) / Double(countA[c] + countB[c] - inter[c])
            present += 1
        }
        return present > 0 ? sum / Double(present) : 1
    }

    /// Ranks `scores` (one per entry) from most to least stable (ties keep list order) and writes
    /// `reliability.tsv` (id, score), `reliable.txt` (the first floor(n · fraction)) and
    /// `unreliable.txt` (the rest, reference line format) into `directory`; returns the reliable count.
    @discardableResult
    public static func write(entries: [ListEntry], scores: [Double], fraction: Double, to directory: String) throws -> Int {
        precondition(entries.count == scores.count)
        let order = entries.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let keep = Int((Double(entries.count) * fraction).rounded(.down))
        let table = order.map { "\(entries[$0].id)\t\(String(format: "%.6f", scores[$0]))" }.joined(separator: "\n")
        try AtomicFile.write("id\tstability\n" + table + (order.isEmpty ? "" : "\n"), to: "\(directory)/reliability.tsv")
        try IdList.write(order.prefix(keep).map { entries[$0] }, to: "\(directory)/reliable.txt")
        try IdList.write(order.dropFirst(keep).map { entries[$0] }, to: "\(directory)/unreliable.txt")
        return keep
    }
}
