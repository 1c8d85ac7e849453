/* kmsg — the table-driven Kafka message codec.
 *
 * Sits in proto/: knows no sockets and no files. Every request and response body is described
 * by a `kschema` (a list of `kfield`s with the versions each field exists in, mirroring the
 * upstream message JSON definitions: validVersions, flexibleVersions, nullableVersions,
 * taggedVersions). One engine decodes bytes into a `kmsg` tree and encodes a tree back, for any
 * version, classic or flexible (compact strings/arrays/bytes, tagged-field buffers).
 *
 * Memory: a decoded tree lives in a `karena` (bump allocator, freed at once). Strings and
 * bytes in a decoded tree point into the input buffer (zero copy): keep the input alive as long
 * as the tree.
 *
 * Field access is by generated constants named after the spec (api_gen.h: ProduceRequest_Acks,
 * TopicProduceData_Name, ...; the naming scheme is described there and in docs/codec.md): a
 * misspelt field does not compile, and an access is an array index. Each constant carries the
 * id of the struct it belongs to; using it on another struct (a programming error, never a
 * matter of input) aborts with both names. A field that exists in the schema but not at the
 * decoded version reads as its default.
 */
#ifndef EDDY_PROTO_KMSG_H
#define EDDY_PROTO_KMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/api_gen.h"

#define KV_MAX 0x7fff /* "and every later version" */
#define KV_NONE (-1)  /* never (nullable / tagged / flexible) */

typedef enum ktype {
    KT_BOOL,
    KT_INT8,
    KT_INT16,
    KT_UINT16,
    KT_INT32,
    KT_UINT32,
    KT_INT64,
    KT_FLOAT64,
    KT_UUID,
    KT_STRING,  /* STRING / COMPACT_STRING (nullable per null_min..null_max) */
    KT_BYTES,   /* BYTES / COMPACT_BYTES */
    KT_RECORDS, /* RECORDS / COMPACT_RECORDS: raw record-batch bytes, always nullable */
    KT_ARRAY,   /* ARRAY / COMPACT_ARRAY of `elem` (KT_STRUCT => of `sub`) */
    KT_STRUCT,  /* one nested struct (used for tagged struct fields) */
} ktype;

struct kschema;

typedef struct kfield {
    const char *name;
    uint8_t type;               /* ktype */
    uint8_t elem;               /* element ktype for KT_ARRAY */
    int16_t vmin, vmax;         /* versions in which the field exists */
    int16_t null_min, null_max; /* versions in which it may be null (KV_NONE..KV_NONE = never) */
    int16_t tag;                /* tag number if tagged, else -1 */
    int16_t tag_min;            /* tagged from this version (only meaningful when tag >= 0) */
    const struct kschema *sub;  /* struct type for KT_STRUCT or arrays of structs */
    int64_t dflt;               /* default for integer fields; strings/bytes/arrays: 1 => null,
                                   anything else => empty (see the rules below) */
} kfield;

/* Field semantics at a version v (the engine's rules, shared by decode, encode and equality):
 *  - present:  vmin <= v <= vmax (vmin == KV_NONE: never). An absent field is neither read nor
 *              written and reads as its default.
 *  - default:  integers/bool/float: `dflt`; UUID: all zero; STRING/BYTES/RECORDS/ARRAY: null
 *              when dflt == 1 (the spec's "default": "null"), else empty; STRUCT: a struct with
 *              every field at its default.
 *  - tagged:   tag >= 0 and v >= tag_min. In flexible versions such a field travels in the
 *              owning struct's tagged-field buffer and only when it differs from its default;
 *              before tag_min it is a regular inline field. Unknown tags are skipped on decode.
 *  - nullable: null_min <= v <= null_max (RECORDS: always). Decoding a null where the field is
 *              not nullable fails with RBUF_BADVALUE; encoding one writes the empty value.
 *              Array elements are never nullable.
 */
typedef struct kschema {
    const char *name; /* e.g. "ProduceRequest", "ProduceRequest.TopicData" */
    int nfields;
    const kfield *fields;
    int id; /* KS_* of api_gen.h: the struct type (one id for alike definitions) */
} kschema;

/* Per-API description: versions, flexibility, request and response body schemas. */
typedef struct kapi {
    int16_t key;
    const char *name;
    int16_t min_version, max_version; /* what the codec supports */
    int16_t flex_min;                 /* first flexible version, KV_NONE if never */
    const kschema *request;
    const kschema *response;
    int16_t response_error_code; /* index of the response's top-level ErrorCode, -1 if none */
} kapi;

