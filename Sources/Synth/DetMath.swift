// Transcendentals built from IEEE +, *, / and sqrt only, so renders are bit-identical on every
// platform (libm's sinf/expf differ between glibc and Apple in the last bits). Accuracy ~1e-6,
// plenty for pictures. Angles are in turns (1 turn = 2π), which makes range reduction exact.

enum DetMath {
    /// sin(2π·t). Reduction t − round(t) is exact in Float; the result is folded into a quarter
    /// turn and evaluated by the Taylor polynomial to x¹¹ (error < 6e-8 on [−π/2, π/2]).
    @inline(__always)
    static func sinTurns(_ t: Float) -> Float {
        var r = t - t.rounded()                           // [-0.5, 0.5] turns
        if r > 0.25 { r = 0.5 - r } else if r < -0.25 { r = -0.5 - r }
        let x = r * (2 * Float.pi)
        let x2 = x * x
        let p = 1 + x2 * (-1.0 / 6 + x2 * (1.0 / 120 + x2 * (-1.0 / 5040
            + x2 * (1.0 / 362_880 + x2 * (-1.0 / 39_916_800)))))
        return x * p
    }

    /// cos(2π·t).
    @inline(__always)
    static func cosTurns(_ t: Float) -> Float { sinTurns(t + 0.25) }

    /// e^x for x ≤ 0 (0 below −80): e^x = (e^(x/256))^256, Taylor to degree 6 on [−0.32, 0], then
    /// eight squarings (relative error ~3e-5). Only used for blur kernel weights, which are
    /// normalised afterwards.
    static func exp(_ x: Float) -> Float {
        precondition(x <= 0, "DetMath.exp is only meant for x <= 0")
        if x < -80 { return 0 }                            // below Float's normal range anyway
        let y = x / 256
        var e = 1 + y * (1 + y * (0.5 + y * (1.0 / 6 + y * (1.0 / 24 + y * (1.0 / 120 + y * (1.0 / 720))))))
        for _ in 0..<8 { e *= e }
        return e
    }
}
