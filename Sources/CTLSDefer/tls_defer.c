/*
 * Deferred CA loading for libgit2 built with mbedTLS (Debian's libgit2 1.5).
 *
 * git_libgit2_init() parses every certificate of the system bundle
 * (/etc/ssl/certs/ca-certificates.crt, ~140 certificates) through
 * mbedtls_x509_crt_parse_file: ~55 M instructions, 2.5 ms on an idle machine, in every
 * process, although only an https fleet remote ever needs them. libgit2 1.5 has no option
 * to skip it (the path is compiled in).
 *
 * This file defines mbedtls_x509_crt_parse_file in the executable, which the dynamic
 * linker prefers to libmbedx509's for libgit2's call. While pk_tls_defer_begin() is in
 * effect (only around git_libgit2_init) the call only notes the path and loads nothing;
 * libgit2 is left with an empty CA chain, so an https connection made before the bundle
 * is loaded fails verification: closed, never open. Git.Libgit2.loadCertificates()
 * hands the noted path back to libgit2 (GIT_OPT_SET_SSL_CERT_LOCATIONS) before any remote
 * operation, and that call reaches the real function.
 *
 * With libgit2 built on OpenSSL (or without https) the function is never called and
 * nothing changes.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "tls_defer.h"

static atomic_int deferring;
static atomic_int real_parses;
static char *deferred_file;

typedef int (*parse_file_fn)(void *chain, const char *path);

int mbedtls_x509_crt_parse_file(void *chain, const char *path) {
    if (atomic_load(&deferring)) {
        if (deferred_file == NULL && path != NULL) deferred_file = strdup(path);
        return 0;
    }
    parse_file_fn real = (parse_file_fn)dlsym(RTLD_NEXT, "mbedtls_x509_crt_parse_file");
    if (real == NULL) return -1; /* nothing loaded: verification fails */
    atomic_fetch_add(&real_parses, 1);
    return real(chain, path);
}

void pk_tls_defer_begin(void) { atomic_store(&deferring, 1); }
void pk_tls_defer_end(void) { atomic_store(&deferring, 0); }
const char *pk_tls_deferred_file(void) { return deferred_file; }
int pk_tls_real_parses(void) { return atomic_load(&real_parses); }
#else
#include "tls_defer.h"
void pk_tls_defer_begin(void) {}
void pk_tls_defer_end(void) {}
const char *pk_tls_deferred_file(void) { return 0; }
int pk_tls_real_parses(void) { return 0; }
#endif
