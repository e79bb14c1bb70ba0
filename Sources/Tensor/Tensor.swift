// Tensor: Float32, contiguous, row-major (activations NCHW, conv weights OIHW, linear [out, in]).
// Storage comes from the size-bucketed BufferPool and returns to it on deinit; reshaped views
// share storage. LabelMap: UInt8 class maps [N, H, W], 255 = ignore.
import Foundation

/// Owns one pooled allocation; shared by a tensor and its reshaped views.
public final class Storage {
    public let base: UnsafeMutablePointer<Float>
    public let capacity: Int
    init(count: Int) {
        (base, capacity) = BufferPool.shared.take(count)
    }
    deinit { BufferPool.shared.give(base, capacity: capacity) }
}

public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let storage: Storage

    /// Uninitialised contents (pool memory); every kernel that uses this writes all elements.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: max(count, 1))
    }

    /// A view with a new shape over the same storage (no copy).
    public init(view other: Tensor, shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(n == other.count, "reshape \(other.shape) -> \(shape): element count differs")
        self.shape = shape
        self.count = n
        self.storage = other.storage
    }

    public convenience init(zeros shape: [Int]) {
        self.init(shape: shape)
        let p = data
        Parallel.for(count, grain: 1 << 17) { r in (p + r.lowerBound).update(repeating: 0, count: r.count) }   // a large one over the threads
    }

    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        data.update(repeating: value, count: count)
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    @inlinable public var data: UnsafeMutablePointer<Float> { storage.base }
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage.base, count: count)
    }
    public var rank: Int { shape.count }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public func reshaped(_ shape: [Int]) -> Tensor { Tensor(view: self, shape: shape) }

    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        let (src, dst) = (data, t.data)
        // Over the threads from 32K floats: a gradient slot's first copy of a whole activation ran on
        // one thread (SegFormer's train step: memmove 129 samples on the caller, 49 on the worker).
        Parallel.for(count, grain: 1 << 15) { r in (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
        return t
    }

    public subscript(_ i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// self += other (same element count), in place.
    public func addInPlace(_ other: Tensor) {
        precondition(other.count == count, "addInPlace \(shape) += \(other.shape)")
        let d = data, o = other.data
        Parallel.for(count, grain: 1 << 15) { r in
            for i in r { d[i] += o[i] }
        }
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Deterministic uniform values in [lo, hi) from a counter-based generator.
    public static func uniform(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1, seed: UInt64) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = lo + (hi - lo) * Random.uniform(seed: seed, counter: UInt64(i)) }
        return t
    }

    /// Standard normal values (Box-Muller over the counter-based generator).
    public static func normal(_ shape: [Int], std: Float = 1, seed: UInt64) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = std * Random.normal(seed: seed, counter: UInt64(i)) }
        return t
    }

    /// Largest |a - b| over all elements.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(other.count == count)
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}

/// Class maps [N, H, W]; 255 = ignore. Produced without gradient (pseudo labels, argmax).
public final class LabelMap {
    public static let ignore: UInt8 = 255
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<UInt8>

    public init(shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        data = .allocate(capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(shape: [Int], values: [UInt8]) {
        self.init(shape: shape)
        precondition(values.count == count)
        for i in 0..<count { data[i] = values[i] }
    }

    deinit { data.deallocate() }
    public var array: [UInt8] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public subscript(_ i: Int) -> UInt8 {
        get { data[i] }
        set { data[i] = newValue }
    }
}
