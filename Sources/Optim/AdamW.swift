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
        // Every parameter's update in one pool job (ParameterSweep), the same per-element operations.
        var items: [(w: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                     v: UnsafeMutablePointer<Float>, lr: Float)] = []
        var counts: [Int] = []
        for group in groups {
            for (_, p) in group.parameters {
                guard let g = p.grad else { continue }
                let key = ObjectIdentifier(p)
                let mt = m[key] ?? Tensor(zeros: p.shape), vt = v[key] ?? Tensor(zeros: p.shape)
                m[key] = mt; v[key] = vt
                items.append((p.value.data, g.data, mt.data, vt.data, group.lr))
                counts.append(p.value.count)
            }
        }
        let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
        items.withUnsafeBufferPointer { ip in
            nonisolated(unsafe) let list = ip
            ParameterSweep.run(counts) { k, r in
                let it = list[k], w = it.w, gd = it.g, md = it.m, vd = it.v, lr = it.lr
                // 16 lanes, then the rest one by one: the same operations in the same order per
                // element, so the same bits either way (the buffers may alias as far as the
                // compiler knows, which keeps it from vectorizing the scalar loop itself).
                var i = r.lowerBound
                while i &+ 16 <= r.upperBound {
                    let wv = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD16<Float>.self)
                    let gv = UnsafeRawPointer(gd + i).loadUnaligned(as: SIMD16<Float>.self)
                    let mv = UnsafeRawPointer(md + i).loadUnaligned(as: SIMD16<Float>.self)
                    let vv = UnsafeRawPointer(vd + i).loadUnaligned(as: SIMD16<Float>.self)
                    let (w2, m2, v2) = Self.update(wv, gv, mv, vv, lr: lr, wd: wd, b1: b1, b2: b2, c1: c1, c2: c2, e: e)
                    UnsafeMutableRawPointer(w + i).storeBytes(of: w2, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(md + i).storeBytes(of: m2, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(vd + i).storeBytes(of: v2, as: SIMD16<Float>.self)
                    i &+= 16
                }
                while i < r.upperBound {
                    let (w2, m2, v2) = Self.update(SIMD16(repeating: w[i]), SIMD16(repeating: gd[i]), SIMD16(repeating: md[i]),
                                                   SIMD16(repeating: vd[i]), lr: lr, wd: wd, b1: b1, b2: b2, c1: c1, c2: c2, e: e)
                    (w[i], md[i], vd[i]) = (w2[0], m2[0], v2[0])
                    i &+= 1
                }
            }
        }
        withExtendedLifetime((m, v, groups)) {}
    }

    /// One AdamW update per lane: decoupled weight decay, the two moments, the bias-corrected step.
    @inline(__always)
    static func update(_ w: SIMD16<Float>, _ g: SIMD16<Float>, _ m: SIMD16<Float>, _ v: SIMD16<Float>, lr: Float, wd: Float,
                       b1: Float, b2: Float, c1: Float, c2: Float, e: Float) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let w1 = w - lr * wd * w
        let m1 = b1 * m + (1 - b1) * g
        let v1 = b2 * v + (1 - b2) * g * g
        return (w1 - lr * (m1 / c1) / ((v1 / c2).squareRoot() + e), m1, v1)
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
