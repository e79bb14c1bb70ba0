// Finite-difference gradient check: random cotangent, central differences in Float32 (step h),
// reduced in Double; tolerance atol + rtol*|numeric|.
import XCTest
import Tensor
import Autograd

func gradCheck(_ inputs: [Tensor], grads: [Bool]? = nil, h: Float = 5e-3, atol: Double = 2e-3, rtol: Double = 2e-2,
               seed: UInt64 = 7, file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Variable]) -> Variable) {
    let wants = grads ?? inputs.map { _ in true }
    let vars = zip(inputs, wants).map { Variable($0.0, requiresGrad: $0.1) }
    let y = f(vars)
    let cot = Tensor.uniform(y.shape, -1, 1, seed: seed)
    backward(y, seed: cot)
    XCTAssertEqual(Tape.count, 0, "tape not cleared", file: file, line: line)
    func objective() -> Double {
        withNoGrad {
            let out = f(inputs.map { Variable($0) })
            var s = 0.0
            for i in 0..<out.value.count { s += Double(out.value[i]) * Double(cot[i]) }
            return s
        }
    }
    for (k, x) in inputs.enumerated() where wants[k] {
        let analytic = vars[k].grad
        XCTAssertNotNil(analytic, "input \(k): no gradient", file: file, line: line)
        guard let analytic else { continue }
        XCTAssertEqual(analytic.count, x.count, file: file, line: line)
        var failures = 0, report = ""
        for i in 0..<x.count {
            let orig = x[i]
            x[i] = orig + h; let fp = objective()
            x[i] = orig - h; let fm = objective()
            x[i] = orig
            let numeric = (fp - fm) / (2 * Double(h))
            let a = Double(analytic[i])
            if abs(a - numeric) > atol + rtol * abs(numeric) {
                failures += 1
                if failures <= 3 { report += " [\(i)] analytic \(a) numeric \(numeric);" }
            }
        }
        XCTAssertEqual(failures, 0, "input \(k) shape \(x.shape): \(failures) mismatches:\(report)", file: file, line: line)
    }
}

/// Uniform values with |v| >= margin (away from ReLU-like kinks).
func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.1) -> Tensor {
    let t = Tensor.uniform(shape, -1, 1, seed: seed)
    for i in 0..<t.count { t[i] = t[i] < 0 ? t[i] - margin : t[i] + margin }
    return t
}

/// Distinct values (a shuffled grid with spacing 0.05): no max-pool ties within the FD step.
func distinct(_ shape: [Int], seed: UInt64) -> Tensor {
    let n = shape.reduce(1, *)
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) {
        order.swapAt(i, Int(Random.bits(seed: seed, counter: UInt64(i)) % UInt64(i + 1)))
    }
    return Tensor(shape: shape, values: order.map { Float($0) * 0.05 - Float(n) * 0.025 })
}
