/* Every command of the protocol against the device core, through real frames. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hp_device.h"
#include "runner_checksum.h"
#include "test_util.h"

/* ---- a fake board (counter, marker) and a scripted runner ---- */

typedef struct {
    capture cap;
    hp_board board;
    hp_device dev;
    uint32_t counter;
    uint32_t step;          /* the counter advances this much per read */
    int marker_on_at;       /* runner invokes done when the marker went high, -1: never */
    int marker_off_at;
    int marker_rises;       /* how often it went high */
    uint8_t seq;
    reply last;
} fixture;

typedef struct {
    uint8_t input[100];
    uint8_t output[3000];
    uint32_t output_bytes;
    int invokes;
    int fail_at;            /* invoke number that fails, 0: none */
} scripted;

static scripted script;
static const hp_tensor scripted_tensor = {.dtype = 3, .ndims = 1, .dims = {100}};
static const uint8_t no_hash[32];

static const char *scripted_invoke(void *ctx)
{
    scripted *s = ctx;
    s->invokes++;
    if (s->invokes == s->fail_at) {
        return "scripted failure";
    }
    memset(s->output, (uint8_t)s->invokes, sizeof s->output);
    return NULL;
}

/* A scripted model of SCRIPTED_OPS ops for PROFILE: op i takes i + 1 cycles a run. */
#define SCRIPTED_OPS 300u
static uint64_t scripted_ops[SCRIPTED_OPS];

static const char *scripted_profile(void *ctx, const hp_board *b, uint16_t runs,
                                    const uint64_t **ops, uint16_t *n_ops, uint64_t *total)
{
    (void)b;
    *total = 0;
    for (uint32_t i = 0; i < SCRIPTED_OPS; i++) {
        scripted_ops[i] = (uint64_t)(i + 1) * runs;
        *total += scripted_ops[i] + 7u;
    }
    for (uint16_t r = 0; r < runs; r++) {
        const char *why = scripted_invoke(ctx);
        if (why) {
            return why;
        }
    }
    *ops = scripted_ops;
    *n_ops = SCRIPTED_OPS;
    return NULL;
}

static hp_runner scripted_runner(uint32_t output_bytes, int fail_at)
{
    memset(&script, 0, sizeof script);
    script.output_bytes = output_bytes;
    script.fail_at = fail_at;
    return (hp_runner){
        .input = script.input, .input_bytes = sizeof script.input,
        .output = script.output, .output_bytes = output_bytes,
        .inputs = &scripted_tensor, .n_inputs = 1, .outputs = &scripted_tensor, .n_outputs = 1,
        .model_hash = no_hash, .invoke = scripted_invoke, .profile = scripted_profile,
        .ctx = &script,
    };
}

static uint32_t fake_cycles(void *ctx)
{
    fixture *f = ctx;
    uint32_t now = f->counter;
    f->counter += f->step;
    return now;
}

static void fake_marker(void *ctx, bool high)
{
    fixture *f = ctx;
    if (high) {
        f->marker_on_at = script.invokes;
        f->marker_rises++;
    } else {
        f->marker_off_at = script.invokes;
    }
}

static fixture *fixture_new(const hp_runner *runner)
{
    fixture *f = calloc(1, sizeof *f); /* on the heap: ASan sees past its end */
    f->board = (hp_board){
        .write = capture_write, .read_cycles = fake_cycles, .marker = fake_marker,
        .ctx = f, .board_id = "host-test", .counter = "fake", .clock_hz = 1000000,
    };
    /* capture_write gets the capture, which is the fixture's first member */
    f->step = 1000;
    f->marker_on_at = f->marker_off_at = -1;
    hp_device_init(&f->dev, &f->board, runner);
    return f;
}

