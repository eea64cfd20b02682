#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hp_cobs.h"

uint32_t rng_next(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

void rng_fill(uint32_t seed, uint8_t *out, size_t len)
{
    uint32_t state = seed ? seed : 1;
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)rng_next(&state);
    }
}

uint32_t ref_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

size_t encode_frame(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *body,
                    size_t len)
{
    static uint8_t raw[HP_FRAME_MAX + 64];
    if (len + 6 > sizeof raw) {
        return 0;
    }
    raw[0] = type;
    raw[1] = seq;
    if (len) {
        memcpy(raw + 2, body, len);
    }
    uint32_t crc = ref_crc32(raw, len + 2);
    for (int i = 0; i < 4; i++) {
        raw[len + 2 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    size_t n = cap ? hp_cobs_encode(raw, len + 6, out, cap - 1) : 0;
    if (n == 0) {
        return 0;
    }
    out[n] = 0;
    return n + 1;
}

void capture_write(void *ctx, const uint8_t *data, size_t len)
{
    capture *c = ctx;
    if (len > sizeof c->wire - c->len) {
        fprintf(stderr, "capture buffer full: a test sends far too much\n");
        abort();
    }
    memcpy(c->wire + c->len, data, len);
    c->len += len;
}

int capture_next(capture *c, reply *r)
{
    static uint8_t raw[HP_FRAME_MAX];
    const uint8_t *start;
    const uint8_t *end;
    do { /* skip empty frames: the device's leading delimiters */
        start = c->wire + c->pos;
        end = memchr(start, 0, c->len - c->pos);
        if (!end) {
            return 0;
        }
        c->pos += (size_t)(end - start) + 1;
    } while (end == start);
    size_t n = 0;
    if (!hp_cobs_decode(start, (size_t)(end - start), raw, sizeof raw, &n) || n < 6) {
        return -1;
    }
    uint32_t crc = raw[n - 4] | raw[n - 3] << 8 | raw[n - 2] << 16 | (uint32_t)raw[n - 1] << 24;
    if (crc != ref_crc32(raw, n - 4)) {
        return -1;
    }
    r->type = raw[0];
    r->seq = raw[1];
    r->len = n - 6;
    memcpy(r->body, raw + 2, r->len);
    return 1;
}
