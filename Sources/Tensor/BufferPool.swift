// Size-bucketed buffer pool: a training step reuses activation buffers instead of calling malloc
// for each. Size classes are quarter steps between powers of two (at most 25% slack).
import Foundation
import CNative

public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Idle buffers per size class (`classIndex`): a take or a give is an array pop or push under
    /// the lock, no dictionary to hash. (Not a list threaded through the idle buffers themselves:
    /// code that reads a tensor's pointer after its last use, `f(x).data`, finds the old contents
    /// until the buffer is taken again, and a link written into it broke that.)
    private var free = [[UnsafeMutablePointer<Float>]](repeating: [], count: BufferPool.classes)
    private static let classes = 256
    /// A spin lock (CNative): the pool's threads take buffers at the same moment, each for well
    /// under a microsecond, where a mutex put the second to sleep and woke it.
    private let lockWord: UnsafeMutablePointer<Int32> = {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)     // a cache line of its own
        return raw.initializeMemory(as: Int32.self, repeating: 0, count: 16)
    }()
    private var lock: SpinLock { SpinLock(word: lockWord) }

    deinit {
        trim()
        UnsafeMutableRawPointer(lockWord).deallocate()
    }
    /// Cached (idle) bytes above this limit are returned to the system.
    public var maxCachedBytes: Int = 6 << 30
    public private(set) var cachedBytes = 0
    public private(set) var hits = 0
    public private(set) var misses = 0

    /// Capacity in floats of the bucket serving a request of n floats.
    public static func sizeClass(_ n: Int) -> Int {
        if n <= 64 { return 64 }
        let b = 63 - (n - 1).leadingZeroBitCount          // 2^b <= n-1 < 2^(b+1)
        let step = 1 << (b - 2)
        return ((n - 1) / step + 1) * step
    }

    /// The list of a size class: 0 for 64 floats, then four per power of two (a class is m · 2^(b-2),
    /// m = 5...8, with 2^b <= class - 1 < 2^(b+1)).
    public static func classIndex(_ cap: Int) -> Int {
        if cap <= 64 { return 0 }
        let b = 63 - (cap - 1).leadingZeroBitCount
        return 1 + (b - 6) * 4 + (cap >> (b - 2)) - 5
    }

    /// The class of list `i` (the inverse of `classIndex`).
    public static func classCapacity(_ i: Int) -> Int {
        if i == 0 { return 64 }
        let b = (i - 1) / 4 + 6, m = (i - 1) % 4 + 5
        return m << (b - 2)
    }

    @inline(__always) private func pop(_ i: Int) -> UnsafeMutablePointer<Float>? { free[i].popLast() }

    func take(_ n: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let cap = BufferPool.sizeClass(n), i = BufferPool.classIndex(cap)
        lock.lock()
        if let p = pop(i) {
            cachedBytes -= cap * 4
            hits += 1
            lock.unlock()
            return (p, cap)
        }
        // A miss: the smallest idle buffer of up to twice the size (the next four classes) serves it
        // before malloc does. Its pages are already resident, so backward's gradients reuse
        // forward's freed activations instead of growing the process while those sit idle (R50's
        // batch-8 train step peaked at 3471 MB with this, 4306 MB without).
        for j in (i + 1)...min(i + 4, BufferPool.classes - 1) {
            if let p = pop(j) {
                let larger = BufferPool.classCapacity(j)
                cachedBytes -= larger * 4
                hits += 1
                lock.unlock()
                return (p, larger)
            }
        }
        misses += 1
        lock.unlock()
        let raw = UnsafeMutableRawPointer.allocate(byteCount: cap * 4, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: cap), cap)
    }

    /// `DCOT_POOL_POISON=1`: every buffer is filled with NaN as it returns to the pool, so code that
    /// reads a tensor's pointer after the tensor's last use (`let p = f(x).data`, where Swift may
    /// release the temporary at once) reads NaN instead of the old contents, and its test fails.
    /// A debugging aid (`Scripts/test` runs the tests once with it); off by default.
    public static let poisonReturned = ProcessInfo.processInfo.environment["DCOT_POOL_POISON"] == "1"

    func give(_ p: UnsafeMutablePointer<Float>, capacity cap: Int) {
        if BufferPool.poisonReturned { p.update(repeating: .nan, count: cap) }
        let i = BufferPool.classIndex(cap)
        lock.lock()
        if cachedBytes + cap * 4 > maxCachedBytes {
            lock.unlock()
            UnsafeMutableRawPointer(p).deallocate()
            return
        }
        free[i].append(p)
        cachedBytes += cap * 4
        lock.unlock()
    }

    /// Returns every idle buffer to the system.
    public func trim() {
        lock.lock()
        for i in 0..<BufferPool.classes {
            while let p = pop(i) { UnsafeMutableRawPointer(p).deallocate() }
        }
        cachedBytes = 0
        lock.unlock()
    }
}

/// lock() / unlock() over a CNative spin-lock word.
struct SpinLock {
    let word: UnsafeMutablePointer<Int32>
    @inline(__always) func lock() { cn_spin_lock(word) }
    @inline(__always) func unlock() { cn_spin_unlock(word) }
}