/* Send one command; return its only reply (NULL, and a failed check, if not one). */
static reply *cmd(fixture *f, uint8_t type, const void *body, size_t len)
{
    static uint8_t wire[HP_COBS_MAX_ENCODED(HP_FRAME_MAX) + 1];
    uint8_t seq = ++f->seq;
    size_t n = encode_frame(wire, sizeof wire, type, seq, body, len);
    hp_device_rx(&f->dev, wire, n);
    int got = capture_next(&f->cap, &f->last);
    CHECK_EQ(got, 1);
    CHECK_EQ(f->cap.pos, f->cap.len); /* exactly one frame */
    CHECK_EQ(f->last.seq, seq);
    return got == 1 ? &f->last : NULL;
}

static void check_error(const reply *r, uint8_t code, uint8_t cmd_type)
{
    CHECK(r != NULL);
    if (!r) return;
    CHECK_EQ(r->type, HP_ERROR);
    CHECK_EQ(r->body[0], code);
    CHECK_EQ(r->body[1], cmd_type);
    CHECK(r->len >= 3 && r->body[2] > 0 && r->len == 3u + r->body[2]); /* a message */
}

static void put32(uint8_t *p, uint32_t v) { hp_store_u32(p, v); }

static reply *load_begin(fixture *f, uint32_t total)
{
    uint8_t body[4];
    put32(body, total);
    return cmd(f, HP_LOAD_BEGIN, body, 4);
}

/* Send one chunk; return the number of frames it produced (0 or 1). */
static int load_chunk(fixture *f, uint32_t offset, const uint8_t *data, size_t n)
{
    static uint8_t body[HP_MAX_PAYLOAD];
    static uint8_t wire[HP_COBS_MAX_ENCODED(HP_FRAME_MAX) + 1];
    put32(body, offset);
    memcpy(body + 4, data, n);
    size_t len = encode_frame(wire, sizeof wire, HP_LOAD_CHUNK, ++f->seq, body, n + 4);
    hp_device_rx(&f->dev, wire, len);
    int got = capture_next(&f->cap, &f->last);
    CHECK(got >= 0);
    return got;
}

/* The spec's upload: LOAD_BEGIN, then windows of chunks, one ACK per window. */
static void upload(fixture *f, const uint8_t *data, uint32_t n)
{
    const uint32_t chunk = HP_MAX_PAYLOAD - 4;
    reply *r = load_begin(f, n);
    CHECK(r && r->type == HP_ACK && hp_get_u32(r->body) == 0 && r->body[4] == HP_RX_WINDOW);
    uint32_t chunks = 0;
    for (uint32_t off = 0; off < n; off += chunk) {
        uint32_t len = n - off < chunk ? n - off : chunk;
        int acked = load_chunk(f, off, data + off, len);
        chunks++;
        bool expect_ack = chunks % HP_RX_WINDOW == 0 || off + len == n;
        CHECK_EQ(acked, expect_ack);
        if (acked == 1) {
            CHECK_EQ(f->last.type, HP_ACK);
            CHECK_EQ(hp_get_u32(f->last.body), off + len);
        }
    }
}

typedef struct {
    uint16_t runs, n_cycles;
    uint64_t total;
    const uint8_t *cycles;
    uint32_t output_bytes;
    uint8_t included;
    const uint8_t *output;
} result;

/* On failure *out points at zeros, so the checks that follow fail but read nothing stale. */
static bool parse_result(const reply *r, result *out)
{
    static const uint8_t zeros[HP_MAX_PAYLOAD];
    *out = (result){.cycles = zeros, .output = zeros};
    if (!r || r->type != HP_RESULT || r->len < HP_RESULT_FIXED_BYTES) return false;
    uint16_t n_cycles = hp_get_u16(r->body + 2);
    size_t at = 12u + 4u * n_cycles;
    if (r->len < at + 5) return false;
    uint32_t output_bytes = hp_get_u32(r->body + at);
    uint8_t included = r->body[at + 4];
    if (r->len != at + 5 + (included ? output_bytes : 0)) return false;
    *out = (result){
        .runs = hp_get_u16(r->body), .n_cycles = n_cycles,
        .total = hp_get_u32(r->body + 4) | (uint64_t)hp_get_u32(r->body + 8) << 32,
        .cycles = r->body + 12, .output_bytes = output_bytes, .included = included,
        .output = r->body + at + 5,
    };
    return true;
}

