// One training iteration (METHOD.md 5.2–5.3), for one model (supervised) or n = 2, 3 co-trained
// models: each model's labeled + weak forward is shared (one BN batch), its strong view is a second
// forward; pseudo-labels are the hard argmax of every other model's weak prediction (train mode,
// detached), CutMix-ed like the strong view, masked by the confidence threshold and the padding;
// L_k = Lx_k + uw · mean_j Lu(k←j); the backward is of mean_k L_k. Losses are computed per emulated
// GPU (rank) and averaged, as DDP averages per-GPU gradients.
import Autograd
import Foundation
import Models
import Tensor

public struct StepLosses: Sendable {
    /// Per model: supervised and unsupervised loss.
    public var supervised: [Double]
    public var unsupervised: [Double]
    /// Pixel agreement of the models' weak pseudo-labels (mean over pairs; non-padded pixels).
    public var agreement: Double
    /// Fraction of non-padded pixels above the confidence threshold (the reference's "Mask").
    public var maskRatio: Double
    public var total: Double
}

public struct CoTrainingStep {
    let models: [Segmentor]
    let ranks: Int
    let threshold: Double
    let unsupWeight: Double
    let ohem: (threshold: Float, minKept: Int)?
    /// Mean Teacher / CutMix-Seg: the EMA teacher of models[0] (TeacherStudent.swift); nil otherwise.
    var teacher: Segmentor? = nil

    func supervisedLoss(_ logits: Variable, _ labels: LabelMap) -> Variable {
        perRank(logits.shape[0]) { start, n in
            let l = slice(logits, axis: 0, start: start, length: n)
            let y = labels.rows(start, n)
            if let o = ohem { return ohemCrossEntropy(l, y, threshold: o.threshold, minKept: o.minKept) }
            return crossEntropy(l, y)
        }
    }

    /// Mean over ranks of f(rank's first row, rows per rank).
    func perRank(_ rows: Int, _ f: (Int, Int) -> Variable) -> Variable {
        let per = rows / ranks
        var acc: Variable?
        for r in 0..<ranks {
            let v = f(r * per, per)
            acc = acc.map { add($0, v) } ?? v
        }
        return scale(acc!, 1 / Float(ranks))
    }

    /// Runs forward and backward; returns the loss terms. Gradients accumulate into the parameters.
    func run(_ x: StepInputs, seed: UInt64) -> StepLosses {
        if let teacher { return runTeacherStudent(x, teacher: teacher, seed: seed) }
        let nl = x.labels.shape[0]
        let s = x.crop
        var supervised = [Variable](), strongLogits = [Variable]()
        var pseudo = [(labels: LabelMap, confidence: Tensor)]()
        for (k, m) in models.enumerated() {
            let d = m.domain
            let isCPS = models.count > 1
            let input = isCPS ? catBatch(x.labeled(d), x.weak(d)) : x.labeled(d)
            let out = m(Variable(input), outputSize: (s, s), seed: Random.derive(seed, UInt64(2 * k + 1)))
            let predL = isCPS ? slice(out, axis: 0, start: 0, length: nl) : out
            supervised.append(supervisedLoss(predL, x.labels))
            guard isCPS else { continue }
            let nu = out.shape[0] - nl
            let weak = ShapeKernel.slice(out.value, axis: 0, start: nl, length: nu)
            let (lab, conf) = argmaxConfidence(weak)
            pseudo.append(mixPseudo(lab, conf, x))
            strongLogits.append(m(Variable(x.strong(d)), outputSize: (s, s), seed: Random.derive(seed, UInt64(2 * k + 2))))
        }
        var unsupervised = [Variable]()
        var maskKept = 0.0, maskTotal = 0.0
        if models.count > 1 {
            for k in models.indices {
                var terms = [Variable]()
                for j in models.indices where j != k {
                    let (lab, conf) = pseudo[j]
                    terms.append(perRank(strongLogits[k].shape[0]) { start, n in
                        CoTrainingStep.unsupervisedTerm(slice(strongLogits[k], axis: 0, start: start, length: n),
                                                        pseudo: lab, confidence: conf, ignore: x.ignore,
                                                        firstRow: start, threshold: threshold)
                    })
                    for i in 0..<x.ignore.count where x.ignore[i] != 255 {
                        maskTotal += 1
                        if Double(conf.data[i]) >= threshold { maskKept += 1 }
                    }
                }
                unsupervised.append(scale(terms.dropFirst().reduce(terms[0]) { add($0, $1) }, 1 / Float(terms.count)))
            }
        }
        var total: Variable?
        for k in models.indices {
            var l = supervised[k]
            if models.count > 1 { l = add(l, scale(unsupervised[k], Float(unsupWeight))) }
            total = total.map { add($0, l) } ?? l
        }
        let loss = scale(total!, 1 / Float(models.count))
        backward(loss)
        return StepLosses(supervised: supervised.map { Double($0.value.data[0]) },
                          unsupervised: unsupervised.map { Double($0.value.data[0]) },
                          agreement: agreement(pseudo, ignore: x.ignore),
                          maskRatio: maskTotal > 0 ? maskKept / maskTotal : 1,
                          total: Double(loss.value.data[0]))
    }

