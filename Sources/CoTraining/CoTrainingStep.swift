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
    /// The first replica with a non-finite loss term, if any.
    public var nonFiniteReplica: Int?
}

/// One step's loss terms per local replica and its exact pixel counters, before they are combined
/// over every replica (`combined`), so the reported values do not depend on the process count.
struct StepTerms {
    /// terms[t][r]: term t (supervised per model, then the unsupervised pairs k←j) of local replica r.
    var supervised: [[Float]] = []
    var unsupervised: [[[Float]]] = []
    /// same, total (agreement); kept, total (mask ratio).
    var counters = [Int](repeating: 0, count: 4)

    /// Every replica's terms combined in replica order as the loss graph combines them:
    /// mean over W replicas, mean over partners, L_k = sup + uw·unsup, total = mean over models.
    func combined(unsupWeight: Double) -> StepLosses {
        let flat = supervised + unsupervised.flatMap { $0 }
        let local = flat.first?.count ?? 1
        var mine = [Double]()
        for r in 0..<local { for t in flat { mine.append(Double(t[r])) } }
        mine += counters.map(Double.init)
        let width = flat.count * local + counters.count
        let all = Replicas.gather(mine)
        let ranks = all.count / width, w = ranks * local
        func value(_ t: Int, _ replica: Int) -> Float {
            Float(all[(replica / local) * width + (replica % local) * flat.count + t])
        }
        var means = [Float](), bad: Int?
        for t in flat.indices {
            var acc = value(t, 0)
            for r in 0..<w {
                if !value(t, r).isFinite && bad.map({ r < $0 }) ?? true { bad = r }
                if r > 0 { acc = acc + value(t, r) }
            }
            means.append(acc * (1 / Float(w)))
        }
        var sums = [Int](repeating: 0, count: counters.count)
        for q in 0..<ranks { for c in counters.indices { sums[c] += Int(all[q * width + flat.count * local + c]) } }
        let m = supervised.count
        let sup = Array(means[0..<m])
        var unsup = [Float]()
        var at = m
        for k in unsupervised.indices {
            let n = unsupervised[k].count
            let terms = means[at..<(at + n)]
            unsup.append(terms.dropFirst().reduce(terms.first!) { $0 + $1 } * (1 / Float(n)))
            at += n
        }
        var total: Float?
        for k in 0..<m {
            let l = k < unsup.count ? sup[k] + unsup[k] * Float(unsupWeight) : sup[k]
            total = total.map { $0 + l } ?? l
        }
        return StepLosses(supervised: sup.map(Double.init), unsupervised: unsup.map(Double.init),
                          agreement: sums[1] > 0 ? Double(sums[0]) / Double(sums[1]) : 1,
                          maskRatio: sums[3] > 0 ? Double(sums[2]) / Double(sums[3]) : 1,
                          total: Double(total! * (1 / Float(m))), nonFiniteReplica: bad)
    }
}

public struct CoTrainingStep {
    let models: [Segmentor]
    /// W: data-parallel replicas over all processes (this one runs Replicas.local of them).
    let ranks: Int
    let threshold: Double
    /// uw of this step (the trainer ramps it up when asked: `rampedUnsupWeight`).
    var unsupWeight: Double
    let ohem: (threshold: Float, minKept: Int)?
    /// Mean Teacher / CutMix-Seg: the EMA teacher of models[0] (TeacherStudent.swift); nil otherwise.
    var teacher: Segmentor? = nil
    /// Distribution alignment (an option, not the reference's method): the labeled set's class
    /// frequencies, towards which every model's weak probabilities are re-weighted before its
    /// pseudo-labels are taken (`alignedArgmaxConfidence`); nil = the reference's plain argmax.
    var prior: [Double]? = nil
    /// CPS with EMA teachers (an option, not the reference's method): model k's pseudo-labels for its
    /// partners come from its EMA teacher's weak prediction (eval mode) instead of its own train-mode
    /// one; nil = the reference.
    var partnerTeachers: [Segmentor]? = nil

    func supervisedLoss(_ logits: Variable, _ labels: LabelMap) -> Variable {
        if let o = ohem { return ohemCrossEntropy(logits, labels, threshold: o.threshold, minKept: o.minKept) }
        return crossEntropy(logits, labels)
    }

