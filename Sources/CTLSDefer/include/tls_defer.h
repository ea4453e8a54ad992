#ifndef PATCHKEEPER_TLS_DEFER_H
#define PATCHKEEPER_TLS_DEFER_H

/* Deferred loading of the CA bundle by libgit2's mbedTLS backend (see tls_defer.c). */
void pk_tls_defer_begin(void);
void pk_tls_defer_end(void);
/* The bundle libgit2 asked for at init and did not get yet, or NULL. */
const char *pk_tls_deferred_file(void);
/* How many bundles were really parsed (for tests). */
int pk_tls_real_parses(void);

#endif
