// The reference's poly learning-rate schedule (METHOD.md 5.1).
import Foundation

/// Poly learning rate (METHOD.md 5.1): lr_t = base · (1 − t/T)^power.
public struct PolySchedule: Sendable {
    public var baseLR: Double
    public var totalIterations: Int
    public var power: Double = 0.9
    public init(baseLR: Double, totalIterations: Int, power: Double = 0.9) {
        (self.baseLR, self.totalIterations, self.power) = (baseLR, totalIterations, power)
    }
    public func lr(at iteration: Int) -> Double {
        let f = max(0, 1 - Double(iteration) / Double(max(totalIterations, 1)))
        return baseLR * Foundation.pow(f, power)
    }
}