    /// One CPS term Lu(k←j) for rows [firstRow, firstRow + n) of the batch: the sum over non-padded
    /// pixels of CE(strong logits, pseudo-label) · [confidence ≥ threshold], divided by the number of
    /// non-padded pixels (not of confident ones, as the reference normalises).
    public static func unsupervisedTerm(_ logits: Variable, pseudo: LabelMap, confidence: Tensor, ignore: [UInt8], firstRow: Int,
                                 threshold: Double) -> Variable {
        let n = logits.shape[0], h = logits.shape[2], w = logits.shape[3]
        let plane = h * w, base = firstRow * plane
        var target = [UInt8](repeating: 255, count: n * plane)
        let weight = Tensor(zeros: [n, h, w])
        var valid = 0
        for i in 0..<(n * plane) where ignore[base + i] != 255 {
            valid += 1
            target[i] = pseudo[base + i]
            if Double(confidence.data[base + i]) >= threshold { weight.data[i] = 1 }
        }
        return crossEntropy(logits, LabelMap(shape: [n, h, w], values: target), weight: weight, normalizer: .count(Double(valid)))
    }

    /// The reference's learning-rate factor for step `iteration`: poly 0.9 over `total`, set after
    /// each step, so co-training step t runs with factor(t - 1) and supervised step t with factor(t).
    public static func learningRateFactor(iteration: Int, total: Int, coTraining: Bool) -> Double {
        let t = coTraining ? max(iteration - 1, 0) : iteration
        return pow(1 - Double(t) / Double(total), 0.9)
    }

    /// CutMix of a model's pseudo-labels and confidences with the batch's partners and pixel boxes.
    func mixPseudo(_ lab: LabelMap, _ conf: Tensor, _ x: StepInputs) -> (LabelMap, Tensor) {
        let plane = x.crop * x.crop
        let l = CutMix.mixValues(lab.array, masks: x.boxPixels, partners: x.partners, plane: plane)
        let c = CutMix.mixValues(conf.array, masks: x.boxPixels, partners: x.partners, plane: plane)
        return (LabelMap(shape: lab.shape, values: l), Tensor(shape: conf.shape, values: c))
    }

    func agreement(_ p: [(labels: LabelMap, confidence: Tensor)], ignore: [UInt8]) -> Double {
        guard p.count > 1 else { return 1 }
        var same = 0.0, total = 0.0
        for a in 0..<p.count {
            for b in (a + 1)..<p.count {
                for i in 0..<ignore.count where ignore[i] != 255 {
                    total += 1
                    if p[a].labels[i] == p[b].labels[i] { same += 1 }
                }
            }
        }
        return total > 0 ? same / total : 1
    }
}

extension LabelMap {
    /// Rows [start, start + n) of a [N, H, W] map.
    func rows(_ start: Int, _ n: Int) -> LabelMap {
        let per = count / shape[0]
        if start == 0 && n == shape[0] { return self }
        return LabelMap(shape: [n] + Array(shape.dropFirst()), values: Array(array[(start * per)..<((start + n) * per)]))
    }
}

import Pipeline
extension CutMix {
    /// Single-channel mix (labels, confidences) with the same semantics as `mix`.
    static func mixValues<T>(_ x: [T], masks: [[UInt8]], partners: [Int], plane: Int) -> [T] {
        mix(x, masks: masks, partners: partners, channels: 1, plane: plane)
    }
}
