// Module protocol and Parameter. Names are PyTorch state_dict names ("weight", "running_var", ...),
// composed with dots from child attribute names, so checkpoints map one to one.
import Tensor
import Autograd

public enum ParameterKind: Sendable {
    /// Trainable (requires grad).
    case parameter
    /// Float32 state that is saved but not trained (running_mean, running_var).
    case buffer
    /// An integer counter stored as Float32 here and as I64 in a checkpoint (num_batches_tracked).
    case int64Buffer
}

public final class Parameter {
    public let name: String
    public let kind: ParameterKind
    public let variable: Variable

    public init(_ name: String, _ value: Tensor, kind: ParameterKind = .parameter) {
        self.name = name
        self.kind = kind
        variable = Variable(value, requiresGrad: kind == .parameter, perReplica: true)
    }

    public var value: Tensor { variable.value }
    public var grad: Tensor? { variable.grad }
    public var shape: [Int] { variable.value.shape }
    public func zeroGrad() { variable.zeroGrad() }

    /// Bumped whenever parameter values may have changed: optimiser steps, checkpoint loads, EMA
    /// and broadcast updates, training-mode BN forwards, train()/eval(). Values derived from
    /// parameters (eval-mode BN folded into conv weights) are cached while it stays the same, so
    /// code that writes parameter values directly calls `valuesChanged()` afterwards.
    nonisolated(unsafe) public private(set) static var generation = 0
    public static func valuesChanged() { generation &+= 1 }
}

public protocol Module: AnyObject {
    /// This module's own parameters and buffers (not its children's), in state_dict order.
    var localParameters: [Parameter] { get }
    /// Child modules with their attribute names, in state_dict order.
    var children: [(String, any Module)] { get }
    /// Training mode (batch statistics, dropout on) or evaluation mode.
    var training: Bool { get set }
}

extension Module {
    public var localParameters: [Parameter] { [] }
    public var children: [(String, any Module)] { [] }

    /// Every parameter and buffer with its dotted state_dict name ("layer1.0.bn1.running_mean").
    public func namedParameters(prefix: String = "") -> [(String, Parameter)] {
        var out = localParameters.map { (prefix + $0.name, $0) }
        for (name, child) in children { out += child.namedParameters(prefix: prefix + name + ".") }
        return out
    }

    /// Trainable parameters only.
    public func trainableParameters() -> [(String, Parameter)] {
        namedParameters().filter { $0.1.kind == .parameter }
    }

    /// Sets training mode on this module and all descendants.
    public func train(_ on: Bool = true) {
        Parameter.valuesChanged()
        training = on
        for (_, c) in children { c.train(on) }
    }

    public func eval() { train(false) }
    public func zeroGrad() { for (_, p) in namedParameters() { p.zeroGrad() } }
}

/// PyTorch's default init for conv and linear layers (kaiming_uniform with a = sqrt 5):
/// U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias.
func defaultInit(_ shape: [Int], fanIn: Int, seed: UInt64) -> Tensor {
    let bound = 1 / Float(max(fanIn, 1)).squareRoot()
    return RandomInit.tensor(shape) { Tensor.uniform(shape, -bound, bound, seed: seed) }
}

/// The random draws of parameter initialisation, which a model built only to load a whole checkpoint
/// strictly (dcot-eval, dcot-pseudo) does without: they took about a quarter of the CPU time of a
/// one-image R50 `dcot-eval` (`perf`, 2026-12-06).
public enum RandomInit {
    nonisolated(unsafe) public static var skipped = false

    /// Runs `body` (building a model) with every random init left out: those parameters stay zero
    /// until the checkpoint overwrites them. Deterministic inits (BN's 1 and 0) still run.
    public static func skipping<T>(_ body: () throws -> T) rethrows -> T {
        let saved = skipped
        skipped = true
        defer { skipped = saved }
        return try body()
    }

    /// `draw()`, or zeros of `shape` while skipped.
    public static func tensor(_ shape: [Int], _ draw: () -> Tensor) -> Tensor {
        skipped ? Tensor(zeros: shape) : draw()
    }
}

/// An indexed list of child modules, named "0", "1", ... as torch.nn.ModuleList / Sequential
/// ("layer1.0.conv1.weight").
public final class ModuleList<Element: Module>: Module {
    public var items: [Element]
    public var training = true
    public init(_ items: [Element]) { self.items = items }
    public var children: [(String, any Module)] { items.enumerated().map { (String($0.offset), $0.element as any Module) } }
    public subscript(_ i: Int) -> Element { items[i] }
    public var count: Int { items.count }
}
