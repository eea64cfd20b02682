/* Consistent Overhead Byte Stuffing: removes every 0x00 so 0x00 can end a frame. */
#ifndef HP_COBS_H
#define HP_COBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encoded size of n bytes (without the 0x00 delimiter). */
#define HP_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

typedef void (*hp_write_fn)(void *ctx, const uint8_t *data, size_t len);

/* Encode in[0..n) to write() in pieces; no buffer of the encoded frame is needed. */
void hp_cobs_encode_to(const uint8_t *in, size_t n, hp_write_fn write, void *ctx);

/* Encode into out; returns the encoded length, or 0 if cap is too small. */
size_t hp_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Byte-at-a-time decoder for bytes between two 0x00 delimiters. */
typedef struct {
    uint8_t left;         /* data bytes still to come in the current block */
    bool zero_pending;    /* the current block ends in an implied 0x00 */
    bool started;         /* at least one byte seen */
} hp_cobs_dec;

void hp_cobs_dec_reset(hp_cobs_dec *dec);

/* Feed one non-zero encoded byte; returns true and sets *out when it yields a
 * decoded byte. */
bool hp_cobs_dec_byte(hp_cobs_dec *dec, uint8_t in, uint8_t *out);

/* True when the bytes fed so far form a whole encoding (checked at the 0x00). */
bool hp_cobs_dec_complete(const hp_cobs_dec *dec);

/* Decode in[0..n) (no delimiter) into out; false on a malformed encoding, a
 * 0x00 inside in, or more than cap decoded bytes. */
bool hp_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
