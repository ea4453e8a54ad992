// getdents64(2) on a directory descriptor. Swift's Glibc module does not have glibc's wrapper;
// the walker lists each directory with it on the descriptor it opened, without a DIR stream
// (glibc's fdopendir costs an fstat, two fcntl calls and a 32 KB buffer per directory).
#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

/// Entries into `buffer` (struct dirent64 records): the bytes filled, 0 at the end, -1 with errno.
static inline long pk_getdents64(int fd, void *buffer, size_t size) {
#if defined(__linux__)
    return syscall(SYS_getdents64, fd, buffer, size);
#else
    (void)fd; (void)buffer; (void)size;
    errno = ENOSYS;  /* patchkeeper walks live trees on Linux only */
    return -1;
#endif
}
