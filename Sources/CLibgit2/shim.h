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

/* Memory: no object cache (a scan reads each tree once), small pack windows. */
static inline int pk_git_limit_memory(size_t window, size_t mapped_limit) {
    int rc = git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, window);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, mapped_limit);
    return rc;
}

/* Hash verification on every object read (libgit2's default; git itself does not). */
static inline int pk_git_verify_object_hashes(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, enabled);
}

/* libgit2 checks each entry of a tree it writes by reading the object's header (open and inflate
   a loose object); a caller that checks existence itself turns this off for the write. */
static inline int pk_git_strict_object_creation(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, enabled);
}

/* The CA bundle, loaded when a remote needs it (see Sources/CTLSDefer/tls_defer.c). */
static inline int pk_git_set_cert_file(const char *file) {
    return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, (const char *)0);
}

/* Gate walks long histories: a bounded object cache saves re-reading commits and trees. */
static inline int pk_git_enable_cache(size_t max_size) {
    int rc = git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 1);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)max_size);
    return rc;
}

/* Registry writes read the registry's and the image store's trees several times each (a
   1,000-patch registry's root tree is ~70 KB): libgit2 caches no tree over 4 KiB by default. */
static inline int pk_git_cache_large_trees(size_t max_size, size_t tree_limit) {
    int rc = pk_git_enable_cache(max_size);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, tree_limit);
    return rc;
}

#endif
