// The end of a file compiled for a target ISA: undoes the target set by avx2.h or avx512.h. Included last.
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