static reply *profile(fixture *f, uint16_t runs, uint16_t first_op)
{
    uint8_t body[4] = {(uint8_t)runs, (uint8_t)(runs >> 8), (uint8_t)first_op,
                       (uint8_t)(first_op >> 8)};
    return cmd(f, HP_PROFILE, body, 4);
}

static uint64_t get_u64(const uint8_t *p)
{
    return hp_get_u32(p) | (uint64_t)hp_get_u32(p + 4) << 32;
}

static reply *infer(fixture *f, uint16_t warmups, uint16_t runs, uint8_t flags)
{
    uint8_t body[5] = {(uint8_t)warmups, (uint8_t)(warmups >> 8), (uint8_t)runs,
                       (uint8_t)(runs >> 8), flags};
    return cmd(f, HP_INFER, body, 5);
}

/* ---- tests ---- */

static void ready_announces_protocol_version(void)
{
    fixture *f = fixture_new(runner_checksum());
    hp_device_ready(&f->dev);
    reply r;
    CHECK(f->cap.len > 2 && f->cap.wire[0] == 0); /* a leading delimiter */
    CHECK_EQ(capture_next(&f->cap, &r), 1);
    CHECK(r.type == HP_READY && r.seq == 0 && r.len == 1 && r.body[0] == HP_PROTOCOL_VERSION);
    free(f);
}

static void hello_reports_board_and_checksum_layout(void)
{
    static const uint8_t sha256_empty[4] = {0xe3, 0xb0, 0xc4, 0x42};
    fixture *f = fixture_new(runner_checksum());
    reply *r = cmd(f, HP_HELLO, NULL, 0);
    CHECK(r && r->type == HP_HELLO_INFO);
    if (!r) { free(f); return; }
    const uint8_t *p = r->body;
    CHECK_EQ(p[0], 1);
    CHECK_EQ(p[1], HP_CAP_MARKER | HP_CAP_PER_RUN | HP_CAP_OUTPUT_IN_RESULT | HP_CAP_PROFILE);
    CHECK_EQ(hp_get_u16(p + 2), HP_MAX_PAYLOAD);
    CHECK_EQ(p[4], HP_RX_WINDOW);
    CHECK_EQ(hp_get_u32(p + 5), 1000000);
    CHECK_EQ(hp_get_u32(p + 9), 0);
    CHECK(memcmp(p + 13, sha256_empty, 4) == 0);
    p += 45;
    CHECK(p[0] == 9 && memcmp(p + 1, "host-test", 9) == 0);
    p += 10;
    CHECK(p[0] == 4 && memcmp(p + 1, "fake", 4) == 0);
    p += 5;
    CHECK_EQ(p[0], 1);                    /* one input */
    CHECK(p[1] == 9 && p[2] == 4);        /* int8, rank 4 */
    CHECK(hp_get_u32(p + 3) == 1 && hp_get_u32(p + 7) == 96 && hp_get_u32(p + 11) == 96 &&
          hp_get_u32(p + 15) == 3);
    CHECK(hp_get_u32(p + 19) == 0 && hp_get_u32(p + 23) == 0); /* not quantized */
    p += 27;
    CHECK_EQ(p[0], 1);                    /* one output */
    CHECK(p[1] == 3 && p[2] == 1 && hp_get_u32(p + 3) == 8); /* uint8 [8] */
    p += 15;
    CHECK_EQ((size_t)(p - r->body), r->len);
    check_error(cmd(f, HP_HELLO, "x", 1), HP_ERR_BAD_ARGS, HP_HELLO);
    free(f);
}

