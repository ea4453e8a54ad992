// Facts about this process that Swift's Glibc module does not reach: the CPUs it may run on,
// and the build ids of the objects loaded in it.
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

/// The number of CPUs this process may run on (its affinity mask, as `nproc` counts), at least
/// 1. Foundation's `activeProcessorCount` read cgroup files for it: 0.5 M instructions a run.
static inline int pk_cpu_count(void) {
#if defined(__linux__)
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
    if (n > 0) {
        int count = 0;
        for (long i = 0; i < n / (long)sizeof(unsigned long); i++) count += __builtin_popcountl(mask[i]);
        if (count > 0) return count;
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
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
