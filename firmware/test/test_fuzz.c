/* Seeded fuzzing: random and corrupted frames must never crash the device,
 * write past a buffer, or get anything executed that was not sent intact. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hp_device.h"
#include "test_util.h"

#define FUZZ_FRAMES 300000
#define FUZZ_INPUT 300

/* Guards around the runner's buffers: an overrun inside a struct is invisible to ASan. */
typedef struct {
    uint8_t before[16];
    uint8_t input[FUZZ_INPUT];
    uint8_t after[16];
    uint8_t output[20];
    uint8_t after_output[16];
    unsigned long invokes;
} fuzz_runner_state;

static fuzz_runner_state state;
static const hp_tensor tensor = {.dtype = 3, .ndims = 1, .dims = {FUZZ_INPUT}};
static const uint8_t hash[32];

static const char *fuzz_invoke(void *ctx)
{
    fuzz_runner_state *s = ctx;
    s->invokes++;
    s->output[0] = s->input[0];
    return NULL;
}

static uint32_t fuzz_cycles(void *ctx)
{
    (void)ctx;
    static uint32_t t;
    return t += 17;
}

static const hp_runner fuzz_runner = {
    .input = state.input, .input_bytes = FUZZ_INPUT, .output = state.output,
    .output_bytes = sizeof state.output, .inputs = &tensor, .n_inputs = 1, .outputs = &tensor,
    .n_outputs = 1, .model_hash = hash, .invoke = fuzz_invoke, .ctx = &state,
};

typedef struct {
    capture cap; /* first member: capture_write gets the board ctx */
    hp_board board;
    hp_device dev;
} fuzz_link;

static fuzz_link *link_new(void)
{
    fuzz_link *l = calloc(1, sizeof *l);
    memset(&state, 0xA5, sizeof state);
    state.invokes = 0;
    l->board = (hp_board){.write = capture_write, .read_cycles = fuzz_cycles, .ctx = l,
                          .board_id = "fuzz", .counter = "fake", .clock_hz = 1};
    hp_device_init(&l->dev, &l->board, &fuzz_runner);
    return l;
}

static bool guards_intact(void)
{
    for (int i = 0; i < 16; i++) {
        if (state.before[i] != 0xA5 || state.after[i] != 0xA5 || state.after_output[i] != 0xA5) {
            return false;
        }
    }
    return true;
}

/* Every reply decodes, fits max_payload, is a device type; the buffers are intact. */
static bool replies_sane(fuzz_link *l)
{
    static reply r;
    int got;
    bool ok = l->dev.rx.len <= HP_FRAME_MAX && l->dev.out.len <= l->dev.out.cap;
    while ((got = capture_next(&l->cap, &r)) == 1) {
        ok = ok && r.len <= HP_MAX_PAYLOAD && (r.type & 0x80);
        if (r.type == HP_ERROR) {
            ok = ok && r.body[0] >= HP_ERR_BAD_FRAME && r.body[0] <= HP_ERR_INFER_FAILED;
        }
    }
    ok = ok && got == 0 && l->cap.pos == l->cap.len;
    l->cap.len = l->cap.pos = 0;
    return ok && guards_intact();
}

/* A command worth sending: mostly well-formed, sometimes with odd sizes. */
static size_t random_body(uint32_t *rng, fuzz_link *l, uint8_t type, uint8_t *body)
{
    uint32_t r = rng_next(rng);
    size_t len = r % 8 == 0 ? rng_next(rng) % (HP_MAX_PAYLOAD + 1) : rng_next(rng) % 12;
    for (size_t i = 0; i < len; i++) body[i] = (uint8_t)rng_next(rng);
    if (type == HP_LOAD_BEGIN && r % 3 == 0) {
        len = 4;
        hp_store_u32(body, FUZZ_INPUT);
    } else if (type == HP_LOAD_CHUNK && r % 2 == 0) {
        /* often contiguous, sometimes exactly completing the input */
        uint32_t off = r % 4 == 0 ? l->dev.next_offset : rng_next(rng) % (FUZZ_INPUT + 8);
        size_t rest = off < FUZZ_INPUT ? FUZZ_INPUT - off : 1;
        len = 4 + (r % 8 == 0 ? rest : 1 + rng_next(rng) % 200);
        hp_store_u32(body, off);
    } else if (type == HP_INFER && r % 2 == 0) {
        len = 5;
        /* counts stay small but for one in a thousand: the runner is called this often */
        uint16_t cap = r % 1000 == 0 ? 0xFFFF : 8;
        uint16_t warm = (uint16_t)(rng_next(rng) % (cap + 1u));
        uint16_t runs = (uint16_t)(rng_next(rng) % (cap + 1u));
        uint8_t tmp[5] = {(uint8_t)warm, (uint8_t)(warm >> 8), (uint8_t)runs,
                          (uint8_t)(runs >> 8), (uint8_t)rng_next(rng)};
        memcpy(body, tmp, 5);
    } else if (type == HP_READ_OUTPUT && r % 2 == 0) {
        len = 6;
    }
    return len;
}

