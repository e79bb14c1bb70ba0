// Variables and the tape. Each op computes its value, then records a pullback closure that
// captures only what backward needs. `backward` walks the tape in reverse (no recursion), adds
// (+=) into gradient slots, and drops each entry after use so captured activations are freed.
import Tensor

/// Where a variable's gradient accumulates. Ops capture slots, never values, so recording an op
/// does not keep its output alive.
public final class GradSlot {
    public var grad: Tensor?
    public let isLeaf: Bool
    init(isLeaf: Bool) { self.isLeaf = isLeaf }

    /// grad += g. `owned`: g is a fresh tensor nobody else references, so it may be adopted.
    public func accumulate(_ g: Tensor, owned: Bool = true) {
        if let grad {
            precondition(grad.count == g.count, "gradient shape \(g.shape) for \(grad.shape)")
            grad.addInPlace(g)
        } else {
            grad = owned ? g : g.copy()
        }
    }
}

public final class Variable {
    public let value: Tensor
    /// nil when no gradient flows to this variable.
    public let slot: GradSlot?

    /// A leaf (input or parameter).
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.slot = requiresGrad ? GradSlot(isLeaf: true) : nil
    }

    init(value: Tensor, slot: GradSlot?) {
        self.value = value
        self.slot = slot
    }

    public var requiresGrad: Bool { slot != nil }
    public var grad: Tensor? { slot?.grad }
    public var shape: [Int] { value.shape }
    public func zeroGrad() { slot?.grad = nil }
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
        let slot = GradSlot(isLeaf: false)
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
            if let g = e.output.grad {
                if !e.output.isLeaf { e.output.grad = nil }
                e.pullback(g)
            }
        }
        i -= 1
    }
    Tape.entries.removeAll(keepingCapacity: true)
}
