/* base64 — RFC 4648 base64 (standard alphabet, '=' padding) and base64url (no padding), used
 * wherever text carries bytes: REST produce payloads, signatures, credentials. */
#ifndef EDDY_COMMON_BASE64_H
#define EDDY_COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes (without the NUL). */
size_t b64_encoded_len(size_t n, bool url);
/* Writes the encoding of in[0..n) and a NUL into out (b64_encoded_len + 1 bytes). Returns the
 * length written (without the NUL). url: '-' '_' and no padding. */
size_t b64_encode(const void *in, size_t n, char *out, bool url);
/* malloc()ed NUL-terminated encoding. */
char *b64_encode_alloc(const void *in, size_t n, bool url);

/* Decodes in[0..n) into out (at least n * 3 / 4 + 3 bytes). Accepts both alphabets, padding
 * present or absent; refuses anything else (whitespace included) and impossible lengths.
 * Returns the decoded length, or -1. */
long b64_decode(const char *in, size_t n, uint8_t *out);
/* malloc()ed decoding (*len set); NULL on invalid input. An empty input gives a 1-byte buffer
 * with *len = 0. */
uint8_t *b64_decode_alloc(const char *in, size_t n, size_t *len);

#endif
