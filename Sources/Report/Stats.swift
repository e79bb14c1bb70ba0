// The few statistics a report needs: mean ± sample std over seeds, and loss smoothing.

public enum Stats {
    /// Mean and sample standard deviation (n − 1); std is nil for fewer than two values.
    public static func meanAndStd(_ xs: [Double]) -> (mean: Double, std: Double?) {
        let mean = xs.reduce(0, +) / Double(xs.count)
        guard xs.count > 1 else { return (mean, nil) }
        let ss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (mean, (ss / Double(xs.count - 1)).squareRoot())
    }

    /// Exponential moving average: s₀ = x₀, sₜ = α xₜ + (1 − α) sₜ₋₁.
    public static func exponentialMovingAverage(_ xs: [Double], alpha: Double) -> [Double] {
        var out = [Double]()
        out.reserveCapacity(xs.count)
        for x in xs { out.append(out.last.map { alpha * x + (1 - alpha) * $0 } ?? x) }
        return out
    }
}
