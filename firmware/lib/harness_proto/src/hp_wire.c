#include "hp_wire.h"

#include <string.h>

uint8_t *hp_put_space(hp_writer *w, size_t len)
{
    if (w->overflow || len > w->cap - w->len) {
        w->overflow = true;
        return NULL;
    }
    uint8_t *at = w->buf + w->len;
    w->len += len;
    return at;
}

void hp_put_bytes(hp_writer *w, const uint8_t *data, size_t len)
{
    uint8_t *at = hp_put_space(w, len);
    if (at && len > 0) {
        memcpy(at, data, len);
    }
}

static void put_le(hp_writer *w, uint64_t v, size_t size)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < size; i++) {
        bytes[i] = (uint8_t)(v >> (8 * i));
    }
    hp_put_bytes(w, bytes, size);
}

void hp_put_u8(hp_writer *w, uint8_t v) { put_le(w, v, 1); }
void hp_put_u16(hp_writer *w, uint16_t v) { put_le(w, v, 2); }
void hp_put_u32(hp_writer *w, uint32_t v) { put_le(w, v, 4); }
void hp_put_u64(hp_writer *w, uint64_t v) { put_le(w, v, 8); }

void hp_put_f32(hp_writer *w, float v)
{
    uint32_t bits; /* IEEE-754 single on every target we build for */
    memcpy(&bits, &v, sizeof bits);
    hp_put_u32(w, bits);
}

void hp_put_str8(hp_writer *w, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len > 255) {
        len = 255;
    }
    hp_put_u8(w, (uint8_t)len);
    hp_put_bytes(w, (const uint8_t *)s, len);
}
