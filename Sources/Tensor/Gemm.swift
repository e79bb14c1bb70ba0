// GEMM on OpenBLAS (row-major): C = alpha * op(A) * op(B) + beta * C, with a naive twin.
import COpenBLAS

public enum Gemm {
    /// When true (and threads > 1), large GEMMs are split over the larger of M and N into
    /// `Parallel.threads` column or row blocks, each a single-threaded OpenBLAS call on our workers;
    /// OpenBLAS itself runs one thread, so its spinning workers never compete with our loops.
    /// Every C element still sums over K in OpenBLAS's order, so results do not change.
    nonisolated(unsafe) public private(set) static var splitAcrossThreads = false

    public static func setSplitAcrossThreads(_ on: Bool) {
        splitAcrossThreads = on
        Parallel.setThreads(Parallel.threads)
    }

    /// op(A): [m, k], op(B): [k, n], C: [m, n]; leading dimensions are of the stored matrices.
    @inlinable
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        _ = BLAS.configured
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        let t = Parallel.threads
        if splitAcrossThreads && t > 1 && Double(m) * Double(n) * Double(k) >= 2e6 && max(m, n) >= 32 * t {
            let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
            nonisolated(unsafe) let (ap, bp, cp) = (a, b, c)
            if n >= m {
                Parallel.for(t) { r in
                    for part in r {
                        let n0 = (part * n / t) & ~15, n1 = part == t - 1 ? n : ((part + 1) * n / t) & ~15
                        if n1 <= n0 { continue }
                        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n1 - n0), Int32(k), alpha, ap, Int32(lda),
                                    bp + (transB ? n0 * ldb : n0), Int32(ldb), beta, cp + n0, Int32(ldc))
                    }
                }
            } else {
                Parallel.for(t) { r in
                    for part in r {
                        let m0 = (part * m / t) & ~15, m1 = part == t - 1 ? m : ((part + 1) * m / t) & ~15
                        if m1 <= m0 { continue }
                        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m1 - m0), Int32(n), Int32(k), alpha,
                                    ap + (transA ? m0 : m0 * lda), Int32(lda), bp, Int32(ldb), beta, cp + m0 * ldc, Int32(ldc))
                    }
                }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The naive twin of `sgemm` (Double accumulation), for tests.
    public static func sgemmNaive(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(s) + old
            }
        }
    }

    /// Batched C_i = op(A_i) op(B_i) for i in 0..<batch with element strides between matrices.
    public static func batched(transA: Bool, transB: Bool, batch: Int, m: Int, n: Int, k: Int, alpha: Float = 1,
                               a: UnsafePointer<Float>, strideA: Int, b: UnsafePointer<Float>, strideB: Int,
                               beta: Float = 0, c: UnsafeMutablePointer<Float>, strideC: Int) {
        let lda = transA ? m : k, ldb = transB ? k : n
        for i in 0..<batch {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a + i * strideA, lda: lda,
                  b: b + i * strideB, ldb: ldb, beta: beta, c: c + i * strideC, ldc: n)
        }
    }
}
