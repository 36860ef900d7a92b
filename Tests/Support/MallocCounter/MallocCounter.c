#include "MallocCounter.h"
#include <errno.h>
#include <stddef.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define MALLOC_COUNTER_DISABLED 1
#  endif
#endif

#ifdef MALLOC_COUNTER_DISABLED
void malloc_counter_start(void) {}
long malloc_counter_stop(void) { return -1; }
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread long counted;

void *malloc(size_t size) {
    if (counting) counted++;
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    if (counting) counted++;
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    if (counting) counted++;
    return __libc_realloc(pointer, size);
}
void *memalign(size_t alignment, size_t size) {
    if (counting) counted++;
    return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
    if (counting) counted++;
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **result, size_t alignment, size_t size) {
    if (counting) counted++;
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return ENOMEM;
    *result = pointer;
    return 0;
}
void free(void *pointer) { __libc_free(pointer); }

void malloc_counter_start(void) { counted = 0; counting = 1; }
long malloc_counter_stop(void) { counting = 0; return counted; }
#endif
