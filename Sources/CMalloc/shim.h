// glibc's mallopt (malloc.h) is not in Swift's Glibc module. The CLI fixes the mmap threshold
// at start (PatchKeeperMain.limitHeapGrowth).
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
