/* CRC-32 vectors, COBS vectors and edge cases, the streaming frame receiver. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hp_cobs.h"
#include "hp_crc32.h"
#include "hp_frame.h"
#include "test_util.h"

static void crc32_matches_zlib_vectors(void)
{
    CHECK_EQ(hp_crc32((const uint8_t *)"", 0), 0x00000000u);
    CHECK_EQ(hp_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
    CHECK_EQ(hp_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK_EQ(hp_crc32((const uint8_t *)fox, strlen(fox)), 0x414FA339u);
    uint8_t zeros[32] = {0};
    CHECK_EQ(hp_crc32(zeros, sizeof zeros), 0x190A55ADu);
}

static void crc32_matches_bitwise_reference(void)
{
    uint8_t data[4096];
    rng_fill(0xC0FFEE, data, sizeof data);
    for (size_t n = 0; n <= sizeof data; n += 97) {
        CHECK_EQ(hp_crc32(data, n), ref_crc32(data, n));
    }
}

static void check_cobs_vector(const uint8_t *raw, size_t raw_len, const uint8_t *enc,
                              size_t enc_len)
{
    uint8_t out[600];
    size_t n = hp_cobs_encode(raw, raw_len, out, sizeof out);
    CHECK_EQ(n, enc_len);
    CHECK(n == enc_len && memcmp(out, enc, enc_len) == 0);
    size_t dec_len = 0;
    CHECK(hp_cobs_decode(enc, enc_len, out, sizeof out, &dec_len));
    CHECK_EQ(dec_len, raw_len);
    CHECK(dec_len == raw_len && (raw_len == 0 || memcmp(out, raw, raw_len) == 0));
}

#define VEC(raw, enc) check_cobs_vector(raw, sizeof raw, enc, sizeof enc)

static void cobs_short_vectors(void)
{
    /* the examples of Cheshire & Baker's paper (as on Wikipedia) */
    check_cobs_vector(NULL, 0, (const uint8_t[]){0x01}, 1);
    VEC(((const uint8_t[]){0x00}), ((const uint8_t[]){0x01, 0x01}));
    VEC(((const uint8_t[]){0x00, 0x00}), ((const uint8_t[]){0x01, 0x01, 0x01}));
    VEC(((const uint8_t[]){0x00, 0x11, 0x00}), ((const uint8_t[]){0x01, 0x02, 0x11, 0x01}));
    VEC(((const uint8_t[]){0x11, 0x22, 0x00, 0x33}),
        ((const uint8_t[]){0x03, 0x11, 0x22, 0x02, 0x33}));
    VEC(((const uint8_t[]){0x11, 0x22, 0x33, 0x44}),
        ((const uint8_t[]){0x05, 0x11, 0x22, 0x33, 0x44}));
    VEC(((const uint8_t[]){0x11, 0x00, 0x00, 0x00}),
        ((const uint8_t[]){0x02, 0x11, 0x01, 0x01, 0x01}));
}

/* Runs of 254 and 255 non-zero bytes: where a 0xFF block (no implied zero) ends. */
static void cobs_long_run_vectors(void)
{
    uint8_t raw[300];
    uint8_t enc[310];
    /* 01..FE (254 bytes) -> FF 01..FE */
    for (int i = 0; i < 254; i++) raw[i] = (uint8_t)(i + 1);
    enc[0] = 0xFF;
    memcpy(enc + 1, raw, 254);
    check_cobs_vector(raw, 254, enc, 255);
    /* 00 01..FE (255 bytes) -> 01 FF 01..FE */
    raw[0] = 0;
    for (int i = 1; i < 255; i++) raw[i] = (uint8_t)i;
    enc[0] = 0x01;
    enc[1] = 0xFF;
    memcpy(enc + 2, raw + 1, 254);
    check_cobs_vector(raw, 255, enc, 256);
    /* 01..FF (255 bytes) -> FF 01..FE 02 FF */
    for (int i = 0; i < 255; i++) raw[i] = (uint8_t)(i + 1);
    enc[0] = 0xFF;
    memcpy(enc + 1, raw, 254);
    enc[255] = 0x02;
    enc[256] = 0xFF;
    check_cobs_vector(raw, 255, enc, 257);
    /* 02..FF 00 (255 bytes) -> FF 02..FF 01 01 */
    for (int i = 0; i < 254; i++) raw[i] = (uint8_t)(i + 2);
    raw[254] = 0;
    enc[0] = 0xFF;
    memcpy(enc + 1, raw, 254);
    enc[255] = 0x01;
    enc[256] = 0x01;
    check_cobs_vector(raw, 255, enc, 257);
    /* 03..FF 00 01 (255 bytes) -> FE 03..FF 02 01 */
    for (int i = 0; i < 253; i++) raw[i] = (uint8_t)(i + 3);
    raw[253] = 0;
    raw[254] = 1;
    enc[0] = 0xFE;
    memcpy(enc + 1, raw, 253);
    enc[254] = 0x02;
    enc[255] = 0x01;
    check_cobs_vector(raw, 255, enc, 256);
}

static void cobs_decode_accepts_trailing_empty_block(void)
{
    /* Some encoders close a 254-byte run with an extra 01 block; same data. */
    uint8_t enc[256];
    uint8_t out[300];
    size_t len = 0;
    enc[0] = 0xFF;
    for (int i = 1; i < 255; i++) enc[i] = (uint8_t)i;
    enc[255] = 0x01;
    CHECK(hp_cobs_decode(enc, 256, out, sizeof out, &len));
    CHECK_EQ(len, 254);
}