static void board_without_marker_does_not_claim_one(void)
{
    fixture *f = fixture_new(runner_checksum());
    f->board.marker = NULL;
    reply *r = cmd(f, HP_HELLO, NULL, 0);
    CHECK(r && (r->body[1] & HP_CAP_MARKER) == 0);
    free(f);
}

static void upload_acks_each_window_and_checksum_output_matches(void)
{
    static uint8_t data[RUNNER_CHECKSUM_INPUT_BYTES];
    rng_fill(7, data, sizeof data);
    fixture *f = fixture_new(runner_checksum());
    upload(f, data, sizeof data);
    result res;
    CHECK(parse_result(infer(f, 1, 3, HP_INFER_PER_RUN | HP_INFER_WANT_OUTPUT), &res));
    CHECK(res.runs == 3 && res.n_cycles == 3 && res.output_bytes == 8 && res.included == 1);
    uint32_t sum = 0;
    for (size_t i = 0; i < sizeof data; i++) sum += data[i];
    CHECK_EQ(hp_get_u32(res.output), ref_crc32(data, sizeof data));
    CHECK_EQ(hp_get_u32(res.output + 4), sum);
    free(f);
}

static void upload_restarts_from_last_ack_after_a_gap(void)
{
    static uint8_t data[RUNNER_CHECKSUM_INPUT_BYTES];
    const uint32_t chunk = HP_MAX_PAYLOAD - 4;
    const uint32_t total = sizeof data;
    rng_fill(8, data, sizeof data);
    fixture *f = fixture_new(runner_checksum());
    load_begin(f, total);
    for (uint32_t i = 0; i < HP_RX_WINDOW; i++) load_chunk(f, i * chunk, data + i * chunk, chunk);
    const uint32_t acked = HP_RX_WINDOW * chunk;
    CHECK(f->last.type == HP_ACK && hp_get_u32(f->last.body) == acked);
    /* the next window: its first chunk is taken, its second is lost on the line */
    CHECK_EQ(load_chunk(f, acked, data + acked, chunk), 0);
    CHECK_EQ(load_chunk(f, acked + 2 * chunk, data + acked + 2 * chunk, chunk), 1);
    check_error(&f->last, HP_ERR_OUT_OF_ORDER, HP_LOAD_CHUNK);
    /* the host restarts from its last ACK, behind next_offset: taken, and the
     * error reply closed the window, so a full window is counted anew */
    for (uint32_t off = acked, n = 0; off < total; off += chunk, n++) {
        uint32_t len = total - off < chunk ? total - off : chunk;
        int got = load_chunk(f, off, data + off, len);
        CHECK_EQ(got, (n + 1) % HP_RX_WINDOW == 0 || off + len == total);
    }
    result res;
    CHECK(parse_result(infer(f, 0, 1, HP_INFER_WANT_OUTPUT), &res));
    CHECK_EQ(hp_get_u32(res.output), ref_crc32(data, sizeof data));
    /* rewriting from 0 after a complete upload makes the input incomplete again */
    CHECK_EQ(load_chunk(f, 0, data, chunk), 0);
    check_error(infer(f, 0, 1, 0), HP_ERR_BAD_STATE, HP_INFER);
    free(f);
}

