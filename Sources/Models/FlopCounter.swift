// Multiply-add counting for dcot-bench's gflop_per_step: convs and matmuls report 2·MACs of
// their forward pass here while `FlopCounter.enabled` (off by default, so it costs one branch).
import Tensor
import Autograd
import NN

public enum FlopCounter {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public static var flops: Double = 0

    /// Counts the forward FLOPs of `body` (no tape recording).
    public static func count(_ body: () -> Void) -> Double {
        enabled = true; flops = 0
        defer { enabled = false }
        withNoGrad(body)
        return flops
    }

    static func add(_ f: Double) { if enabled { flops += f } }
}

/// A Conv2d call that reports its FLOPs (2 · output elements · C_in/groups · k · k, or only the
/// taps computed for a large-dilation conv) and takes the tap-skipping path where it pays.
@inline(__always)
func countedConv(_ c: Conv2d, _ x: Variable) -> Variable {
    let atrous = c.bias == nil && AtrousConv.applies(c, x.shape)
    let y = atrous ? atrousConv2d(x, c.weight.variable, dilation: c.dilation, padding: c.padding) : c(x)
    if FlopCounter.enabled {
        let w = c.weight.shape
        let kept = atrous ? AtrousConv.keptFraction(k: w[2], h: x.shape[2], w: x.shape[3], dilation: c.dilation, padding: c.padding) : 1
        FlopCounter.add(2 * Double(y.value.count) * Double(w[1] * w[2] * w[3]) * kept)
    }
    return y
}
