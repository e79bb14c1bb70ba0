// Naming containers: PyTorch nn.Sequential / nn.ModuleList children keyed by index ("conv1.0",
// "layer1.2") or attribute name, so state_dict names compose exactly as in the reference.
import Tensor
import Autograd
import NN

/// A module that only names its children; forward logic lives in the owner.
public final class Container: Module {
    public var training = true
    public let children: [(String, any Module)]
    public init(_ children: [(String, any Module)]) { self.children = children }
    /// Children named "0", "1", ... (a ModuleList).
    public convenience init(list: [any Module]) { self.init(list.enumerated().map { ("\($0.offset)", $0.element) }) }
}

/// Conv followed by BN (and an optional ReLU), named like nn.Sequential(conv, bn, relu): "0", "1".
public final class ConvBN: Module {
    public var training = true
    public let conv: Conv2d
    public let bn: BatchNorm2d
    public let relu: Bool
    let names: (String, String)

    public init(_ conv: Conv2d, _ bn: BatchNorm2d, relu: Bool = true, names: (String, String) = ("0", "1")) {
        (self.conv, self.bn, self.relu, self.names) = (conv, bn, relu, names)
    }

    public var children: [(String, any Module)] { [(names.0, conv), (names.1, bn)] }

    public func callAsFunction(_ x: Variable) -> Variable {
        convBN(conv, bn, x, relu: relu)
    }
}

/// Seeds for module initialisation: each call hands out a fresh derived seed.
public struct SeedSequence {
    var base: UInt64
    var counter: UInt64 = 0
    public init(_ base: UInt64) { self.base = base }
    public mutating func next() -> UInt64 { counter += 1; return Random.derive(base, counter) }
}

/// Fills `t` with normal(0, std) values, element i a pure function of (seed, i) exactly as
/// Tensor.normal, in parallel (a ResNet-101 has 42 M weights to draw at start-up).
func fillNormal(_ t: Tensor, std: Float, seed: UInt64) {
    if RandomInit.skipped { return }
    let d = t.data
    Parallel.for(t.count, grain: 1 << 14) { r in
        for i in r { d[i] = std * Random.normal(seed: seed, counter: UInt64(i)) }
    }
}

func conv(_ cin: Int, _ cout: Int, _ k: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1,
          bias: Bool = false, seeds: inout SeedSequence) -> Conv2d {
    Conv2d(cin, cout, kernelSize: k, stride: stride, padding: padding, dilation: dilation, groups: groups,
           bias: bias, seed: seeds.next())
}
