/* base64 — see base64.h. */
#include "common/base64.h"

#include <stdlib.h>

#include "common/util.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_len(size_t n, bool url)
{
    if (!url) return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t b64_encode(const void *in, size_t n, char *out, bool url)
{
    const uint8_t *p = in;
    const char *a = url ? URL : STD;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = a[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url) out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

char *b64_encode_alloc(const void *in, size_t n, bool url)
{
    char *out = xmalloc(b64_encoded_len(n, url) + 1);
    b64_encode(in, n, out, url);
    return out;
}

static int val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

long b64_decode(const char *in, size_t n, uint8_t *out)
{
    /* padding: at most two '=' and only at the end of a 4-aligned input */
    size_t pad = 0;
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (pad && (n + pad) % 4) return -1;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = val((unsigned char)in[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the leftover bits of a non-canonical encoding must be zero */
    if (bits && (acc & ((1u << bits) - 1))) return -1;
    return (long)o;
}

uint8_t *b64_decode_alloc(const char *in, size_t n, size_t *len)
{
    uint8_t *out = xmalloc(n / 4 * 3 + 4);
    long r = b64_decode(in, n, out);
    if (r < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)r;
    return out;
}
