// Loader views → tensors for each model's input domain, with the reference's CutMix applied to the
// strong views (box and partner shared by both domains; RGB uses the pixel box, DCT the grid box).
import Pipeline
import Tensor
import Models

struct StepInputs {
    let labeledRGB: Tensor?, labeledDCT: Tensor?
    let labels: LabelMap
    let weakRGB: Tensor?, weakDCT: Tensor?
    let strongRGB: Tensor?, strongDCT: Tensor?
    /// [U, S, S] after CutMix: 255 where the crop was padding.
    let ignore: [UInt8]
    /// [U, S, S] of the weak views (before CutMix): 255 where the crop was padding.
    let weakPadding: [UInt8]
    let boxPixels: [[UInt8]]
    let partners: [Int]
    let crop: Int

    /// `cutmix` false (Mean Teacher) pairs every sample with itself, so nothing is mixed.
    init(_ b: TrainingBatch, needRGB: Bool, needDCT: Bool, crop s: Int, cutmix: Bool = true) {
        crop = s
        func stack(_ planes: [FloatPlanes]) -> Tensor? {
            guard let first = planes.first else { return nil }
            let t = Tensor(shape: [planes.count] + first.shape)
            let per = first.values.count
            for (i, p) in planes.enumerated() { p.values.withUnsafeBufferPointer { t.data.advanced(by: i * per).update(from: $0.baseAddress!, count: per) } }
            return t
        }
        labeledRGB = needRGB ? stack(b.labeled.map(\.rgb)) : nil
        labeledDCT = needDCT ? stack(b.labeled.compactMap(\.dct)) : nil
        labels = LabelMap(shape: [b.labeled.count, s, s], values: b.labeled.flatMap(\.mask))
        let pairs = cutmix ? b.partners : Array(b.partners.indices)
        partners = pairs
        boxPixels = b.unlabeled.map(\.boxPixels)
        let grids = b.unlabeled.map(\.box.grid)
        weakRGB = needRGB ? stack(b.unlabeled.map(\.weakRGB)) : nil
        weakDCT = needDCT ? stack(b.unlabeled.compactMap(\.weakDCT)) : nil
        func mixed(_ planes: [FloatPlanes], masks: [[UInt8]]) -> Tensor? {
            guard let first = planes.first else { return nil }
            let values = CutMix.mix(planes.flatMap(\.values), masks: masks, partners: pairs, channels: first.shape[0],
                                    plane: first.shape[1] * first.shape[2])
            return Tensor(shape: [planes.count] + first.shape, values: values)
        }
        strongRGB = needRGB ? mixed(b.unlabeled.map(\.strongRGB), masks: boxPixels) : nil
        strongDCT = needDCT ? mixed(b.unlabeled.compactMap(\.strongDCT), masks: grids) : nil
        weakPadding = b.unlabeled.flatMap(\.ignore)
        ignore = CutMix.mix(weakPadding, masks: boxPixels, partners: pairs, channels: 1, plane: s * s)
    }

    func labeled(_ d: InputDomain) -> Tensor { d == .rgb ? labeledRGB! : labeledDCT! }
    func weak(_ d: InputDomain) -> Tensor { d == .rgb ? weakRGB! : weakDCT! }
    func strong(_ d: InputDomain) -> Tensor { d == .rgb ? strongRGB! : strongDCT! }
}

/// Concatenates two replica-major batches replica by replica: replica r's rows of a, then its rows
/// of b (so the result is replica-major too).
func interleaveReplicas(_ a: Tensor, _ b: Tensor, replicas: Int) -> Tensor {
    let t = Tensor(shape: [a.shape[0] + b.shape[0]] + Array(a.shape.dropFirst()))
    let pa = a.count / replicas, pb = b.count / replicas
    for r in 0..<replicas {
        t.data.advanced(by: r * (pa + pb)).update(from: a.data + r * pa, count: pa)
        t.data.advanced(by: r * (pa + pb) + pa).update(from: b.data + r * pb, count: pb)
    }
    return t
}
