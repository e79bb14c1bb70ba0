// Stride-1 depthwise 3x3 fast path (any dilation d, padding p <= 2d): each plane is copied into a
// zero-padded scratch (in cache), then all 9 taps are fused into one SIMD8 pass per output row.
// Backward input is the same kernel on dy with the flipped filter and padding 2d - p.

extension Depthwise {
    @inline(__always) @usableFromInline
    static func ld(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

    /// Copies plane [h, w] into pad [(h+2p), (w+2p)] with zero borders.
    @inline(__always)
    static func pad(_ src: UnsafePointer<Float>, h: Int, w: Int, p: Int, into dst: UnsafeMutablePointer<Float>) {
        let wp = w &+ 2 &* p
        dst.update(repeating: 0, count: p &* wp)
        for y in 0..<h {
            let row = dst + (y &+ p) &* wp
            row.update(repeating: 0, count: p)
            (row + p).update(from: src + y &* w, count: w)
            (row + (p &+ w)).update(repeating: 0, count: p)
        }
        (dst + (h &+ p) &* wp).update(repeating: 0, count: p &* wp)
    }

    static func canUseStride1(_ g: ConvGeometry) -> Bool { g.stride == 1 && g.padding <= 2 * g.dilation }

    /// y = depthwise(x, w) + bias for stride 1. x: [N, C, H, W] (H, W from g), y: [N, C, HO, WO].
    static func forwardStride1(_ xp: UnsafePointer<Float>, _ wp: UnsafePointer<Float>, _ bp: UnsafePointer<Float>?,
                               _ yp: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (h, w, p, d, ho, wo, c) = (g.h, g.w, g.padding, g.dilation, g.ho, g.wo, g.c)
        let hp = h + 2 * p, wpd = w + 2 * p
        Parallel.for(g.n * c) { r in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: hp * wpd + 8)
            defer { scratch.deallocate() }
            for plane in r {
                let ch = plane % c
                pad(xp + plane &* h &* w, h: h, w: w, p: p, into: scratch)
                let k = wp + ch &* 9
                let (k0, k1, k2) = (SIMD8(repeating: k[0]), SIMD8(repeating: k[1]), SIMD8(repeating: k[2]))
                let (k3, k4, k5) = (SIMD8(repeating: k[3]), SIMD8(repeating: k[4]), SIMD8(repeating: k[5]))
                let (k6, k7, k8) = (SIMD8(repeating: k[6]), SIMD8(repeating: k[7]), SIMD8(repeating: k[8]))
                let b: Float = bp?[ch] ?? 0
                let bv = SIMD8<Float>(repeating: b)
                let out = yp + plane &* ho &* wo
                for oy in 0..<ho {
                    let r0 = UnsafePointer(scratch + oy &* wpd), r1 = r0 + d &* wpd, r2 = r1 + d &* wpd
                    let o = out + oy &* wo
                    var ox = 0
                    while ox &+ 8 <= wo {
                        var a = bv
                        a += k0 * ld(r0 + ox) + k1 * ld(r0 + (ox &+ d)) + k2 * ld(r0 + (ox &+ 2 &* d))
                        a += k3 * ld(r1 + ox) + k4 * ld(r1 + (ox &+ d)) + k5 * ld(r1 + (ox &+ 2 &* d))
                        a += k6 * ld(r2 + ox) + k7 * ld(r2 + (ox &+ d)) + k8 * ld(r2 + (ox &+ 2 &* d))
                        UnsafeMutableRawPointer(o + ox).storeBytes(of: a, as: SIMD8<Float>.self)
                        ox &+= 8
                    }
                    while ox < wo {
                        var a = b
                        a += k[0] * r0[ox] + k[1] * r0[ox &+ d] + k[2] * r0[ox &+ 2 &* d]
                        a += k[3] * r1[ox] + k[4] * r1[ox &+ d] + k[5] * r1[ox &+ 2 &* d]
                        a += k[6] * r2[ox] + k[7] * r2[ox &+ d] + k[8] * r2[ox &+ 2 &* d]
                        o[ox] = a
                        ox &+= 1
                    }
                }
            }
        }
    }

