// Per-channel normalisation of the 64 DCT channels: (x - mean) / std with the reference's
// "train_upscaled_static" statistics (ImageNet, x2/x4 upscaled), indexed like the channel subset.

extension DCTTransform {
    /// Mean of each of the 64 selected channels (Y 0..43, Cb 44..53, Cr 54..63).
    public static let mean: [Float] = [
        -8.8397e+01, 1.4242e-02, 3.4117e-03, 7.0792e-03, 2.4295e-02, 4.8884e-03, 1.1029e-02, 4.4380e-01,
        -1.4657e-02, -5.4878e-03, -7.4716e-03, -1.7573e-03, -1.9678e-03, -1.0014e-03, -3.2971e-02, -6.9187e-03,
        -4.5815e-03, -3.2968e-03, 2.9935e-04, -1.0084e-03, 2.7731e-02, -6.8864e-03, -4.3638e-03, -3.4875e-03,
        -7.4995e-04, -1.2685e-04, 2.1127e-02, 1.3356e-02, 1.2893e-02, 1.3848e-02, 8.0353e-04, 1.3728e-02,
        5.6187e-03, -3.8503e-03, -1.6255e-03, -8.9914e-04, -6.0506e-04, -9.6180e-05, -6.0038e-03, -1.0580e-03,
        -5.0092e-04, 4.1829e-05, -1.0169e-04, -3.4269e-04, -5.8709e+01, -1.4975e-01, 1.5083e-02, 1.3488e-01,
        -4.2079e-03, -1.0616e-03, -3.2042e-03, -2.1745e-03, 1.4375e-02, -1.5920e-04, 3.2116e+01, -1.4412e-01,
        1.2337e-02, -1.3207e-01, -4.0276e-03, -9.3269e-04, -3.9396e-03, -2.2667e-03, -1.1487e-02, -2.0323e-04,
    ]

    /// Standard deviation of each selected channel.
    public static let std: [Float] = [
        2.5996e+02, 2.7776e+00, 2.0454e+00, 1.3947e+00, 1.1929e+00, 8.6391e-01, 6.8394e-01, 3.9907e+00,
        5.6620e-01, 5.9385e-01, 4.3958e-01, 3.8698e-01, 3.0748e-01, 2.6694e-01, 2.4791e+00, 5.9187e-01,
        6.4341e-01, 4.6003e-01, 4.0897e-01, 3.1736e-01, 1.6547e+00, 4.4618e-01, 4.6693e-01, 3.6985e-01,
        3.3952e-01, 2.6992e-01, 1.3388e+00, 3.9514e-01, 4.2135e-01, 3.4065e-01, 3.2892e-01, 2.5796e-01,
        1.0203e+00, 3.1577e-01, 3.2870e-01, 2.7429e-01, 2.6293e-01, 2.2137e-01, 8.4185e-01, 2.7672e-01,
        2.8746e-01, 2.4236e-01, 2.3329e-01, 1.9236e-01, 8.1161e+01, 4.9091e-01, 3.1735e-01, 7.8728e-01,
        1.0321e-01, 9.6477e-02, 3.8195e-01, 9.7172e-02, 2.3052e-01, 6.3559e-02, 7.5848e+01, 4.6409e-01,
        2.9777e-01, 7.0298e-01, 9.4832e-02, 8.7310e-02, 3.5970e-01, 8.7856e-02, 2.1259e-01, 5.7565e-02,
    ]

    /// Normalised float tensor [64, height, width].
    public static func normalize(_ c: DCTCoefficients) -> [Float] {
        var out = [Float](repeating: 0, count: c.values.count)
        c.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                normalize(src.baseAddress!, into: dst.baseAddress!, planeSize: c.height * c.width)
            }
        }
        return out
    }

    /// Normalises 64 planes of `planeSize` coefficients into `dst`.
    public static func normalize(_ src: UnsafePointer<Int16>, into dst: UnsafeMutablePointer<Float>, planeSize: Int) {
        for ch in 0..<channels {
            let m = mean[ch], inv = 1 / std[ch]
            let s = src + ch * planeSize, d = dst + ch * planeSize
            for i in 0..<planeSize { d[i] = (Float(s[i]) - m) * inv }
        }
    }
}
