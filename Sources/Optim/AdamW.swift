// AdamW (torch.optim.AdamW): decoupled weight decay, bias-corrected moments; state named
// exp_avg.<name> / exp_avg_sq.<name> plus the step count. No reference config uses it.
import Foundation
import Tensor
import NN

/// AdamW (torch.optim.AdamW: decoupled weight decay p -= lr·wd·p, bias-corrected moments).
public final class AdamW: Optimizer {
    public let groups: [ParamGroup]
    public let beta1, beta2, eps, weightDecay: Float
    var m: [ObjectIdentifier: Tensor] = [:], v: [ObjectIdentifier: Tensor] = [:]
    public private(set) var steps = 0

    public init(_ groups: [ParamGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        (self.groups, self.beta1, self.beta2, self.eps, self.weightDecay) = (groups, beta1, beta2, eps, weightDecay)
    }

    public func step() {
        defer { Parameter.valuesChanged() }
        steps += 1
        let c1 = 1 - Float(Double(beta1).pow(steps)), c2 = 1 - Float(Double(beta2).pow(steps))
        for group in groups {
            let lr = group.lr
            for (_, p) in group.parameters {
                guard let g = p.grad else { continue }
                let key = ObjectIdentifier(p)
                let mt = m[key] ?? Tensor(zeros: p.shape), vt = v[key] ?? Tensor(zeros: p.shape)
                m[key] = mt; v[key] = vt
                let w = p.value.data, gd = g.data, md = mt.data, vd = vt.data
                let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
                Parallel.for(p.value.count, grain: 1 << 15) { r in
                    for i in r {
                        w[i] -= lr * wd * w[i]
                        md[i] = b1 * md[i] + (1 - b1) * gd[i]
                        vd[i] = b2 * vd[i] + (1 - b2) * gd[i] * gd[i]
                        w[i] -= lr * (md[i] / c1) / ((vd[i] / c2).squareRoot() + e)
                    }
                }
            }
        }
    }

    /// exp_avg.<name>, exp_avg_sq.<name>, and "step" (the bias-correction count, shape [1]).
    public func state() -> [(String, Tensor)] {
        [("step", Tensor(shape: [1], values: [Float(steps)]))] + groups.flatMap { $0.parameters.flatMap { n, p -> [(String, Tensor)] in
            let k = ObjectIdentifier(p)
            return (m[k].map { [("exp_avg." + n, $0)] } ?? []) + (v[k].map { [("exp_avg_sq." + n, $0)] } ?? [])
        } }
    }

    /// Restores moments and the step count written by `state()`.
    public func loadState(_ named: [String: Tensor]) {
        if let s = named["step"] { steps = Int(s[0]) }
        for g in groups {
            for (n, p) in g.parameters {
                if let t = named["exp_avg." + n] { m[ObjectIdentifier(p)] = t }
                if let t = named["exp_avg_sq." + n] { v[ObjectIdentifier(p)] = t }
            }
        }
    }
}

extension Double {
    func pow(_ n: Int) -> Double { var r = 1.0; for _ in 0..<n { r *= self }; return r }
}