/* All APIs the codec knows, indexed by key (API_* of api_gen.h; NULL where unknown). */
const kapi *kapi_get(int16_t key);
#define KAPI_MAX_KEY 80

static inline bool kapi_flexible(const kapi *a, int16_t version)
{
    return a->flex_min != KV_NONE && version >= a->flex_min;
}

/* ---- arena ---- */
typedef struct karena karena;
karena *karena_new(void);
void karena_free(karena *a);
void *karena_alloc(karena *a, size_t n); /* zeroed, 8-byte aligned */
char *karena_strdup(karena *a, const char *s);

/* ---- values ---- */
typedef struct kstr {
    const uint8_t *p;
    int32_t len; /* -1 = null */
} kstr;

/* Output fragment referring to a file range (zero-copy records in Fetch responses).
 * The codec never reads the file; it only carries the reference to the sender. */
typedef struct kfile_frag {
    int fd; /* owned by whoever built the response; see kout_release */
    int64_t off;
    int32_t len;
    struct kfile_frag *next;
} kfile_frag;

struct kmsg;
typedef struct kval {
    union {
        int64_t i;
        double f;
        uint8_t uuid[16];
        kstr s; /* STRING, BYTES, RECORDS */
        struct {
            struct kval *v;
            int32_t n; /* -1 = null */
        } a;
        struct kmsg *m;
    };
    /* RECORDS only: if non-NULL the bytes come from these file ranges (s.len = total). */
    kfile_frag *frags;
} kval;

typedef struct kmsg {
    const kschema *schema;
    karena *arena;
    kval v[]; /* one per schema field */
} kmsg;

/* A new struct with every field at its default. */
kmsg *kmsg_new(karena *a, const kschema *s);

/* Decodes a body at `version`. Returns 0, or a negative RBUF_* error (truncated / bad value).
 * Never reads outside the buffer; array counts are checked against the bytes left; nesting depth
 * is capped and the tree may take at most ~64x the input in the arena (else RBUF_BADVALUE).
 * Trailing bytes after the body are left in `r` (the caller decides whether they are an error). */
int kmsg_decode(karena *a, const kschema *s, int16_t version, bool flexible, rbuf *r, kmsg **out);

/* ---- encoded output: memory plus optional file fragments, in order ---- */
typedef struct kout_seg {
    int fd;      /* -1 => memory: bytes [off, off+len) of `mem` */
    int64_t off; /* memory offset or file offset */
    int64_t len;
} kout_seg;

typedef struct kout {
    wbuf mem;
    kout_seg *segs;
    int nsegs, asegs;
    size_t mem_start; /* start of the current open memory segment */
} kout;

void kout_init(kout *o, size_t cap);
void kout_free(kout *o);
/* Closes the current memory run and appends a file fragment. */
void kout_add_file(kout *o, int fd, int64_t off, int32_t len);
/* Finishes: closes the last memory run. After this, segs[] describe the whole output. */
void kout_finish(kout *o);
/* Total bytes of output (memory + files). */
int64_t kout_size(const kout *o);

/* Encodes `m` at `version` onto o->mem (file fragments via kout_add_file). */
void kmsg_encode(const kmsg *m, int16_t version, bool flexible, kout *o);

/* ---- accessors (field constants of api_gen.h) ---- */

/* A field constant: KFIELD(struct id, field index). */
typedef int kfid;
#define KFID_STRUCT(f) ((f) >> 8)
#define KFID_INDEX(f) ((f)&0xff)

/* Names of the struct ids (api_gen.c). */
extern const char *const kstruct_names[KS_COUNT_];

/* Reports a field constant used on a struct it does not belong to, and aborts. */
_Noreturn void kmsg_bad_field(const kmsg *m, kfid f);

/* The value slot of field f in m (f checked against m's struct). */
static inline kval *k_val(const kmsg *m, kfid f)
{
    if (__builtin_expect(!m || m->schema->id != KFID_STRUCT(f), 0)) kmsg_bad_field(m, f);
    return (kval *)&m->v[KFID_INDEX(f)];
}
/* Its schema row. */
static inline const kfield *k_field(const kmsg *m, kfid f)
{
    k_val(m, f);
    return &m->schema->fields[KFID_INDEX(f)];
}

