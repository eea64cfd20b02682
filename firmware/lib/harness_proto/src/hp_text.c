#include "hp_text.h"

#include <stdbool.h>
#include <string.h>

void hp_text_init(hp_text *t, hp_write_fn write, void *ctx)
{
    t->write = write;
    t->ctx = ctx;
    t->len = 0;
}

void hp_text_flush(hp_text *t)
{
    if (t->len > 0) {
        t->write(t->ctx, (const uint8_t *)t->buf, t->len);
        t->len = 0;
    }
}

void hp_text_char(hp_text *t, char c)
{
    if (t->len == sizeof t->buf) {
        hp_text_flush(t);
    }
    t->buf[t->len++] = c;
}

void hp_text_str(hp_text *t, const char *s)
{
    while (*s) {
        hp_text_char(t, *s++);
    }
}

void hp_text_end_line(hp_text *t)
{
    hp_text_str(t, "\r\n");
    hp_text_flush(t);
}

void hp_text_u64(hp_text *t, uint64_t v)
{
    char digits[20]; /* 2^64 - 1 has 20 */
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v > 0);
    while (n > 0) {
        hp_text_char(t, digits[--n]);
    }
}

void hp_text_hex8(hp_text *t, uint8_t v)
{
    static const char hex[] = "0123456789abcdef";
    hp_text_char(t, hex[v >> 4]);
    hp_text_char(t, hex[v & 0x0Fu]);
}

/* m * 2^e for e > 39 (|v| >= 2^63): too big for a u64, and a float holds no
 * fraction there. Decimal digits, least significant first, doubled e times:
 * at most 2^24 * 2^104 < 10^39. */
static void put_big_integer(hp_text *t, uint32_t m, int e)
{
    uint8_t digits[40];
    size_t n = 0;
    do {
        digits[n++] = (uint8_t)(m % 10u);
        m /= 10u;
    } while (m > 0);
    for (int i = 0; i < e; i++) {
        unsigned carry = 0;
        for (size_t d = 0; d < n; d++) {
            unsigned x = digits[d] * 2u + carry;
            digits[d] = (uint8_t)(x % 10u);
            carry = x / 10u;
        }
        if (carry && n < sizeof digits) {
            digits[n++] = (uint8_t)carry;
        }
    }
    while (n > 0) {
        hp_text_char(t, (char)('0' + digits[--n]));
    }
}

void hp_text_fixed3(hp_text *t, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool negative = (bits >> 31) != 0;
    uint32_t exponent = (bits >> 23) & 0xFFu;
    uint32_t fraction = bits & 0x7FFFFFu;
    if (exponent == 0xFFu) {
        hp_text_str(t, fraction ? "nan" : negative ? "-inf" : "inf");
        return;
    }
    /* v = m * 2^e exactly */
    uint32_t m = exponent ? (fraction | 0x800000u) : fraction;
    int e = exponent ? (int)exponent - 150 : -149;
    if (negative) {
        hp_text_char(t, '-');
    }
    if (e > 39) {
        put_big_integer(t, m, e);
        hp_text_str(t, ".000");
        return;
    }
    if (e >= 0) { /* an integer below 2^63 */
        hp_text_u64(t, (uint64_t)m << e);
        hp_text_str(t, ".000");
        return;
    }
    uint64_t thousandths; /* v * 1000, rounded to the nearest, ties to even */
    unsigned k = (unsigned)-e;
    uint64_t scaled = (uint64_t)m * 1000u; /* < 2^34 */
    if (k >= 40) {
        thousandths = 0; /* below half a thousandth, never a tie */
    } else {
        thousandths = scaled >> k;
        uint64_t rest = scaled - (thousandths << k);
        uint64_t half = (uint64_t)1 << (k - 1);
        if (rest > half || (rest == half && (thousandths & 1u))) {
            thousandths++;
        }
    }
    hp_text_u64(t, thousandths / 1000u);
    hp_text_char(t, '.');
    unsigned frac = (unsigned)(thousandths % 1000u);
    hp_text_char(t, (char)('0' + frac / 100u));
    hp_text_char(t, (char)('0' + frac / 10u % 10u));
    hp_text_char(t, (char)('0' + frac % 10u));
}
