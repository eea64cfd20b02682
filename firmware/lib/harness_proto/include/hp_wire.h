/* Little-endian field readers and bounded writers for frame bodies. */
#ifndef HP_WIRE_H
#define HP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes past cap set overflow and are dropped, so a reply that grows too big
 * is detected once at the end instead of at every field. */
typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool overflow;
} hp_writer;

void hp_put_u8(hp_writer *w, uint8_t v);
void hp_put_u16(hp_writer *w, uint16_t v);
void hp_put_u32(hp_writer *w, uint32_t v);
void hp_put_u64(hp_writer *w, uint64_t v);
void hp_put_f32(hp_writer *w, float v);
void hp_put_bytes(hp_writer *w, const uint8_t *data, size_t len);
void hp_put_str8(hp_writer *w, const char *s);

/* Reserve len bytes to fill in later; NULL (and overflow) if they do not fit. */
uint8_t *hp_put_space(hp_writer *w, size_t len);

static inline void hp_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Callers check the body length first; these read fixed offsets. */
static inline uint16_t hp_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t hp_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
