/* Hashes one file as a git blob with libgit2's git_odb_hashfile, the call patchkeeper's scan
 * makes per file; bench.py times it to show libgit2's SHA-1 throughput (SHA1DC on Debian).
 * cc -O2 -o hashfile hashfile.c $(pkg-config --cflags --libs libgit2) */
#include <git2.h>
#include <stdio.h>

int main(int argc, char **argv) {
    git_oid oid;
    char hex[GIT_OID_HEXSZ + 1];
    if (argc != 2) { fprintf(stderr, "usage: hashfile FILE\n"); return 2; }
    git_libgit2_init();
    if (git_odb_hashfile(&oid, argv[1], GIT_OBJECT_BLOB) != 0) {
        fprintf(stderr, "hashfile: %s\n", git_error_last()->message);
        return 1;
    }
    git_oid_tostr(hex, sizeof hex, &oid);
    puts(hex);
    git_libgit2_shutdown();
    return 0;
}
