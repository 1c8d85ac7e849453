/* crc32c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the RecordBatch v2 checksum.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, else slicing-by-8 tables.
 * Check value: crc32c("123456789") == 0xE3069283. */
#ifndef EDDY_COMMON_CRC32C_H
#define EDDY_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a running CRC: pass 0 to start. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t n);
static inline uint32_t crc32c(const void *data, size_t n)
{
    return crc32c_update(0, data, n);
}

#endif