static void load_errors(void)
{
    fixture *f = fixture_new(runner_checksum());
    uint8_t body[8] = {0};
    check_error(cmd(f, HP_LOAD_CHUNK, body, 8), HP_ERR_BAD_STATE, HP_LOAD_CHUNK);
    check_error(cmd(f, HP_LOAD_CHUNK, body, 4), HP_ERR_BAD_STATE, HP_LOAD_CHUNK);
    check_error(load_begin(f, RUNNER_CHECKSUM_INPUT_BYTES - 1), HP_ERR_BAD_ARGS, HP_LOAD_BEGIN);
    check_error(cmd(f, HP_LOAD_BEGIN, body, 3), HP_ERR_BAD_ARGS, HP_LOAD_BEGIN);
    load_begin(f, RUNNER_CHECKSUM_INPUT_BYTES);
    check_error(cmd(f, HP_LOAD_CHUNK, body, 4), HP_ERR_BAD_ARGS, HP_LOAD_CHUNK); /* no data */
    check_error(cmd(f, HP_LOAD_CHUNK, body, 2), HP_ERR_BAD_ARGS, HP_LOAD_CHUNK);
    free(f);

    /* a chunk that runs past the input */
    hp_runner small = scripted_runner(8, 0);
    f = fixture_new(&small);
    load_begin(f, 100);
    uint8_t data[101] = {0};
    CHECK_EQ(load_chunk(f, 0, data, 101), 1);
    check_error(&f->last, HP_ERR_BAD_ARGS, HP_LOAD_CHUNK);
    CHECK_EQ(load_chunk(f, 0, data, 100), 1);
    CHECK(f->last.type == HP_ACK && hp_get_u32(f->last.body) == 100);
    free(f);
}

static void infer_argument_and_state_errors(void)
{
    hp_runner small = scripted_runner(8, 0);
    fixture *f = fixture_new(&small);
    check_error(infer(f, 0, 1, 0), HP_ERR_BAD_STATE, HP_INFER);
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    check_error(infer(f, 0, 0, 0), HP_ERR_BAD_ARGS, HP_INFER);
    check_error(infer(f, 0, HP_MAX_PER_RUN + 1, HP_INFER_PER_RUN), HP_ERR_TOO_LARGE, HP_INFER);
    check_error(cmd(f, HP_INFER, data, 4), HP_ERR_BAD_ARGS, HP_INFER);
    check_error(infer(f, 0, 1, 0x04), HP_ERR_BAD_ARGS, HP_INFER); /* unknown flag */
    result res;
    CHECK(parse_result(infer(f, 0, HP_MAX_PER_RUN, HP_INFER_PER_RUN), &res));
    CHECK_EQ(res.n_cycles, HP_MAX_PER_RUN);
    CHECK(parse_result(infer(f, 0, 5000, 0), &res)); /* without PER_RUN any count is fine */
    CHECK(res.runs == 5000 && res.n_cycles == 0 && res.total == 5000ull * 1000);
    /* a new LOAD_BEGIN invalidates the input until it is complete again; the
     * last output stays readable */
    load_begin(f, 100);
    check_error(infer(f, 0, 1, 0), HP_ERR_BAD_STATE, HP_INFER);
    reply *r = cmd(f, HP_READ_OUTPUT, (const uint8_t[]){0, 0, 0, 0, 8, 0}, 6);
    CHECK(r && r->type == HP_OUTPUT && r->len == 12);
    free(f);
}

static void cycles_are_per_run_and_survive_counter_wrap(void)
{
    hp_runner small = scripted_runner(8, 0);
    fixture *f = fixture_new(&small);
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    f->counter = 0xFFFFFFFFu - 2500; /* wraps during the third run */
    f->step = 1000;
    result res;
    CHECK(parse_result(infer(f, 0, 6, HP_INFER_PER_RUN), &res));
    CHECK_EQ(res.total, 6000);
    for (int i = 0; i < 6; i++) CHECK_EQ(hp_get_u32(res.cycles + 4 * i), 1000);
    CHECK(res.included == 0 && res.output_bytes == 8);
    free(f);
}

static void marker_is_high_exactly_around_timed_runs(void)
{
    hp_runner small = scripted_runner(8, 0);
    fixture *f = fixture_new(&small);
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    CHECK_EQ(infer(f, 2, 3, 0)->type, HP_RESULT);
    CHECK_EQ(f->marker_on_at, 2);  /* after the warm-ups */
    CHECK_EQ(f->marker_off_at, 5); /* after the last timed run */
    free(f);
}