    /// Σ over local replicas of f(replica) / W for the backward (the mean over every replica, as DDP
    /// averages per-GPU gradients), and each local replica's value for the report.
    func perReplica(_ f: (Int) -> Variable) -> (Variable, [Float]) {
        var acc: Variable?, values = [Float]()
        for r in 0..<Replicas.local {
            let v = f(r)
            values.append(v.value.data[0])
            acc = acc.map { add($0, v) } ?? v
        }
        return (scale(acc!, 1 / Float(ranks)), values)
    }

    /// Runs forward and backward; returns the loss terms combined over every replica. Gradients
    /// accumulate per replica into the parameters (combineReplicaGradients folds them).
    func run(_ x: StepInputs, seed: UInt64) -> StepLosses {
        if let teacher { return runTeacherStudent(x, teacher: teacher, seed: seed) }
        let local = Replicas.local
        let nl = x.labels.shape[0], b = nl / local
        let s = x.crop
        var supervised = [Variable](), strongLogits = [Variable]()
        var terms = StepTerms()
        var pseudo = [(labels: LabelMap, confidence: Tensor)]()
        for (k, m) in models.enumerated() {
            let d = m.domain
            let isCPS = models.count > 1
            // Replica-major: replica r's B labeled rows, then its B weak rows (one BN batch).
            let input = isCPS ? interleaveReplicas(x.labeled(d), x.weak(d), replicas: local) : x.labeled(d)
            let out = m(Variable(input), outputSize: (s, s), seed: Random.derive(seed, UInt64(2 * k + 1)))
            let per = isCPS ? 2 * b : b
            let (sup, values) = perReplica { r in
                supervisedLoss(slice(out, axis: 0, start: r * per, length: b), x.labels.rows(r * b, b))
            }
            supervised.append(sup)
            terms.supervised.append(values)
            guard isCPS else { continue }
            let weak = partnerTeachers.map { t in Conv.insideTrainingStep { withNoGrad { t[k](Variable(x.weak(d)), outputSize: (s, s)).value } } }
                ?? ShapeKernel.concat((0..<local).map { ShapeKernel.slice(out.value, axis: 0, start: $0 * per + b, length: b) }, axis: 0)
            let (lab, conf) = prior.map { CoTrainingStep.alignedArgmaxConfidence(weak, prior: $0, padding: x.weakPadding, replicas: local) }
                ?? argmaxConfidence(weak)
            pseudo.append(mixPseudo(lab, conf, x))
            strongLogits.append(m(Variable(x.strong(d)), outputSize: (s, s), seed: Random.derive(seed, UInt64(2 * k + 2))))
        }
        var unsupervised = [Variable]()
        if models.count > 1 {
            for k in models.indices {
                var pair = [Variable](), pairValues = [[Float]]()
                for j in models.indices where j != k {
                    let (lab, conf) = pseudo[j]
                    let (v, values) = perReplica { r in
                        CoTrainingStep.unsupervisedTerm(slice(strongLogits[k], axis: 0, start: r * b, length: b),
                                                        pseudo: lab, confidence: conf, ignore: x.ignore,
                                                        firstRow: r * b, threshold: threshold)
                    }
                    pair.append(v)
                    pairValues.append(values)
                    for i in 0..<x.ignore.count where x.ignore[i] != 255 {
                        terms.counters[3] += 1
                        if Double(conf.data[i]) >= threshold { terms.counters[2] += 1 }
                    }
                }
                unsupervised.append(scale(pair.dropFirst().reduce(pair[0]) { add($0, $1) }, 1 / Float(pair.count)))
                terms.unsupervised.append(pairValues)
            }
        }
        var total: Variable?
        for k in models.indices {
            var l = supervised[k]
            if models.count > 1 { l = add(l, scale(unsupervised[k], Float(unsupWeight))) }
            total = total.map { add($0, l) } ?? l
        }
        backward(scale(total!, 1 / Float(models.count)))
        (terms.counters[0], terms.counters[1]) = agreementCounts(pseudo, ignore: x.ignore)
        return terms.combined(unsupWeight: unsupWeight)
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

    /// Distribution alignment (ReMixMatch's, Berthelot et al. 2020, per pixel): each pixel's softmax p
    /// becomes p_c · prior_c / q_c, renormalised, where q is the model's mean probability over the
    /// non-padded weak pixels of the whole step (every replica, summed in replica order, so q does
    /// not depend on the process or thread count). The pseudo-label is the argmax of the re-weighted
    /// p (first maximum wins) and the confidence its largest value. A model that drifts towards a
    /// class (q_c > prior_c) gets fewer pseudo-labels of it, one that neglects a class more: the
    /// pseudo-labels' class mix is pulled towards the labeled set's. A class absent from the labeled
    /// set (prior 0) is never a pseudo-label. `padding`: 255 where a weak pixel is padding.
    public static func alignedArgmaxConfidence(_ logits: Tensor, prior: [Double], padding: [UInt8], replicas: Int)
        -> (labels: LabelMap, confidence: Tensor) {
        let (n, c) = (logits.shape[0], logits.shape[1]), hw = logits.count / max(n * c, 1)
        precondition(prior.count == c && padding.count == n * hw && replicas > 0 && n % replicas == 0,
                     "alignedArgmaxConfidence: prior, padding or replicas do not fit the logits")
        precondition(c <= 255, "argmax: at most 255 classes in a LabelMap")
        let xp = logits.data, width = c + 1
        // Per image: Σ p_c over its non-padded pixels (in pixel order), then their count.
        let rowSums = UnsafeMutablePointer<Double>.allocate(capacity: n * width)
        rowSums.initialize(repeating: 0, count: n * width)
        defer { rowSums.deallocate() }
        padding.withUnsafeBufferPointer { pad in
            let pp = pad.baseAddress!
            Parallel.for(n, grain: 1) { rows in
                let e = UnsafeMutablePointer<Float>.allocate(capacity: c)
                defer { e.deallocate() }
                for img in rows {
                    let sums = rowSums + img * width
                    for i in 0..<hw where pp[img * hw + i] != 255 {
                        let base = xp + img * c * hw + i
                        var m = base[0]
                        for ch in 1..<max(c, 1) { m = max(m, base[ch * hw]) }
                        var z: Float = 0
                        for ch in 0..<c { e[ch] = Foundation.exp(base[ch * hw] - m); z += e[ch] }
                        for ch in 0..<c { sums[ch] += Double(e[ch] / z) }
                        sums[c] += 1
                    }
                }
            }
        }
        let perReplica = n / replicas
        var partials = [Double](repeating: 0, count: replicas * width)
        for r in 0..<replicas {
            for img in (r * perReplica)..<((r + 1) * perReplica) {
                for k in 0..<width { partials[r * width + k] += rowSums[img * width + k] }
            }
        }
        let total = Replicas.sumInOrder(partials, width: width)
        guard total[c] > 0 else { return argmaxConfidence(logits) }   // every weak pixel is padding
        let weights = (0..<c).map { Float(prior[$0] / max(total[$0] / total[c], 1e-6)) }
        let labels = LabelMap(shape: [n] + Array(logits.shape[2...])), conf = Tensor(shape: [n] + Array(logits.shape[2...]))
        let lp = labels.data, cp = conf.data
        weights.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            Parallel.for(n * hw, grain: 256) { r in
                for i in r {
                    let base = xp + (i / hw) * c * hw + i % hw
                    var m = base[0]
                    for ch in 1..<max(c, 1) { m = max(m, base[ch * hw]) }
                    var best: Float = -1, bi = 0, z: Float = 0
                    for ch in 0..<c {
                        let v = Foundation.exp(base[ch * hw] - m) * w[ch]
                        z += v
                        if v > best { best = v; bi = ch }
                    }
                    lp[i] = UInt8(bi); cp[i] = z > 0 ? best / z : 1
                }
            }
        }
        return (labels, conf)
    }

    /// The unsupervised weight of step `iteration` (0-based) with a ramp-up over `rampup` steps:
    /// uw · exp(−5 (1 − t/N)²), t = min(iteration, N) (Laine & Aila 2017's sigmoid-shaped ramp, used
    /// by Mean Teacher); `rampup` 0 is the reference's constant uw.
    public static func rampedUnsupWeight(_ uw: Double, iteration: Int, rampup: Int) -> Double {
        guard rampup > 0 else { return uw }
        let t = Double(min(iteration, rampup)) / Double(rampup)
        return uw * Foundation.exp(-5 * (1 - t) * (1 - t))
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

    /// Pixels where each pair of models' weak pseudo-labels agree, and pixels compared (non-padded).
    func agreementCounts(_ p: [(labels: LabelMap, confidence: Tensor)], ignore: [UInt8]) -> (Int, Int) {
        guard p.count > 1 else { return (0, 0) }
        var same = 0, total = 0
        for a in 0..<p.count {
            for b in (a + 1)..<p.count {
                for i in 0..<ignore.count where ignore[i] != 255 {
                    total += 1
                    if p[a].labels[i] == p[b].labels[i] { same += 1 }
                }
            }
        }
        return (same, total)
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
