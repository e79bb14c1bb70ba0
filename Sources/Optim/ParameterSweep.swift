// One pool job for an optimiser step over all parameters: their elements cut into the threads'
// contiguous shares of the total, a share crossing parameter boundaries. Each element's update is
// the same operations whichever share holds it, so the bits do not depend on the cut. A ResNet has
// a hundred small tensors (BatchNorm weights and biases, biases): one job each left the other
// threads waiting (cnn-rgb at batch 16, 2 threads: the SGD step was 0.75 % of the step on one core).
import Tensor

enum ParameterSweep {
    /// body(p, range) for every parameter p (element counts `counts`) and each range of its elements,
    /// ranges of one parameter never overlapping, over the pool in one job.
    static func run(_ counts: [Int], _ body: (Int, Range<Int>) -> Void) {
        var starts = [0]
        starts.reserveCapacity(counts.count + 1)
        for n in counts { starts.append(starts[starts.count - 1] + n) }
        let total = starts[starts.count - 1]
        starts.withUnsafeBufferPointer { sp in
            nonisolated(unsafe) let s = sp
            Parallel.for(total, grain: 1 << 14) { r in
                // The first parameter whose elements reach past r.lowerBound.
                var lo = 0, hi = counts.count
                while lo < hi { let mid = (lo + hi) / 2; if s[mid + 1] <= r.lowerBound { lo = mid + 1 } else { hi = mid } }
                var p = lo
                while p < counts.count && s[p] < r.upperBound {
                    let a = max(r.lowerBound, s[p]) - s[p], b = min(r.upperBound, s[p + 1]) - s[p]
                    if a < b { body(p, a..<b) }
                    p += 1
                }
            }
        }
    }
}