static void marker_pulses_mark_start_and_end_without_touching_the_timing(void)
{
    hp_runner small = scripted_runner(8, 0);
    fixture *f = fixture_new(&small);
    f->board.marker_pulse_us = 2;
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    result res;
    CHECK(parse_result(infer(f, 2, 3, 0), &res));
    CHECK_EQ(f->marker_rises, 2);   /* one pulse as the timed loop starts, one as it ends */
    CHECK_EQ(f->marker_on_at, 5);   /* the second pulse: after the last timed run */
    CHECK_EQ(f->marker_off_at, 5);
    CHECK_EQ(res.total, 3000);      /* the pulses lie outside the timed cycles */
    free(f);
}

static void stalled_counter_cannot_hang_a_marker_pulse(void)
{
    hp_runner small = scripted_runner(8, 0);
    fixture *f = fixture_new(&small);
    f->board.marker_pulse_us = 2;
    f->step = 0;                    /* a counter that never advances (QEMU's DWT) */
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    CHECK_EQ(infer(f, 0, 1, 0)->type, HP_RESULT);
    CHECK_EQ(f->marker_rises, 2);
    free(f);
}

static void failed_inference_reports_and_lowers_marker(void)
{
    hp_runner small = scripted_runner(8, 4);
    fixture *f = fixture_new(&small);
    uint8_t data[100] = {0};
    uint8_t range[6] = {0, 0, 0, 0, 8, 0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    reply *r = infer(f, 1, 5, HP_INFER_WANT_OUTPUT);
    check_error(r, HP_ERR_INFER_FAILED, HP_INFER);
    CHECK(r && r->len == 3u + 16 && memcmp(r->body + 3, "scripted failure", 16) == 0);
    CHECK(f->marker_on_at == 1 && f->marker_off_at == 4);
    check_error(cmd(f, HP_READ_OUTPUT, range, 6), HP_ERR_BAD_STATE, HP_READ_OUTPUT);
    free(f);
}

static void large_output_is_read_in_pieces(void)
{
    hp_runner big = scripted_runner(3000, 0);
    fixture *f = fixture_new(&big);
    uint8_t data[100] = {0};
    uint8_t range[6];
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    result res;
    CHECK(parse_result(infer(f, 0, 2, HP_INFER_WANT_OUTPUT), &res));
    CHECK(res.output_bytes == 3000 && res.included == 0);
    const uint16_t piece = HP_MAX_PAYLOAD - 4;
    for (uint32_t off = 0; off < 3000; off += piece) {
        uint16_t n = (uint16_t)(3000 - off < piece ? 3000 - off : piece);
        put32(range, off);
        range[4] = (uint8_t)n;
        range[5] = (uint8_t)(n >> 8);
        reply *r = cmd(f, HP_READ_OUTPUT, range, 6);
        CHECK(r && r->type == HP_OUTPUT && r->len == 4u + n && hp_get_u32(r->body) == off);
        CHECK(r && r->body[4] == 2 && r->body[3 + n] == 2); /* the last run's output */
    }
    put32(range, 0);
    range[4] = (uint8_t)(piece + 1);
    range[5] = (uint8_t)((piece + 1) >> 8);
    check_error(cmd(f, HP_READ_OUTPUT, range, 6), HP_ERR_TOO_LARGE, HP_READ_OUTPUT);
    put32(range, 2999);
    range[4] = 2;
    range[5] = 0;
    check_error(cmd(f, HP_READ_OUTPUT, range, 6), HP_ERR_BAD_ARGS, HP_READ_OUTPUT);
    put32(range, 0xFFFFFFFFu); /* offset + length must not wrap around */
    check_error(cmd(f, HP_READ_OUTPUT, range, 6), HP_ERR_BAD_ARGS, HP_READ_OUTPUT);
    check_error(cmd(f, HP_READ_OUTPUT, range, 5), HP_ERR_BAD_ARGS, HP_READ_OUTPUT);
    free(f);
}

static void ping_echoes_any_body(void)
{
    static uint8_t body[HP_MAX_PAYLOAD];
    fixture *f = fixture_new(runner_checksum());
    reply *r = cmd(f, HP_PING, NULL, 0);
    CHECK(r && r->type == HP_PONG && r->len == 0);
    rng_fill(3, body, sizeof body);
    memset(body + 10, 0, 300); /* a long run of zeros */
    r = cmd(f, HP_PING, body, sizeof body);
    CHECK(r && r->type == HP_PONG && r->len == sizeof body && !memcmp(r->body, body, sizeof body));
    free(f);
}

static void unknown_types_are_refused(void)
{
    static const uint8_t types[] = {0x00, 0x08, 0x7F, HP_ACK, HP_READY, HP_PROFILE_DATA, 0xFF};
    fixture *f = fixture_new(runner_checksum());
    for (size_t i = 0; i < sizeof types; i++) {
        check_error(cmd(f, types[i], "ab", 2), HP_ERR_UNKNOWN_CMD, types[i]);
    }
    free(f);
}

static void bad_frames_are_reported_then_next_frame_served(void)
{
    fixture *f = fixture_new(runner_checksum());
    reply r;
    uint8_t wire[64];
    const uint8_t garbage[] = {0x31, 0x77, 0xFE, 0x02, 0x00};
    hp_device_rx(&f->dev, garbage, sizeof garbage);
    CHECK_EQ(capture_next(&f->cap, &r), 1);
    CHECK(r.seq == 0);
    check_error(&r, HP_ERR_BAD_FRAME, 0);
    size_t n = encode_frame(wire, sizeof wire, HP_PING, 9, (const uint8_t *)"x", 1);
    wire[2] ^= 1; /* the seq byte */
    hp_device_rx(&f->dev, wire, n);
    CHECK_EQ(capture_next(&f->cap, &r), 1);
    CHECK(r.seq == 0);
    check_error(&r, HP_ERR_BAD_CRC, 0);
    hp_device_rx(&f->dev, (const uint8_t[]){0, 0}, 2); /* the host's flush: no reply */
    CHECK_EQ(capture_next(&f->cap, &r), 0);
    reply *pong = cmd(f, HP_PING, "ok", 2);
    CHECK(pong && pong->type == HP_PONG && pong->len == 2);
    free(f);
}

static void checksum_profile_times_its_two_passes(void)
{
    static uint8_t data[RUNNER_CHECKSUM_INPUT_BYTES];
    rng_fill(11, data, sizeof data);
    fixture *f = fixture_new(runner_checksum());
    check_error(profile(f, 1, 0), HP_ERR_BAD_STATE, HP_PROFILE);     /* no input yet */
    upload(f, data, sizeof data);
    reply *r = profile(f, 3, 0);
    CHECK(r && r->type == HP_PROFILE_DATA && r->len == HP_PROFILE_DATA_FIXED_BYTES + 16u);
    if (!r) { free(f); return; }
    CHECK(hp_get_u16(r->body) == 3 && hp_get_u16(r->body + 2) == 2 && hp_get_u16(r->body + 4) == 0);
    CHECK_EQ(get_u64(r->body + 6), 3u * 2000u);   /* the fake counter: 1000 a read */
    CHECK_EQ(get_u64(r->body + 14), 3000u);
    CHECK_EQ(get_u64(r->body + 22), 3000u);
    /* its runs leave the output, as an INFER's do */
    r = cmd(f, HP_READ_OUTPUT, (const uint8_t[]){0, 0, 0, 0, 8, 0}, 6);
    CHECK(r && r->type == HP_OUTPUT && hp_get_u32(r->body + 4) == ref_crc32(data, sizeof data));
    free(f);
}

static void profile_pages_are_read_without_running_again(void)
{
    hp_runner many = scripted_runner(8, 0);
    fixture *f = fixture_new(&many);
    uint8_t data[100] = {0};
    check_error(profile(f, 0, 0), HP_ERR_BAD_STATE, HP_PROFILE);     /* nothing to read */
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    reply *r = profile(f, 2, 0);
    CHECK(r && r->type == HP_PROFILE_DATA && r->len == HP_PROFILE_DATA_FIXED_BYTES
          + 8u * HP_PROFILE_PAGE_OPS);
    CHECK_EQ(script.invokes, 2);
    uint16_t read = 0;
    while (r && r->type == HP_PROFILE_DATA && read < SCRIPTED_OPS) {
        uint16_t count = (uint16_t)((r->len - HP_PROFILE_DATA_FIXED_BYTES) / 8u);
        CHECK(hp_get_u16(r->body) == 2 && hp_get_u16(r->body + 2) == SCRIPTED_OPS);
        CHECK_EQ(hp_get_u16(r->body + 4), read);
        for (uint16_t i = 0; i < count; i++) {
            CHECK_EQ(get_u64(r->body + 14 + 8u * i), 2u * (read + i + 1u));
        }
        read = (uint16_t)(read + count);
        r = read < SCRIPTED_OPS ? profile(f, 0, read) : r;
    }
    CHECK_EQ(read, SCRIPTED_OPS);
    CHECK_EQ(script.invokes, 2);                                     /* pages ran nothing */
    check_error(profile(f, 0, SCRIPTED_OPS), HP_ERR_BAD_ARGS, HP_PROFILE);
    check_error(cmd(f, HP_PROFILE, data, 3), HP_ERR_BAD_ARGS, HP_PROFILE);
    free(f);
}

static void failed_profile_forgets_profile_and_output(void)
{
    hp_runner failing = scripted_runner(8, 3);
    fixture *f = fixture_new(&failing);
    uint8_t data[100] = {0};
    load_begin(f, 100);
    load_chunk(f, 0, data, 100);
    CHECK_EQ(profile(f, 1, 0)->type, HP_PROFILE_DATA);
    reply *r = profile(f, 4, 0);                 /* its second run is invoke 3: fails */
    check_error(r, HP_ERR_INFER_FAILED, HP_PROFILE);
    check_error(profile(f, 0, 0), HP_ERR_BAD_STATE, HP_PROFILE);
    check_error(cmd(f, HP_READ_OUTPUT, (const uint8_t[]){0, 0, 0, 0, 8, 0}, 6), HP_ERR_BAD_STATE,
                HP_READ_OUTPUT);
    free(f);
}

static void runner_without_profile_neither_announces_nor_answers_it(void)
{
    hp_runner plain = scripted_runner(8, 0);
    plain.profile = NULL;
    fixture *f = fixture_new(&plain);
    reply *r = cmd(f, HP_HELLO, NULL, 0);
    CHECK(r && (r->body[1] & HP_CAP_PROFILE) == 0);
    check_error(profile(f, 1, 0), HP_ERR_UNKNOWN_CMD, HP_PROFILE);
    free(f);
}

const test_case device_tests[] = {
    TEST(ready_announces_protocol_version),
    TEST(hello_reports_board_and_checksum_layout),
    TEST(board_without_marker_does_not_claim_one),
    TEST(upload_acks_each_window_and_checksum_output_matches),
    TEST(upload_restarts_from_last_ack_after_a_gap),
    TEST(load_errors),
    TEST(infer_argument_and_state_errors),
    TEST(cycles_are_per_run_and_survive_counter_wrap),
    TEST(marker_is_high_exactly_around_timed_runs),
    TEST(marker_pulses_mark_start_and_end_without_touching_the_timing),
    TEST(stalled_counter_cannot_hang_a_marker_pulse),
    TEST(failed_inference_reports_and_lowers_marker),
    TEST(large_output_is_read_in_pieces),
    TEST(ping_echoes_any_body),
    TEST(unknown_types_are_refused),
    TEST(bad_frames_are_reported_then_next_frame_served),
    TEST(checksum_profile_times_its_two_passes),
    TEST(profile_pages_are_read_without_running_again),
    TEST(failed_profile_forgets_profile_and_output),
    TEST(runner_without_profile_neither_announces_nor_answers_it),
    TEST_END,
};
