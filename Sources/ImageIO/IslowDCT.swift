// libjpeg's accurate integer forward DCT ("islow", jfdctint.c's algorithm: Loeffler-Ligtenberg-
// Moschytz with 13-bit constants, 2 extra bits after the row pass) and quality-100 quantisation,
// so coefficients equal what TurboJPEG would store. block: 64 level-shifted samples, row-major.

@usableFromInline let constBits: Int32 = 13
@usableFromInline let pass1Bits: Int32 = 2

@usableFromInline let fix0_298631336: Int32 = 2446
@usableFromInline let fix0_390180644: Int32 = 3196
@usableFromInline let fix0_541196100: Int32 = 4433
@usableFromInline let fix0_765366865: Int32 = 6270
@usableFromInline let fix0_899976223: Int32 = 7373
@usableFromInline let fix1_175875602: Int32 = 9633
@usableFromInline let fix1_501321110: Int32 = 12299
@usableFromInline let fix1_847759065: Int32 = 15137
@usableFromInline let fix1_961570560: Int32 = 16069
@usableFromInline let fix2_053119869: Int32 = 16819
@usableFromInline let fix2_562915447: Int32 = 20995
@usableFromInline let fix3_072711026: Int32 = 25172

@inlinable @inline(__always)
func descale(_ x: Int32, _ n: Int32) -> Int32 { (x &+ (1 << (n &- 1))) >> n }

/// In-place 8x8 forward DCT; outputs are scaled by 8 (as libjpeg's), natural order k = 8v + u.
@inlinable
public func forwardDCTIslow(_ d: UnsafeMutablePointer<Int32>) {
    // Pass 1: rows.
    for r in 0..<8 {
        let p = d + r &* 8
        let tmp0 = p[0] &+ p[7], tmp7 = p[0] &- p[7]
        let tmp1 = p[1] &+ p[6], tmp6 = p[1] &- p[6]
        let tmp2 = p[2] &+ p[5], tmp5 = p[2] &- p[5]
        let tmp3 = p[3] &+ p[4], tmp4 = p[3] &- p[4]
        let tmp10 = tmp0 &+ tmp3, tmp13 = tmp0 &- tmp3
        let tmp11 = tmp1 &+ tmp2, tmp12 = tmp1 &- tmp2
        p[0] = (tmp10 &+ tmp11) << pass1Bits
        p[4] = (tmp10 &- tmp11) << pass1Bits
        let z1e = (tmp12 &+ tmp13) &* fix0_541196100
        p[2] = descale(z1e &+ tmp13 &* fix0_765366865, constBits &- pass1Bits)
        p[6] = descale(z1e &- tmp12 &* fix1_847759065, constBits &- pass1Bits)
        oddPart(tmp4, tmp5, tmp6, tmp7, p, 1, constBits &- pass1Bits)
    }
    // Pass 2: columns.
    for c in 0..<8 {
        let p = d + c
        let tmp0 = p[0] &+ p[56], tmp7 = p[0] &- p[56]
        let tmp1 = p[8] &+ p[48], tmp6 = p[8] &- p[48]
        let tmp2 = p[16] &+ p[40], tmp5 = p[16] &- p[40]
        let tmp3 = p[24] &+ p[32], tmp4 = p[24] &- p[32]
        let tmp10 = tmp0 &+ tmp3, tmp13 = tmp0 &- tmp3
        let tmp11 = tmp1 &+ tmp2, tmp12 = tmp1 &- tmp2
        p[0] = descale(tmp10 &+ tmp11, pass1Bits)
        p[32] = descale(tmp10 &- tmp11, pass1Bits)
        let z1e = (tmp12 &+ tmp13) &* fix0_541196100
        p[16] = descale(z1e &+ tmp13 &* fix0_765366865, constBits &+ pass1Bits)
        p[48] = descale(z1e &- tmp12 &* fix1_847759065, constBits &+ pass1Bits)
        oddPart(tmp4, tmp5, tmp6, tmp7, p, 8, constBits &+ pass1Bits)
    }
}

@inlinable @inline(__always)
func oddPart(_ t4: Int32, _ t5: Int32, _ t6: Int32, _ t7: Int32, _ p: UnsafeMutablePointer<Int32>,
             _ step: Int, _ shift: Int32) {
    var z1 = t4 &+ t7, z2 = t5 &+ t6, z3 = t4 &+ t6, z4 = t5 &+ t7
    let z5 = (z3 &+ z4) &* fix1_175875602
    let tmp4 = t4 &* fix0_298631336, tmp5 = t5 &* fix2_053119869
    let tmp6 = t6 &* fix3_072711026, tmp7 = t7 &* fix1_501321110
    z1 = z1 &* (0 &- fix0_899976223)
    z2 = z2 &* (0 &- fix2_562915447)
    z3 = z3 &* (0 &- fix1_961570560) &+ z5
    z4 = z4 &* (0 &- fix0_390180644) &+ z5
    p[7 &* step] = descale(tmp4 &+ z1 &+ z3, shift)
    p[5 &* step] = descale(tmp5 &+ z2 &+ z4, shift)
    p[3 &* step] = descale(tmp6 &+ z2 &+ z3, shift)
    p[1 &* step] = descale(tmp7 &+ z1 &+ z4, shift)
}

/// Quality-100 quantisation of islow output: divide by 8 (step 1 times libjpeg's scale of 8),
/// rounding half away from zero.
@inlinable @inline(__always)
public func quantizeQ100(_ x: Int32) -> Int16 {
    x < 0 ? Int16(truncatingIfNeeded: 0 &- ((4 &- x) >> 3)) : Int16(truncatingIfNeeded: (x &+ 4) >> 3)
}
