// Mean Teacher (Tarvainen & Valpola 2017) and CutMix-Seg (French et al., BMVC 2020) as one step of the
// trainer: a student trained by the labels and by consistency with an EMA teacher. The teacher
// (eval mode, no gradient) predicts the weak view; the student predicts the strong view, CutMix-ed
// for CutMix-Seg with the same box and partner as the teacher's probabilities. Consistency is French
// et al.'s default ("var"): the squared error between class probabilities, summed over classes,
// averaged over non-padded pixels, times the fraction of those pixels whose teacher confidence
// reaches the threshold (their `conf_per_pixel` off). Shapes: logits and probabilities [N, C, S, S].
import Autograd
import Foundation
import Models
import NN
import Pipeline
import Tensor

extension CoTrainingStep {
    /// One teacher-student iteration; gradients accumulate into the student only.
    func runTeacherStudent(_ x: StepInputs, teacher: Segmentor, seed: UInt64) -> StepLosses {
        let student = models[0], d = student.domain, s = x.crop
        let b = x.labels.shape[0] / Replicas.local
        let predL = student(Variable(x.labeled(d)), outputSize: (s, s), seed: Random.derive(seed, 1))
        let (supervised, supValues) = perReplica { r in
            supervisedLoss(slice(predL, axis: 0, start: r * b, length: b), x.labels.rows(r * b, b))
        }
        let teacherProbs = Conv.insideTrainingStep { withNoGrad { softmax(teacher(Variable(x.weak(d)), outputSize: (s, s)), axis: 1).value } }
        let (probs, confidence) = mixProbabilities(teacherProbs, x)
        let strong = student(Variable(x.strong(d)), outputSize: (s, s), seed: Random.derive(seed, 2))
        let (unsupervised, unsupValues) = perReplica { r in
            CoTrainingStep.consistencyTerm(slice(strong, axis: 0, start: r * b, length: b), teacher: probs, confidence: confidence,
                                           ignore: x.ignore, firstRow: r * b, threshold: threshold)
        }
        backward(add(supervised, scale(unsupervised, Float(unsupWeight))))
        var terms = StepTerms(supervised: [supValues], unsupervised: [[unsupValues]])
        let (studentLabels, _) = argmaxConfidence(strong.value)
        let (teacherLabels, _) = argmaxConfidence(probs)
        for i in 0..<x.ignore.count where x.ignore[i] != 255 {
            terms.counters[1] += 1; terms.counters[3] += 1
            if Double(confidence.data[i]) >= threshold { terms.counters[2] += 1 }
            if studentLabels[i] == teacherLabels[i] { terms.counters[0] += 1 }
        }
        return terms.combined(unsupWeight: unsupWeight)
    }

    /// The teacher's probabilities and confidences CutMix-ed like the strong view (identity partners
    /// when the method does not mix).
    func mixProbabilities(_ p: Tensor, _ x: StepInputs) -> (Tensor, Tensor) {
        let n = p.shape[0], c = p.shape[1], plane = x.crop * x.crop
        let confidence = Tensor(zeros: [n, x.crop, x.crop])
        for b in 0..<n {
            for i in 0..<plane {
                var m: Float = 0
                for k in 0..<c { m = max(m, p.data[(b * c + k) * plane + i]) }
                confidence.data[b * plane + i] = m
            }
        }
        let mixed = CutMix.mix(p.array, masks: x.boxPixels, partners: x.partners, channels: c, plane: plane)
        let conf = CutMix.mixValues(confidence.array, masks: x.boxPixels, partners: x.partners, plane: plane)
        return (Tensor(shape: p.shape, values: mixed), Tensor(shape: confidence.shape, values: conf))
    }

    /// French et al.'s consistency for rows [firstRow, firstRow + n) of the batch: mean over non-padded
    /// pixels of Σ_c (softmax(logits) − teacher)², times the fraction of those pixels whose teacher
    /// confidence is at least `threshold` (1 at threshold 0).
    public static func consistencyTerm(_ logits: Variable, teacher: Tensor, confidence: Tensor, ignore: [UInt8], firstRow: Int,
                                       threshold: Double) -> Variable {
        let n = logits.shape[0], c = logits.shape[1], h = logits.shape[2], w = logits.shape[3]
        let plane = h * w, base = firstRow * plane
        let target = Tensor(shape: [n, c, h, w], values: Array(teacher.array[(firstRow * c * plane)..<((firstRow + n) * c * plane)]))
        let valid = Tensor(zeros: [n, 1, h, w])
        var count = 0, confident = 0
        for i in 0..<(n * plane) where ignore[base + i] != 255 {
            valid.data[i] = 1
            count += 1
            if Double(confidence.data[base + i]) >= threshold { confident += 1 }
        }
        let diff = sub(softmax(logits, axis: 1), Variable(target))
        let squared = mul(mul(diff, diff), Variable(valid))
        let maskMean = count > 0 ? Double(confident) / Double(count) : 0
        return scale(sum(squared), Float(maskMean / Double(max(count, 1))))
    }

    /// The EMA decay at optimiser step `step` (1 for the first update): the usual warm-up
    /// min(1 − 1/(step + 1), decay) of Tarvainen & Valpola, or `decay` throughout.
    public static func emaDecay(step: Int, decay: Double, warmup: Bool) -> Float {
        Float(warmup ? min(1 - 1 / Double(step + 1), decay) : decay)
    }

    /// teacher ← decay · teacher + (1 − decay) · student over every Float32 tensor of the state
    /// (parameters and BN running statistics; num_batches_tracked stays), as French et al.'s
    /// EMAWeightOptimizer does it.
    public static func emaUpdate(teacher: any Module, student: any Module, decay: Float) {
        let oneMinus = 1 - decay
        defer { Parameter.valuesChanged() }
        for ((_, t), (_, s)) in zip(teacher.namedParameters(), student.namedParameters()) where t.kind != .int64Buffer {
            let tv = t.value.data, sv = s.value.data
            for i in 0..<t.value.count { tv[i] = tv[i] * decay + sv[i] * oneMinus }
        }
    }

    /// The teacher starts as a copy of the student (weights and buffers).
    public static func copyState(from student: any Module, to teacher: any Module) {
        defer { Parameter.valuesChanged() }
        for ((_, t), (_, s)) in zip(teacher.namedParameters(), student.namedParameters()) {
            t.value.data.update(from: s.value.data, count: s.value.count)
        }
    }
}
