#ifndef PATCHKEEPER_CLIBGIT2_SHIM_H
#define PATCHKEEPER_CLIBGIT2_SHIM_H

#include <git2.h>
#include <git2/sys/repository.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/mempack.h>

_Static_assert(LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 5,
               "patchkeeper needs libgit2 >= 1.5 (apt-get install libgit2-dev)");

/* git_libgit2_opts is variadic: Swift cannot call it directly. */
static inline int pk_git_set_search_path(int level, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, path);
}

static inline int pk_git_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}

#endif
