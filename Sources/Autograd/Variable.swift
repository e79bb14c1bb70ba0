// Variables and the tape. Each op computes its value, then records a pullback closure that
// captures only what backward needs. `backward` walks the tape in reverse (no recursion), adds
// (+=) into gradient slots, and drops each entry after use so captured activations are freed.
import Tensor

/// Where a variable's gradient accumulates. Ops capture slots, never values, so recording an op
/// does not keep its output alive.
public final class GradSlot {
    /// The gradient; for a per-replica slot with several local replicas, replica 0's partial until
    /// `combineReplicaGradients` folds the others in.
    public var grad: Tensor?
    public let isLeaf: Bool
    /// A parameter, or a value computed from parameters only (no batch rows): its gradient is a sum
    /// over the batch and is kept per replica (Replicas.swift).
    public let perReplica: Bool
    /// Partials of replicas 1..<local.
    var others: [Tensor?] = []
    init(isLeaf: Bool, perReplica: Bool = false) { (self.isLeaf, self.perReplica) = (isLeaf, perReplica) }

    /// grad += g. `owned`: g is a fresh tensor nobody else references, so it may be adopted. Into a
    /// per-replica slot with several local replicas this is only valid while a pullback replays one
    /// replica's gradient; ops that reduce over the batch use `accumulatePerReplica`.
    public func accumulate(_ g: Tensor, owned: Bool = true) {
        if perReplica && Replicas.local > 1 {
            guard let r = Replicas.current else {
                preconditionFailure("a whole-batch gradient \(g.shape) into a per-replica parameter slot: make the op use accumulatePerReplica")
            }
            accumulate(g, replica: r, owned: owned)
            return
        }
        add(&grad, g, owned)
    }

    /// grad[..., start..<start+len, ...] += g along `axis` of a gradient of `shape` (a slice's
    /// adjoint): added in place when the gradient exists, without a zero-filled full-size copy.
    public func accumulateSlice(_ g: Tensor, shape: [Int], axis: Int, start: Int) {
        if let t = grad, !(perReplica && Replicas.local > 1) {
            precondition(t.shape.reduce(1, *) == shape.reduce(1, *), "gradient shape \(shape) for \(t.shape)")
            ShapeKernel.addSlice(g, into: t.shape == shape ? t : t.reshaped(shape), axis: axis, start: start)
            return
        }
        let dx = Tensor(zeros: shape)
        ShapeKernel.addSlice(g, into: dx, axis: axis, start: start)
        accumulate(dx)
    }

    /// partial_r += g.
    public func accumulate(_ g: Tensor, replica r: Int, owned: Bool = true) {
        if r == 0 { add(&grad, g, owned); return }
        if others.count < r { others += [Tensor?](repeating: nil, count: r - others.count) }
        add(&others[r - 1], g, owned)
    }

    private func add(_ slot: inout Tensor?, _ g: Tensor, _ owned: Bool) {
        if let t = slot {
            precondition(t.count == g.count, "gradient shape \(g.shape) for \(t.shape)")
            t.addInPlace(g)
        } else {
            slot = owned ? g : g.copy()
        }
    }

    /// Replica r's partial (local index).
    func partial(_ r: Int) -> Tensor? { r == 0 ? grad : (r - 1 < others.count ? others[r - 1] : nil) }
    var replicaCount: Int { 1 + others.count }

    /// grad = partial_0 + partial_1 + ... in replica order (one process running every replica).
    func foldPartials() {
        guard let g = grad else { return }
        for p in others {
            guard let p else { preconditionFailure("a replica without a gradient for a parameter the others used") }
            g.addInPlace(p)
        }
        others.removeAll()
    }

    /// grad = the combined gradient at `values` (grad's element count).
    func setCombined(_ values: UnsafePointer<Float>) {
        grad!.data.update(from: values, count: grad!.count)
        others.removeAll()
    }
}

public final class Variable {
    public let value: Tensor
    /// nil when no gradient flows to this variable.
    public let slot: GradSlot?

    /// A leaf (input or parameter). `perReplica`: a model parameter, whose gradient sums over the
    /// batch per data-parallel replica.
    public init(_ value: Tensor, requiresGrad: Bool = false, perReplica: Bool = false) {
        self.value = value
        self.slot = requiresGrad ? GradSlot(isLeaf: true, perReplica: perReplica) : nil
    }

    init(value: Tensor, slot: GradSlot?) {
        self.value = value
        self.slot = slot
    }

    public var requiresGrad: Bool { slot != nil }
    public var grad: Tensor? { slot?.grad }
    public var shape: [Int] { value.shape }
    public func zeroGrad() { slot?.grad = nil; slot?.others.removeAll() }
    /// The same value with no gradient connection.
    public func detached() -> Variable { Variable(value) }
}

public enum Tape {
    struct Entry {
        let output: GradSlot
        let pullback: (Tensor) -> Void
    }

    nonisolated(unsafe) static var entries: [Entry?] = []
    nonisolated(unsafe) static var gradDepth = 0

    /// True unless inside `withNoGrad`.
    public static var isRecording: Bool { gradDepth == 0 }
    public static var count: Int { entries.count }

    /// Wraps an op's output. If any input needs a gradient (and we are recording), the pullback
    /// is kept on the tape; otherwise it is dropped at once (with everything it captured).
    public static func record(_ value: Tensor, _ inputs: [Variable], _ pullback: @escaping (Tensor) -> Void) -> Variable {
        guard isRecording, inputs.contains(where: { $0.slot != nil }) else { return Variable(value: value, slot: nil) }
        // Computed from parameters only (every input per replica, none a batch or constant input).
        let slot = GradSlot(isLeaf: false, perReplica: inputs.allSatisfy { $0.slot?.perReplica == true })
        entries.append(Entry(output: slot, pullback: pullback))
        return Variable(value: value, slot: slot)
    }

    /// Drops everything recorded so far (e.g. after an evaluation pass that recorded by mistake).
    public static func reset() { entries.removeAll(keepingCapacity: true) }
}

/// Runs body without recording (pseudo-labels, evaluation).
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    Tape.gradDepth += 1
    defer { Tape.gradDepth -= 1 }
    return try body()
}

/// Backpropagates from `output` with cotangent `seed` (default: ones, for a scalar loss), then
/// clears the tape. Leaf gradients accumulate (+=) across calls until zeroGrad.
public func backward(_ output: Variable, seed: Tensor? = nil) {
    guard let root = output.slot else { preconditionFailure("backward: output does not require grad") }
    let s = seed ?? Tensor(shape: output.shape, repeating: 1)
    precondition(s.count == output.value.count, "backward: seed shape \(s.shape) for \(output.shape)")
    root.accumulate(s, owned: seed == nil)
    var i = Tape.entries.count - 1
    while i >= 0 {
        if let e = Tape.entries[i] {
            Tape.entries[i] = nil                      // frees captured activations after this step
            if e.output.perReplica && Replicas.local > 1 {
                // A parameter-only value: replay its (linear) pullback once per replica's partial.
                let partials = (0..<e.output.replicaCount).map { e.output.partial($0) }
                e.output.grad = nil
                e.output.others.removeAll()
                for (r, g) in partials.enumerated() {
                    guard let g else { continue }
                    Replicas.current = r
                    e.pullback(g)
                }
                Replicas.current = nil
            } else if let g = e.output.grad {
                if !e.output.isLeaf { e.output.grad = nil }
                e.pullback(g)
            }
        }
        i -= 1
    }
    Tape.entries.removeAll(keepingCapacity: true)
}
