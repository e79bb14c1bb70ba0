// The paper's name for a run's method, from the MODELS string make names runs by: sup-X → SupOnly,
// mt-X → MT, cutmix-X → CutMix-Seg, stpp-X → ST++, two or three equal models → CPS / 3-CPS
// (homogeneous), two or three different ones → 2-cps / 3-cps (diverse co-training).

public enum MethodName {
    /// "SupOnly (sup-cnn)", "CPS (cnn+cnn)", "2-cps (cnn+cnn-dct)"; anything else unchanged.
    public static func paper(_ method: String) -> String {
        let prefixes = [("sup-", "SupOnly"), ("mt-", "MT"), ("cutmix-", "CutMix-Seg"), ("stpp-", "ST++")]
        if let (_, name) = prefixes.first(where: { method.hasPrefix($0.0) && method.count > $0.0.count }) {
            return "\(name) (\(method))"
        }
        let models = method.split(separator: "+", omittingEmptySubsequences: false)
        guard models.count > 1, models.count <= 3, !models.contains(where: \.isEmpty) else { return method }
        if Set(models).count == 1 { return "\(models.count == 2 ? "CPS" : "3-CPS") (\(method))" }
        return "\(models.count)-cps (\(method))"
    }
}
