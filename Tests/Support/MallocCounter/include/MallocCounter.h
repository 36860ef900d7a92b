#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
/// Counts heap allocations made by the calling thread between start and stop, by interposing malloc and its
/// siblings in the test executable (symbols of the executable take precedence over libc's for every library).
/// Returns -1 from stop when counting is unavailable (sanitizer builds, which interpose malloc themselves).
void malloc_counter_start(void);
long malloc_counter_stop(void);
#endif
