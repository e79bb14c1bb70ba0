// GEMM on OpenBLAS (row-major): C = alpha * op(A) * op(B) + beta * C, with a naive twin.
import COpenBLAS

public enum Gemm {
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
