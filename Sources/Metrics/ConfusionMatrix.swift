// Dataset-level segmentation metrics exactly as the reference accumulates them (METHOD.md section 6):
// pixels whose ground truth is 255 are ignored; per class I_c = #(pred = gt = c), U_c = P_c + T_c - I_c
// summed over the whole set; IoU_c = ΣI_c / (ΣU_c + 1e-10); mIoU = 100 · mean over all classes (a class
// absent from both predictions and ground truth counts as 0, as in the reference).

public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// counts[gt * classes + pred], over pixels with gt != 255. Int64: whole datasets overflow Int32.
    public internal(set) var counts: [Int64]
    public internal(set) var images = 0

    public init(classes: Int) {
        precondition(classes > 0 && classes < 255)
        self.classes = classes
        counts = [Int64](repeating: 0, count: classes * classes)
        outsideTargets = [Int64](repeating: 0, count: classes)
    }

    /// Adds one image: `prediction` and `target` are class maps of equal size (255 = ignore in target).
    /// A prediction outside [0, classes) on a valid pixel counts toward the target's union only.
    public mutating func add(prediction: [UInt8], target: [UInt8]) {
        precondition(prediction.count == target.count, "prediction and target sizes differ")
        let k = classes
        var outside = [Int64](repeating: 0, count: k)
        counts.withUnsafeMutableBufferPointer { c in
            prediction.withUnsafeBufferPointer { p in
                target.withUnsafeBufferPointer { t in
                    for i in 0..<t.count {
                        let g = Int(t[i])
                        guard g < k else { continue } // 255 (and anything out of range) is ignored
                        let q = Int(p[i])
                        if q < k { c[g &* k &+ q] &+= 1 } else { outside[g] &+= 1 }
                    }
                }
            }
        }
        for g in 0..<k { outsideTargets[g] += outside[g] }
        images += 1
    }

    /// Valid target pixels whose prediction was not a class index (kept out of the matrix).
    public internal(set) var outsideTargets: [Int64] = []

    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.classes == classes)
        for i in counts.indices { counts[i] += other.counts[i] }
        for (i, v) in other.outsideTargets.enumerated() { outsideTargets[i] += v }
        images += other.images
    }

    public var intersection: [Int64] { (0..<classes).map { counts[$0 * classes + $0] } }
    /// Pixels whose target is c.
    public var targetTotals: [Int64] {
        (0..<classes).map { g in (0..<classes).reduce(Int64(0)) { $0 + counts[g * classes + $1] } + outside(g) }
    }
    /// Pixels predicted as c (on valid targets).
    public var predictionTotals: [Int64] {
        (0..<classes).map { q in (0..<classes).reduce(Int64(0)) { $0 + counts[$1 * classes + q] } }
    }
    public var union: [Int64] {
        let i = intersection, p = predictionTotals, t = targetTotals
        return (0..<classes).map { p[$0] + t[$0] - i[$0] }
    }

    /// IoU per class in [0, 1], with the reference's 1e-10 in the denominator.
    public var iou: [Double] { zip(intersection, union).map { Double($0) / (Double($1) + 1e-10) } }

    /// Mean IoU in percent over all classes.
    public var meanIoU: Double { 100 * iou.reduce(0, +) / Double(classes) }

    /// Correct valid pixels / valid pixels.
    public var pixelAccuracy: Double {
        let valid = targetTotals.reduce(0, +)
        return valid == 0 ? 0 : Double(intersection.reduce(0, +)) / Double(valid)
    }

    /// The matrix as rows (ground truth) of columns (prediction).
    public var rows: [[Int64]] { (0..<classes).map { Array(counts[($0 * classes)..<(($0 + 1) * classes)]) } }

    private func outside(_ g: Int) -> Int64 { outsideTargets[g] }
}
