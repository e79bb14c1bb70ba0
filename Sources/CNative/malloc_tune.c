// glibc malloc tuning (mallopt is in malloc.h, which Swift's Glibc module does not export).
#include "CNative.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void cn_tune_malloc_for_large_buffers(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's ceiling: buffers up to 32 MB come from the heap
    mallopt(M_TRIM_THRESHOLD, 512 << 20); // and freed memory is kept for the next image
#endif
}
