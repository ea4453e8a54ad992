// getdents64(2) on a directory descriptor. Swift's Glibc module does not have glibc's wrapper;
// the walker lists each directory with it on the descriptor it opened, without a DIR stream
// (glibc's fdopendir costs an fstat, two fcntl calls and a 32 KB buffer per directory).
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
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

/// A record as the kernel writes it (struct linux_dirent64), whatever glibc's `struct dirent`
/// is on this architecture (on 32-bit glibc its d_ino and d_off are 4 bytes).
struct pk_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

static inline unsigned short pk_dirent64_length(const void *record) {
    return ((const struct pk_dirent64 *)record)->d_reclen;
}

static inline unsigned char pk_dirent64_type(const void *record) {
    return ((const struct pk_dirent64 *)record)->d_type;
}

/// The NUL-terminated name inside the record.
static inline const char *pk_dirent64_name(const void *record) {
    return ((const struct pk_dirent64 *)record)->d_name;
}
