// glibc malloc tuning for programs that allocate many multi-megabyte buffers (images, DCT tensors,
// compressed frames): without it each buffer is a fresh mmap that page-faults and is zeroed again,
// and concurrent faults serialise on the process's memory-map lock.
import CNative

public enum Allocator {
    /// Serve allocations up to 32 MB (glibc's ceiling) from the heap and keep freed memory.
    public static func tuneForLargeBuffers() { cn_tune_malloc_for_large_buffers() }
}
