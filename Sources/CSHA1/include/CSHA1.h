#ifndef PK_CSHA1_H
#define PK_CSHA1_H

#include <stddef.h>
#include <stdint.h>

/* Plain SHA-1 on the x86 SHA extensions (SHA-NI), for scan's comparison of live files with
 * deployed blob ids only. It is NOT the collision-detecting SHA-1 (SHA1DC) that libgit2 and git
 * use: nothing patchkeeper writes into a repository is hashed here (docs/DESIGN.md, "Hashing").
 *
 * pk_sha1_hw_available() tells at run time whether the CPU has the instructions; the other
 * functions must only be called when it returned 1. */

typedef struct {
    uint32_t h[5];
    uint64_t length;      /* bytes fed so far */
    uint8_t pending[64];  /* a partial block */
    uint32_t used;        /* bytes in pending */
} pk_sha1_ctx;

int pk_sha1_hw_available(void);
void pk_sha1_init(pk_sha1_ctx *ctx);
void pk_sha1_update(pk_sha1_ctx *ctx, const void *data, size_t length);
void pk_sha1_final(pk_sha1_ctx *ctx, uint8_t out[20]);

#endif
