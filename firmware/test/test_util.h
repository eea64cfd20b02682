/* Helpers shared by the host tests: a seeded RNG, a reference CRC, and the host
 * end of a link (encode commands, capture and decode the device's replies). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_config.h"

uint32_t rng_next(uint32_t *state);                 /* xorshift32; state != 0 */
void rng_fill(uint32_t seed, uint8_t *out, size_t len);

uint32_t ref_crc32(const uint8_t *data, size_t len); /* bit by bit, as zlib */

/* COBS(type | seq | body | crc) 0x00 into out; returns its length (0: no room). */
size_t encode_frame(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *body,
                    size_t len);

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t body[HP_MAX_PAYLOAD];
    size_t len;
} reply;

/* What the device wrote, read back frame by frame. */
typedef struct {
    uint8_t wire[1u << 20];
    size_t len;
    size_t pos;
} capture;

void capture_write(void *ctx, const uint8_t *data, size_t len); /* an hp_board.write */

/* 1: *r holds the next frame; 0: no complete frame left; -1: a malformed frame.
 * Empty frames (the device's leading 0x00) are skipped. */
int capture_next(capture *c, reply *r);

#endif