/* Damage the content of an encoded frame (wire[n - 1] is its delimiter) so that
 * it is never the same frame; returns the new length (cap: wire size). */
static size_t corrupt(uint32_t *rng, uint8_t *wire, size_t n, size_t cap)
{
    size_t content = n - 1; /* at least 7 bytes */
    size_t at = rng_next(rng) % content;
    switch (rng_next(rng) % 5) {
    case 0: /* flip a bit in each of 1-3 neighbouring bytes */
        for (uint32_t k = 0, m = 1 + rng_next(rng) % 3; k < m; k++) {
            wire[(at + k) % content] ^= (uint8_t)(1u << (rng_next(rng) % 8));
        }
        return n;
    case 1: /* cut short: the 0x00 comes early */
        wire[at] = 0;
        return at + 1;
    case 2: /* a stray 0x00 splits it */
        wire[at] = 0;
        return n;
    case 3: /* random bytes inside it */
        if (n + 8 <= cap && at > 0) {
            memmove(wire + at + 8, wire + at, n - at);
            for (int i = 0; i < 8; i++) wire[at + (size_t)i] = (uint8_t)rng_next(rng);
            return n + 8;
        }
        wire[at] ^= 0x80;
        return n;
    default: /* a byte lost */
        memmove(wire + at, wire + at + 1, n - at - 1);
        return n - 1;
    }
}

static void fuzz_frames_never_crash_nor_execute_garbage(void)
{
    static uint8_t body[HP_MAX_PAYLOAD + 16];
    static uint8_t wire[HP_COBS_MAX_ENCODED(HP_FRAME_MAX + 16) + 16];
    uint32_t rng = 0x5EED1234u;
    fuzz_link *l = link_new();
    int insane = 0;
    int executed_garbage = 0;
    for (long i = 0; i < FUZZ_FRAMES; i++) {
        uint8_t type = rng_next(&rng) % 8 == 0 ? (uint8_t)rng_next(&rng)
                                               : (uint8_t)(1 + rng_next(&rng) % 6);
        size_t len = random_body(&rng, l, type, body);
        size_t n = encode_frame(wire, sizeof wire, type, (uint8_t)i, body, len);
        bool intact = rng_next(&rng) % 3 != 0;
        if (!intact) {
            n = corrupt(&rng, wire, n, sizeof wire);
        }
        unsigned long invokes = state.invokes;
        hp_device_rx(&l->dev, wire, n);
        if (!intact) {
            hp_device_rx(&l->dev, (const uint8_t[]){0}, 1); /* end any partial frame */
            executed_garbage += state.invokes != invokes;
        }
        insane += !replies_sane(l);
    }
    CHECK_EQ(insane, 0);
    CHECK_EQ(executed_garbage, 0);
    CHECK(state.invokes > 0); /* the valid frames did get through */
    free(l);
}

static void fuzz_random_byte_stream(void)
{
    static uint8_t chunk[4096];
    uint32_t rng = 0xBADC0DEu;
    fuzz_link *l = link_new();
    int insane = 0;
    for (int i = 0; i < 500; i++) {
        uint32_t zero_every = 1 + rng_next(&rng) % 3000; /* dense zeros to none at all */
        for (size_t k = 0; k < sizeof chunk; k++) {
            chunk[k] = rng_next(&rng) % zero_every == 0 ? 0 : (uint8_t)rng_next(&rng);
        }
        hp_device_rx(&l->dev, chunk, sizeof chunk);
        insane += !replies_sane(l);
    }
    CHECK_EQ(insane, 0);
    CHECK_EQ(state.invokes, 0);
    free(l);
}

const test_case fuzz_tests[] = {
    TEST(fuzz_frames_never_crash_nor_execute_garbage),
    TEST(fuzz_random_byte_stream),
    TEST_END,
};
