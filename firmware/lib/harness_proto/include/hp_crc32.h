/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the value of zlib.crc32. */
#ifndef HP_CRC32_H
#define HP_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Streaming use: state = HP_CRC32_INIT; state = hp_crc32_byte(state, b)...;
 * crc = state ^ HP_CRC32_XOROUT. */
#define HP_CRC32_INIT 0xFFFFFFFFu
#define HP_CRC32_XOROUT 0xFFFFFFFFu

uint32_t hp_crc32_byte(uint32_t state, uint8_t byte);

/* zlib.crc32(data) */
uint32_t hp_crc32(const uint8_t *data, size_t len);

#endif
