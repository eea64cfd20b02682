#include "hp_cobs.h"

void hp_cobs_encode_to(const uint8_t *in, size_t n, hp_write_fn write, void *ctx)
{
    size_t start = 0;
    /* Each block: a code byte (1 + its run of non-zero bytes), then the run.
     * A block whose code is 0xFF has no implied zero after it. After a zero
     * the loop runs once more, so data ending in 0x00 (or empty) gets its last
     * (empty) block. */
    for (;;) {
        size_t run = 0;
        while (start + run < n && in[start + run] != 0 && run < 254) {
            run++;
        }
        uint8_t code = (uint8_t)(run + 1);
        write(ctx, &code, 1);
        if (run > 0) {
            write(ctx, in + start, run);
        }
        start += run;
        if (start == n) {
            return;
        }
        if (run < 254) {
            start++; /* skip the zero the block stands for */
        }
    }
}

typedef struct {
    uint8_t *out;
    size_t len;
    size_t cap;
    bool overflow;
} buf_writer;

static void buf_write(void *ctx, const uint8_t *data, size_t len)
{
    buf_writer *w = ctx;
    if (w->overflow || len > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        w->out[w->len + i] = data[i];
    }
    w->len += len;
}

size_t hp_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    buf_writer w = {out, 0, cap, false};
    hp_cobs_encode_to(in, n, buf_write, &w);
    return w.overflow ? 0 : w.len;
}

void hp_cobs_dec_reset(hp_cobs_dec *dec)
{
    dec->left = 0;
    dec->zero_pending = false;
    dec->started = false;
}

bool hp_cobs_dec_byte(hp_cobs_dec *dec, uint8_t in, uint8_t *out)
{
    if (dec->left > 0) {
        dec->left--;
        *out = in;
        return true;
    }
    /* A code byte: the previous block's implied zero is real now that more follows. */
    bool emit = dec->zero_pending;
    dec->zero_pending = in != 0xFF;
    dec->left = (uint8_t)(in - 1);
    dec->started = true;
    if (emit) {
        *out = 0;
    }
    return emit;
}

bool hp_cobs_dec_complete(const hp_cobs_dec *dec)
{
    return dec->started && dec->left == 0;
}

bool hp_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    hp_cobs_dec dec;
    size_t len = 0;
    hp_cobs_dec_reset(&dec);
    for (size_t i = 0; i < n; i++) {
        uint8_t byte;
        if (in[i] == 0) {
            return false;
        }
        if (hp_cobs_dec_byte(&dec, in[i], &byte)) {
            if (len == cap) {
                return false;
            }
            out[len++] = byte;
        }
    }
    *out_len = len;
    return hp_cobs_dec_complete(&dec);
}
