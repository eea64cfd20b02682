#include "hp_crc32.h"

/* Half-byte table: 64 bytes of flash instead of 1 KiB, two lookups per byte.
 * Entry i is register value i shifted through four bits of the reflected
 * polynomial division. */
static const uint32_t nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t hp_crc32_byte(uint32_t state, uint8_t byte)
{
    state ^= byte;
    state = (state >> 4) ^ nibble_table[state & 0x0Fu];
    state = (state >> 4) ^ nibble_table[state & 0x0Fu];
    return state;
}

uint32_t hp_crc32(const uint8_t *data, size_t len)
{
    uint32_t state = HP_CRC32_INIT;
    for (size_t i = 0; i < len; i++) {
        state = hp_crc32_byte(state, data[i]);
    }
    return state ^ HP_CRC32_XOROUT;
}