    /// dx for stride 1: depthwise(dy, flipped w) with padding 2d - p.
    static func backwardInputStride1(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry) -> Tensor {
        let flipped = Tensor(shape: w.shape)
        let src = w.data, dst = flipped.data
        for c in 0..<g.c { for t in 0..<9 { dst[c * 9 + t] = src[c * 9 + 8 - t] } }
        let gb = ConvGeometry(input: [g.n, g.c, g.ho, g.wo], weight: w.shape, stride: 1,
                              padding: 2 * g.dilation - g.padding, dilation: g.dilation, groups: g.c)
        precondition(gb.ho == g.h && gb.wo == g.w)
        let dx = Tensor(shape: [g.n, g.c, g.h, g.w])
        forwardStride1(dy.data, flipped.data, nil, dx.data, gb)
        return dx
    }

    /// dw[c, i, j] = sum over n, oy, ox of dy[oy, ox] * xpad[oy + i d, ox + j d]; 9 SIMD8
    /// accumulators per plane, planes summed in Double in sample order.
    static func backwardWeightStride1(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
        let dw = Tensor(shape: [g.c, 1, 3, 3])
        let (h, w, p, d, ho, wo, c, n) = (g.h, g.w, g.padding, g.dilation, g.ho, g.wo, g.c, g.n)
        let hp = h + 2 * p, wpd = w + 2 * p
        let xp = x.data, gp = dy.data, out = dw.data
        Parallel.for(c) { r in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: hp * wpd + 8)
            defer { scratch.deallocate() }
            for ch in r {
                var total = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                for s in 0..<n {
                    let plane = s &* c &+ ch
                    pad(xp + plane &* h &* w, h: h, w: w, p: p, into: scratch)
                    let gy = UnsafePointer(gp + plane &* ho &* wo)
                    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>()
                    var a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>(), a8 = SIMD8<Float>()
                    var t0: Float = 0, t1: Float = 0, t2: Float = 0, t3: Float = 0, t4: Float = 0
                    var t5: Float = 0, t6: Float = 0, t7: Float = 0, t8: Float = 0
                    for oy in 0..<ho {
                        let r0 = UnsafePointer(scratch + oy &* wpd), r1 = r0 + d &* wpd, r2 = r1 + d &* wpd
                        let gr = gy + oy &* wo
                        var ox = 0
                        while ox &+ 8 <= wo {
                            let v = ld(gr + ox)
                            a0 += v * ld(r0 + ox); a1 += v * ld(r0 + (ox &+ d)); a2 += v * ld(r0 + (ox &+ 2 &* d))
                            a3 += v * ld(r1 + ox); a4 += v * ld(r1 + (ox &+ d)); a5 += v * ld(r1 + (ox &+ 2 &* d))
                            a6 += v * ld(r2 + ox); a7 += v * ld(r2 + (ox &+ d)); a8 += v * ld(r2 + (ox &+ 2 &* d))
                            ox &+= 8
                        }
                        while ox < wo {
                            let v = gr[ox]
                            t0 += v * r0[ox]; t1 += v * r0[ox &+ d]; t2 += v * r0[ox &+ 2 &* d]
                            t3 += v * r1[ox]; t4 += v * r1[ox &+ d]; t5 += v * r1[ox &+ 2 &* d]
                            t6 += v * r2[ox]; t7 += v * r2[ox &+ d]; t8 += v * r2[ox &+ 2 &* d]
                            ox &+= 1
                        }
                    }
                    total.0 += Double(a0.sum() + t0); total.1 += Double(a1.sum() + t1); total.2 += Double(a2.sum() + t2)
                    total.3 += Double(a3.sum() + t3); total.4 += Double(a4.sum() + t4); total.5 += Double(a5.sum() + t5)
                    total.6 += Double(a6.sum() + t6); total.7 += Double(a7.sum() + t7); total.8 += Double(a8.sum() + t8)
                }
                let o = out + ch &* 9
                o[0] = Float(total.0); o[1] = Float(total.1); o[2] = Float(total.2)
                o[3] = Float(total.3); o[4] = Float(total.4); o[5] = Float(total.5)
                o[6] = Float(total.6); o[7] = Float(total.7); o[8] = Float(total.8)
            }
        }
        return dw
    }
}
