// SGD with momentum and weight decay over parameter groups (torch.optim.SGD semantics:
// g' = g + wd·p; buf = momentum·buf + g' (buf = g' on the first step); p -= lr·buf).
// Optimiser state is named by the parameter's state_dict name (`momentum.<name>` in files).
import Foundation
import Tensor
import NN

/// Parameters that share a learning rate (the reference: backbone at lr, head at lr·lr_multi).
public final class ParamGroup {
    public let parameters: [(String, Parameter)]
    public var lr: Float
    public init(_ parameters: [(String, Parameter)], lr: Float) { (self.parameters, self.lr) = (parameters, lr) }
}

public protocol Optimizer: AnyObject {
    var groups: [ParamGroup] { get }
    /// One update from the accumulated gradients (parameters without a gradient are skipped).
    func step()
    /// Named state tensors (for checkpoints).
    func state() -> [(String, Tensor)]
}

extension Optimizer {
    public func zeroGrad() { for g in groups { for (_, p) in g.parameters { p.zeroGrad() } } }
}

public final class SGD: Optimizer {
    public let groups: [ParamGroup]
    public let momentum, weightDecay: Float
    var buffers: [ObjectIdentifier: Tensor] = [:]

    public init(_ groups: [ParamGroup], momentum: Float = 0.9, weightDecay: Float = 1e-4) {
        (self.groups, self.momentum, self.weightDecay) = (groups, momentum, weightDecay)
    }

    public func step() {
        defer { Parameter.valuesChanged() }
        // Every parameter's update in one pool job (ParameterSweep), the same per-element operations.
        var items: [(w: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>?,
                     fresh: Bool, lr: Float)] = []
        var counts: [Int] = []
        for group in groups {
            for (_, p) in group.parameters {
                guard let g = p.grad else { continue }
                let key = ObjectIdentifier(p)
                var b: UnsafeMutablePointer<Float>? = nil, fresh = false
                if momentum != 0 {
                    if let buf = buffers[key] { b = buf.data }
                    else { let buf = Tensor(shape: p.shape); buffers[key] = buf; b = buf.data; fresh = true }
                }
                items.append((p.value.data, g.data, b, fresh, group.lr))
                counts.append(p.value.count)
            }
        }
        let (wd, mom) = (weightDecay, momentum)
        items.withUnsafeBufferPointer { ip in
            nonisolated(unsafe) let list = ip
            ParameterSweep.run(counts) { k, r in
                let it = list[k], w = it.w, gd = it.g, lr = it.lr
                if let b = it.b {
                    if it.fresh { for i in r { b[i] = gd[i] + wd * w[i]; w[i] -= lr * b[i] } }
                    else { for i in r { b[i] = mom * b[i] + gd[i] + wd * w[i]; w[i] -= lr * b[i] } }
                } else {
                    for i in r { w[i] -= lr * (gd[i] + wd * w[i]) }
                }
            }
        }
        withExtendedLifetime(groups) {}
    }

    public func state() -> [(String, Tensor)] {
        groups.flatMap { $0.parameters.compactMap { n, p in buffers[ObjectIdentifier(p)].map { ("momentum." + n, $0) } } }
    }

    /// Restores momentum buffers by name (missing names start fresh, as after a first step).
    public func loadState(_ named: [String: Tensor]) {
        for g in groups { for (n, p) in g.parameters { if let t = named["momentum." + n] { buffers[ObjectIdentifier(p)] = t } } }
    }
}
