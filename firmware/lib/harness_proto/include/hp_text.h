/* Text output for the MLPerf Tiny text mode (hp_mlperf.h): a small buffer in
 * front of hp_board.write, and the number formats that protocol uses, without
 * printf (bare-metal printf often has no float support, and pulls in ~20 KB). */
#ifndef HP_TEXT_H
#define HP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "hp_cobs.h"

#ifndef HP_TEXT_BUF
#define HP_TEXT_BUF 64
#endif

typedef struct {
    hp_write_fn write;
    void *ctx;
    size_t len;
    char buf[HP_TEXT_BUF];
} hp_text;

void hp_text_init(hp_text *t, hp_write_fn write, void *ctx);

void hp_text_str(hp_text *t, const char *s);
void hp_text_char(hp_text *t, char c);
void hp_text_u64(hp_text *t, uint64_t v);  /* decimal */
void hp_text_hex8(hp_text *t, uint8_t v);  /* two lowercase hex digits, as %02x */

/* v as C's printf("%0.3f", v) prints it: rounded to three decimals from its
 * exact binary value (ties to even), a '-' for every negative value (also one
 * that rounds to -0.000), all integer digits of large values, "inf", "-inf",
 * "nan". */
void hp_text_fixed3(hp_text *t, float v);

/* "\r\n", then everything buffered goes to the host: a line is never held
 * back while the device works (e.g. during the warm-ups). */
void hp_text_end_line(hp_text *t);

/* Hand what is buffered to write(). */
void hp_text_flush(hp_text *t);

#endif