static inline int64_t k_int(const kmsg *m, kfid f)
{
    return k_val(m, f)->i;
}
static inline double k_f64(const kmsg *m, kfid f)
{
    return k_val(m, f)->f;
}
static inline bool k_bool(const kmsg *m, kfid f)
{
    return k_val(m, f)->i != 0;
}
static inline kstr k_str(const kmsg *m, kfid f)
{
    return k_val(m, f)->s;
} /* STRING/BYTES/RECORDS */
static inline const uint8_t *k_uuid(const kmsg *m, kfid f)
{
    return k_val(m, f)->uuid;
}
static inline int32_t k_count(const kmsg *m, kfid f)
{
    return k_val(m, f)->a.n;
} /* -1: null */
/* Element i of a struct array (NULL when out of range). */
static inline kmsg *k_item(const kmsg *m, kfid f, int32_t i)
{
    const kval *v = k_val(m, f);
    return i >= 0 && i < v->a.n ? v->a.v[i].m : NULL;
}
/* Element i of an integer array (0 when out of range). */
static inline int64_t k_item_int(const kmsg *m, kfid f, int32_t i)
{
    const kval *v = k_val(m, f);
    return i >= 0 && i < v->a.n ? v->a.v[i].i : 0;
}
/* Element i of a string array (null when out of range). */
static inline kstr k_item_str(const kmsg *m, kfid f, int32_t i)
{
    const kval *v = k_val(m, f);
    return i >= 0 && i < v->a.n ? v->a.v[i].s : (kstr){NULL, -1};
}
static inline kmsg *k_struct(const kmsg *m, kfid f)
{
    return k_val(m, f)->m;
} /* KT_STRUCT */

static inline void k_set_int(kmsg *m, kfid f, int64_t v)
{
    k_val(m, f)->i = v;
}
static inline void k_set_f64(kmsg *m, kfid f, double v)
{
    k_val(m, f)->f = v;
}
static inline void k_set_bool(kmsg *m, kfid f, bool v)
{
    k_val(m, f)->i = v ? 1 : 0;
}
void k_set_uuid(kmsg *m, kfid f, const uint8_t uuid[16]);
/* Copies the string into the message's arena. NULL => null. */
void k_set_str(kmsg *m, kfid f, const char *s);
void k_set_bytes(kmsg *m, kfid f, const void *p, int32_t len); /* copies; p NULL => null */
/* References caller memory without copying (must outlive the encode). len -1 => null. */
void k_set_ref(kmsg *m, kfid f, const void *p, int32_t len);
/* RECORDS from file fragments (total length = sum of frag lens). */
void k_set_frags(kmsg *m, kfid f, kfile_frag *frags);
void k_set_null(kmsg *m, kfid f); /* array or string/bytes to null */
/* Sets a string field to a request string, by reference (null => ""). */
static inline void k_set_kstr(kmsg *m, kfid f, kstr s)
{
    if (s.len < 0 || !s.p)
        k_set_ref(m, f, "", 0);
    else
        k_set_ref(m, f, s.p, s.len);
}
/* Allocates an array of n elements (structs defaulted); returns the kval array. */
kval *k_set_array(kmsg *m, kfid f, int32_t n);
/* For struct arrays: allocates n structs and returns the first; element i via k_item. */
kmsg *k_new_items(kmsg *m, kfid f, int32_t n);
kmsg *k_new_struct(kmsg *m, kfid f);
/* A response array answering request array qf of q item for item: one defaulted struct per
 * request element (a null request array counts as empty). Returns the count. */
static inline int32_t k_new_like(kmsg *m, kfid f, const kmsg *q, kfid qf)
{
    int32_t n = k_count(q, qf);
    if (n < 0) n = 0;
    k_new_items(m, f, n);
    return n;
}

/* Deep equality of two trees at a version (fields absent at that version are ignored). */
bool kmsg_equal(const kmsg *a, const kmsg *b, int16_t version, bool flexible);

/* ---- request / response headers ---- */
typedef struct kreq_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    kstr client_id;
    bool flexible; /* header v2 (tagged fields present) */
} kreq_header;

/* Decodes the request header (v1 or v2 depending on the API table). Unknown API keys decode
 * as v1. Returns 0 or a negative RBUF_* error. */
int kreq_header_decode(rbuf *r, kreq_header *h);
void kreq_header_encode(wbuf *w, const kreq_header *h);
/* Response header: correlation id (+ empty tag buffer when flexible, except ApiVersions). */
void kresp_header_encode(wbuf *w, int16_t api_key, int16_t api_version, int32_t correlation_id);

#endif