static void cobs_decode_rejects_malformed(void)
{
    uint8_t out[16];
    size_t len = 0;
    CHECK(!hp_cobs_decode((const uint8_t[]){0x05, 0x11, 0x22}, 3, out, sizeof out, &len));
    CHECK(!hp_cobs_decode((const uint8_t[]){0x03, 0x00, 0x22}, 3, out, sizeof out, &len));
    CHECK(!hp_cobs_decode(NULL, 0, out, sizeof out, &len)); /* nothing is not an encoding */
    CHECK(!hp_cobs_decode((const uint8_t[]){0x05, 1, 2, 3, 4}, 5, out, 3, &len)); /* cap */
    CHECK(!hp_cobs_encode((const uint8_t[]){1, 2, 3}, 3, out, 3)); /* needs 4 */
}

static void cobs_random_round_trips(void)
{
    uint32_t rng = 12345;
    uint8_t raw[2000];
    uint8_t enc[HP_COBS_MAX_ENCODED(2000)];
    uint8_t dec[2000];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = rng_next(&rng) % sizeof raw;
        uint32_t zero_every = 1 + rng_next(&rng) % 600; /* from all-zero to rare zeros */
        for (size_t i = 0; i < n; i++) {
            raw[i] = rng_next(&rng) % zero_every == 0 ? 0 : (uint8_t)(1 + rng_next(&rng) % 255);
        }
        size_t e = hp_cobs_encode(raw, n, enc, sizeof enc);
        CHECK(e > 0 && e <= HP_COBS_MAX_ENCODED(n));
        CHECK(memchr(enc, 0, e) == NULL);
        size_t d = 0;
        CHECK(hp_cobs_decode(enc, e, dec, sizeof dec, &d));
        CHECK(d == n && memcmp(dec, raw, n) == 0);
    }
}

/* ---- frame receiver ---- */

static hp_rx_status feed(hp_frame_rx *rx, const uint8_t *wire, size_t len)
{
    hp_rx_status last = HP_RX_MORE;
    for (size_t i = 0; i < len; i++) {
        hp_rx_status s = hp_frame_rx_byte(rx, wire[i]);
        if (s != HP_RX_MORE) {
            last = s;
        }
    }
    return last;
}

static void frame_rx_accepts_good_frame_and_ignores_empty(void)
{
    static hp_frame_rx rx;
    uint8_t wire[64];
    hp_frame_rx_reset(&rx);
    CHECK_EQ(feed(&rx, (const uint8_t[]){0, 0, 0}, 3), HP_RX_MORE);
    size_t n = encode_frame(wire, sizeof wire, 0x06, 7, (const uint8_t *)"\0ab\0", 4);
    CHECK_EQ(feed(&rx, wire, n), HP_RX_FRAME);
    CHECK_EQ(rx.frame_len, 6);
    CHECK(memcmp(rx.buf, "\x06\x07\0ab\0", 6) == 0);
}

static void frame_rx_rejects_short_bad_crc_and_garbage(void)
{
    static hp_frame_rx rx;
    uint8_t wire[64];
    hp_frame_rx_reset(&rx);
    /* five decoded bytes: one short of type + seq + crc */
    size_t n = hp_cobs_encode((const uint8_t[]){1, 2, 3, 4, 5}, 5, wire, sizeof wire);
    wire[n++] = 0;
    CHECK_EQ(feed(&rx, wire, n), HP_RX_BAD_FRAME);
    n = encode_frame(wire, sizeof wire, 0x01, 1, NULL, 0);
    wire[1] ^= 0x40; /* the type byte */
    CHECK_EQ(feed(&rx, wire, n), HP_RX_BAD_CRC);
    /* a truncated COBS block: code says 5, the 0x00 comes after 2 */
    CHECK_EQ(feed(&rx, (const uint8_t[]){0x05, 0x11, 0x22, 0x00}, 4), HP_RX_BAD_FRAME);
    /* and the next good frame is served */
    n = encode_frame(wire, sizeof wire, 0x01, 2, NULL, 0);
    CHECK_EQ(feed(&rx, wire, n), HP_RX_FRAME);
}

static void frame_rx_size_limit_and_resync(void)
{
    static hp_frame_rx rx;
    static uint8_t body[HP_MAX_PAYLOAD + 1];
    static uint8_t wire[HP_COBS_MAX_ENCODED(HP_FRAME_MAX + 1) + 1];
    rng_fill(99, body, sizeof body);
    hp_frame_rx_reset(&rx);
    size_t n = encode_frame(wire, sizeof wire, 0x06, 1, body, HP_MAX_PAYLOAD);
    CHECK_EQ(feed(&rx, wire, n), HP_RX_FRAME);
    CHECK_EQ(rx.frame_len, 2 + HP_MAX_PAYLOAD);
    n = encode_frame(wire, sizeof wire, 0x06, 2, body, HP_MAX_PAYLOAD + 1);
    CHECK_EQ(feed(&rx, wire, n), HP_RX_BAD_FRAME);
    CHECK(rx.len == 0 && !rx.overflow);
    n = encode_frame(wire, sizeof wire, 0x06, 3, body, 10);
    CHECK_EQ(feed(&rx, wire, n), HP_RX_FRAME);
}

const test_case codec_tests[] = {
    TEST(crc32_matches_zlib_vectors),
    TEST(crc32_matches_bitwise_reference),
    TEST(cobs_short_vectors),
    TEST(cobs_long_run_vectors),
    TEST(cobs_decode_accepts_trailing_empty_block),
    TEST(cobs_decode_rejects_malformed),
    TEST(cobs_random_round_trips),
    TEST(frame_rx_accepts_good_frame_and_ignores_empty),
    TEST(frame_rx_rejects_short_bad_crc_and_garbage),
    TEST(frame_rx_size_limit_and_resync),
    TEST_END,
};
