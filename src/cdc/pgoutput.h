/* pgoutput — decoder for PostgreSQL's streaming-replication CopyData frames and the pgoutput
 * logical decoding plugin's messages (protocol version 1), for eddy-cdc (src/cdc).
 *
 * Pure: knows no sockets and no libpq, so the fuzzer (fuzz/fuzz_pgoutput.c) and the unit test
 * feed it bytes. Every read is bounds-checked through common/buf's sticky-error reader; every
 * count is checked against the bytes left before anything is allocated. Strings and column
 * values point into the caller's buffer, which must outlive the decoded message.
 *
 * CopyData frames (both directions of START_REPLICATION):
 *   'w' XLogData        | Byte1 'w' | Int64 walStart | Int64 walEnd | Int64 sendTime | data...
 *   'k' keepalive       | Byte1 'k' | Int64 walEnd   | Int64 sendTime | Byte1 replyRequested
 *   'r' standby status  | Byte1 'r' | Int64 written | Int64 flushed | Int64 applied |
 *                        Int64 sendTime | Byte1 replyRequested          (we send this one)
 * pgoutput messages carried in 'w' data (times are µs since 2000-01-01 UTC):
 *   'B' Begin     | Int64 final_lsn | Int64 commit_ts | Int32 xid
 *   'C' Commit    | Int8 flags | Int64 commit_lsn | Int64 end_lsn | Int64 commit_ts
 *   'O' Origin    | Int64 lsn | String name
 *   'R' Relation  | Int32 relid | String nspname | String relname | Int8 replident |
 *                   Int16 ncols | ncols × (Int8 flags | String name | Int32 typoid | Int32 typmod)
 *   'Y' Type      | Int32 typoid | String nspname | String typname
 *   'I' Insert    | Int32 relid | 'N' TupleData
 *   'U' Update    | Int32 relid | ['K' TupleData | 'O' TupleData] | 'N' TupleData
 *   'D' Delete    | Int32 relid | 'K' TupleData | 'O' TupleData
 *   'T' Truncate  | Int32 nrels | Int8 options (1 CASCADE, 2 RESTART IDENTITY) | nrels × Int32
 *   'M' Message   | Int8 flags | Int64 lsn | String prefix | Int32 len | Byte[len]
 *   TupleData     | Int16 ncols | ncols × ('n' null | 'u' unchanged TOAST |
 *                                          't' Int32 len Byte[len] text | 'b' ... binary)
 * String = bytes up to and including a NUL, which must lie inside the message.
 */
#ifndef EDDY_CDC_PGOUTPUT_H
#define EDDY_CDC_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
#define PGO_EPOCH_OFFSET_US 946684800000000LL

/* A replication CopyData frame. */
typedef struct pgo_frame {
    char kind;          /* 'w' or 'k' */
    uint64_t wal_start; /* 'w' */
    uint64_t wal_end;
    int64_t send_time;   /* µs since 2000-01-01 */
    bool reply;          /* 'k': the server wants a status update now */
    const uint8_t *data; /* 'w': the pgoutput message */
    size_t len;
} pgo_frame;

typedef struct pgo_col {
    uint8_t flags; /* 1 = part of the replica identity */
    const char *name;
    uint32_t typoid;
    int32_t typmod;
} pgo_col;

typedef struct pgo_value {
    char kind;        /* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
    const char *data; /* 't'/'b': not NUL-terminated */
    uint32_t len;
} pgo_value;

typedef struct pgo_tuple {
    int ncols;
    pgo_value *cols; /* malloc'd */
} pgo_tuple;

typedef struct pgo_msg {
    char type; /* 'B','C','O','R','Y','I','U','D','T','M' */
    /* B / C */
    uint64_t lsn;      /* B: final_lsn; C: commit_lsn; O/M: lsn */
    uint64_t end_lsn;  /* C */
    int64_t commit_ts; /* B, C: µs since 2000-01-01 */
    uint32_t xid;      /* B */
    uint8_t flags;     /* C, M */
    /* R / I / U / D / Y */
    uint32_t relid; /* R, I, U, D; Y: the type oid */
    const char *nspname;
    const char *relname; /* R: relation; Y: type name; O: origin name; M: prefix */
    char replident;      /* R: 'd' default, 'n' nothing, 'f' full, 'i' index */
    int ncols;
    pgo_col *cols; /* R, malloc'd */
    char old_kind; /* U, D: 'K' (key columns), 'O' (whole old row) or 0 */
    pgo_tuple old_tuple, new_tuple;
    /* T */
    int nrels;
    uint32_t *relids; /* malloc'd */
    uint8_t trunc_options;
    /* M */
    const uint8_t *content;
    uint32_t content_len;
} pgo_msg;

/* Decodes one CopyData frame. 0, or -1 with a reason in err (the frame is malformed or of a
 * kind we do not expect). */
int pgo_frame_decode(const uint8_t *p, size_t n, pgo_frame *f, char *err, size_t errlen);

/* Decodes one pgoutput message. 0, or -1 with a reason in err; pgo_msg_free is safe either way.
 */
int pgo_msg_decode(const uint8_t *p, size_t n, pgo_msg *m, char *err, size_t errlen);
void pgo_msg_free(pgo_msg *m);

/* Writes a 34-byte standby status update ('r') into out. */
void pgo_status_encode(uint8_t out[34], uint64_t written, uint64_t flushed, uint64_t applied,
                       int64_t send_time, bool reply);

/* "X/Y" (PostgreSQL's LSN text form) <-> 64-bit LSN. Parse returns -1 on bad text. */
int pgo_lsn_parse(const char *s, uint64_t *lsn);
void pgo_lsn_format(uint64_t lsn, char out[32]);

#endif
