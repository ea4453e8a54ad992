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

// The GNU build ids of every object loaded in this process (the program, libgit2 and each
// library under it), for caches that hold what this build's checks decided. Read from the
// objects' own note segments in memory: the same whether the program was started directly,
// through ld.so or under valgrind, and changed by any rebuild or library update.
#include <link.h>
#include <string.h>

struct pk_build_ids { unsigned char *out; size_t cap, len; int missing; };

/* The first members of glibc's struct dl_phdr_info (its definition is behind _GNU_SOURCE,
   which the Glibc module is built without; these four are its stable start). */
struct pk_phdr_info {
    ElfW(Addr) dlpi_addr;
    const char *dlpi_name;
    const ElfW(Phdr) *dlpi_phdr;
    ElfW(Half) dlpi_phnum;
};

static int pk_build_ids_one(struct dl_phdr_info *opaque, size_t size, void *data) {
    const struct pk_phdr_info *info = (const struct pk_phdr_info *)(const void *)opaque;
    if (size < sizeof(struct pk_phdr_info)) return 0;
    struct pk_build_ids *ids = (struct pk_build_ids *)data;
    int found = 0;
    for (int i = 0; i < info->dlpi_phnum && !found; i++) {
        if (info->dlpi_phdr[i].p_type != PT_NOTE) continue;
        const unsigned char *note = (const unsigned char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        size_t at = 0, end = info->dlpi_phdr[i].p_memsz;
        while (at + 12 <= end) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, note + at, 4);
            memcpy(&descsz, note + at + 4, 4);
            memcpy(&type, note + at + 8, 4);
            size_t name = at + 12, desc = name + ((namesz + 3u) & ~3u);
            if (desc > end || descsz > end - desc) break;
            if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(note + name, "GNU", 4) == 0) {
                if (ids->len + descsz <= ids->cap) memcpy(ids->out + ids->len, note + desc, descsz);
                ids->len += descsz;
                found = 1;
                break;
            }
            at = desc + ((descsz + 3u) & ~3u);
        }
    }
    if (!found) ids->missing++;  /* the program itself (an empty name) too: review */
    return 0;
}

/// Fills `out` with the build ids one after another; returns their total length (more than
/// `cap`: call again with room), or -1 when a loaded object, the program included, has none
/// (then nothing names this build).
static inline long pk_loaded_build_ids(unsigned char *out, size_t cap) {
    struct pk_build_ids ids = { out, cap, 0, 0 };
    dl_iterate_phdr(pk_build_ids_one, &ids);
    if (ids.missing > 0 || ids.len == 0) return -1;
    return (long)ids.len;
}
