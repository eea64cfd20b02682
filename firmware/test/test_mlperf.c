/* MLPerf Tiny's text protocol (hp_mlperf) and the protocol choice on the link
 * (hp_link): every command and error, the number formats, and a seeded fuzz. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hp_link.h"
#include "hp_text.h"
#include "runner_checksum.h"
#include "test_util.h"

#define CHECK_STR(got, want)                                                           \
    do {                                                                               \
        const char *g_ = (got);                                                        \
        const char *w_ = (want);                                                       \
        if (strcmp(g_, w_) != 0) {                                                     \
            check_failures++;                                                          \
            fprintf(stderr, "%s:%d: got\n---\n%s\n---\nwanted\n---\n%s\n---\n",        \
                    __FILE__, __LINE__, g_, w_);                                       \
        }                                                                              \
    } while (0)

/* ---- a fake board and a model-shaped runner ---- */

#define MAX_INPUT (96u * 96u * 3u)
#define MAX_OUTPUT 640u

typedef struct {
    uint8_t before[16];
    uint8_t input[MAX_INPUT];
    uint8_t after[16];
    uint8_t output[MAX_OUTPUT];
    uint8_t after_output[16];
    hp_tensor in;
    hp_tensor out;
    int invokes;
    int fail_at;          /* invoke number that fails, 0: none */
    bool echo;            /* output = input (ad01: a perfect reconstruction) ... */
    int8_t bump;          /* ... plus this on element 0 */
} model;

static model mdl;

static const char *model_invoke(void *ctx)
{
    model *m = ctx;
    m->invokes++;
    if (m->invokes == m->fail_at) {
        return "scripted failure";
    }
    if (m->echo) {
        memcpy(m->output, m->input, MAX_OUTPUT);
        m->output[0] = (uint8_t)(m->output[0] + m->bump);
    }
    return NULL;
}

static uint32_t elements(const hp_tensor *t)
{
    uint32_t n = 1;
    for (uint8_t i = 0; i < t->ndims; i++) {
        n *= (uint32_t)t->dims[i];
    }
    return n;
}

/* A runner with these tensors (int8 elements in, any type out). */
static hp_runner model_runner(hp_tensor in, hp_tensor out, uint32_t output_bytes)
{
    static const uint8_t no_hash[32];
    memset(&mdl, 0, sizeof mdl);
    mdl.in = in;
    mdl.out = out;
    return (hp_runner){
        .input = mdl.input, .input_bytes = elements(&mdl.in), .output = mdl.output,
        .output_bytes = output_bytes, .inputs = &mdl.in, .n_inputs = 1, .outputs = &mdl.out,
        .n_outputs = 1, .model_hash = no_hash, .invoke = model_invoke, .ctx = &mdl,
    };
}

static const hp_tensor kws_in = {9, 4, {1, 49, 10, 1}, 0.5f, 3};
static const hp_tensor kws_out = {9, 2, {1, 12}, 0.00390625f, -128};

typedef struct {
    capture cap;          /* first: capture_write's ctx is the fixture */
    hp_board board;
    hp_runner runner;
    hp_link link;
    uint32_t counter;
    uint32_t step;        /* the counter advances this much per read */
    int marker_on_at;     /* invokes done when the marker rose, -1: never */
    int marker_off_at;
    char text[1u << 16];  /* what the device said since the last call of said() */
} fixture;

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
        f->marker_on_at = mdl.invokes;
    } else {
        f->marker_off_at = mdl.invokes;
    }
}

/* 1,000 cycles per counter read at 1 MHz: every read is 1,000 us later. */
static fixture *fixture_new(hp_runner runner)
{
    fixture *f = calloc(1, sizeof *f); /* on the heap: ASan sees past its end */
    f->runner = runner;
    f->board = (hp_board){
        .write = capture_write, .read_cycles = fake_cycles, .marker = fake_marker, .ctx = f,
        .board_id = "host-test", .counter = "fake", .clock_hz = 1000000,
    };
    f->step = 1000;
    f->marker_on_at = f->marker_off_at = -1;
    hp_link_init(&f->link, &f->board, &f->runner);
    return f;
}

static void send(fixture *f, const char *s)
{
    hp_link_rx(&f->link, (const uint8_t *)s, strlen(s));
}

static const char *said(fixture *f)
{
    size_t n = f->cap.len - f->cap.pos;
    if (n >= sizeof f->text) {
        n = sizeof f->text - 1;
    }
    memcpy(f->text, f->cap.wire + f->cap.pos, n);
    f->text[n] = '\0';
    f->cap.pos = f->cap.len = 0;
    return f->text;
}

static const char *ask(fixture *f, const char *command)
{
    send(f, command);
    return said(f);
}

#define BOOT_LINES "\r\nm-timestamp-mode-performance\r\nm-init-done\r\n"

/* Put the link in text mode with an empty command. */
static fixture *text_fixture(hp_runner runner)
{
    fixture *f = fixture_new(runner);
    CHECK_STR(ask(f, "%"), BOOT_LINES "m-ready\r\n");
    return f;
}

/* db lines of per_line bytes; the last one completes the load if `completes`. */
static void load_hex(fixture *f, const uint8_t *data, size_t n, size_t per_line, bool completes)
{
    char line[8 + 2 * 64];
    for (size_t at = 0; at < n; at += per_line) {
        size_t k = n - at < per_line ? n - at : per_line;
        strcpy(line, "db ");
        for (size_t i = 0; i < k; i++) {
            snprintf(line + 3 + 2 * i, 3, "%02x", data[at + i]);
        }
        strcat(line, "%");
        const char *r = ask(f, line);
        CHECK_STR(r, completes && at + k == n ? "m-load-done\r\nm-ready\r\n" : "m-ready\r\n");
    }
}

static void load(fixture *f, const uint8_t *data, size_t n)
{
    char line[40];
    snprintf(line, sizeof line, "db load %zu%%", n);
    char want[64];
    snprintf(want, sizeof want, "m-[Expecting %zu bytes]\r\nm-ready\r\n", n);
    CHECK_STR(ask(f, line), want);
    load_hex(f, data, n, 31, true); /* MLCommons' runner sends 31 bytes a line */
}

/* ---- number formats ---- */

/* hp_text output into a string */
typedef struct {
    char s[128];
    size_t len;
} text_sink;

static void sink_write(void *ctx, const uint8_t *data, size_t len)
{
    text_sink *k = ctx;
    if (len < sizeof k->s - k->len) {
        memcpy(k->s + k->len, data, len);
        k->len += len;
        k->s[k->len] = 0;
    }
}

static void fixed3_is_printf(float v)
{
    text_sink got = {.len = 0};
    hp_text t;
    hp_text_init(&t, sink_write, &got);
    hp_text_fixed3(&t, v);
    hp_text_flush(&t);
    char want[64];
    snprintf(want, sizeof want, "%0.3f", (double)v);
    if (strcmp(got.s, want) != 0) {
        check_failures++;
        fprintf(stderr, "fixed3(%a): %s, printf: %s\n", (double)v, got.s, want);
    }
}

static void fixed3_rounds_like_printf(void)
{
    static const float values[] = {
        0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 0.0005f, -0.0005f, 0.0004999f, 0.9995f, 0.99609375f,
        0.0625f, 0.1875f, -0.0625f, 2.0625f, /* exact ties of the third decimal: to even */
        1e-3f, 1e-4f, 123.456f, 99999.9995f, 8388607.5f, 8388608.0f, 16777215.0f,
        4294967296.0f, 9.2233720e18f, 1.8446744e19f, 3.4028235e38f, -3.4028235e38f,
        1e-45f, 1.17549435e-38f, 0.3910152316093445f, 0.36449846625328064f,
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        fixed3_is_printf(values[i]);
    }
    uint32_t state = 7;
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = rng_next(&state);
        if (i % 2) { /* half of them in the range outputs live in */
            bits = (bits & 0x807FFFFFu) | (uint32_t)(100 + rng_next(&state) % 60) << 23;
        }
        float v;
        memcpy(&v, &bits, sizeof v);
        if (!isnan(v)) {
            fixed3_is_printf(v);
        }
    }
    text_sink got = {.len = 0};
    hp_text t;
    hp_text_init(&t, sink_write, &got);
    hp_text_fixed3(&t, NAN);
    hp_text_char(&t, ' ');
    hp_text_u64(&t, UINT64_MAX);
    hp_text_char(&t, ' ');
    hp_text_u64(&t, 0);
    hp_text_char(&t, ' ');
    hp_text_hex8(&t, 0x0A);
    hp_text_end_line(&t);
    CHECK_STR(got.s, "nan 18446744073709551615 0 0a\r\n");
}

/* ---- the protocol choice ---- */

/* The same bytes to a bare hp_device and to an hp_link: identical replies. */
static void binary_output_is_unchanged(const uint8_t *wire, size_t n)
{
    fixture *plain = fixture_new(*runner_checksum());
    fixture *link = fixture_new(*runner_checksum());
    hp_device dev;
    hp_device_init(&dev, &plain->board, runner_checksum());
    hp_device_ready(&dev);
    hp_device_rx(&dev, wire, n);
    hp_link_boot(&link->link);
    hp_link_rx(&link->link, wire, n);
    CHECK_EQ(link->link.mode, HP_LINK_BINARY);
    CHECK_EQ(link->cap.len, plain->cap.len);
    CHECK(link->cap.len == plain->cap.len &&
          memcmp(link->cap.wire, plain->cap.wire, plain->cap.len) == 0);
    free(plain);
    free(link);
}

static void binary_hosts_get_the_binary_protocol_byte_for_byte(void)
{
    static uint8_t wire[1u << 14];
    size_t n = 0;
    /* a HELLO with the host's leading 0x00 */
    wire[n++] = 0;
    n += encode_frame(wire + n, sizeof wire - n, HP_HELLO, 1, NULL, 0);
    binary_output_is_unchanged(wire, n);
    /* frames written without it: the COBS code byte is text, the type is not */
    uint8_t body[58];
    memset(body, 'x', sizeof body);
    n = encode_frame(wire, sizeof wire, HP_PING, 2, body, sizeof body);
    CHECK(wire[0] >= 0x20 && wire[0] <= 0x7E);
    n += encode_frame(wire + n, sizeof wire - n, HP_HELLO, 3, NULL, 0);
    binary_output_is_unchanged(wire, n);
    /* text-like noise, then a frame: the noise is one bad frame, as without the link */
    n = (size_t)snprintf((char *)wire, sizeof wire, "name");
    wire[n++] = 0;
    n += encode_frame(wire + n, sizeof wire - n, HP_PING, 4, (const uint8_t *)"%", 1);
    binary_output_is_unchanged(wire, n);
    /* random streams: some text without '%', then a byte that is not text, then anything */
    uint32_t state = 99;
    for (int round = 0; round < 300; round++) {
        n = 2 + rng_next(&state) % 3000;
        rng_fill(rng_next(&state), wire, n);
        size_t text = rng_next(&state) % 3 == 0 ? 0 : rng_next(&state) % (n - 1);
        for (size_t i = 0; i < text; i++) {
            wire[i] = (uint8_t)(0x20 + rng_next(&state) % 0x5F);
            wire[i] = wire[i] == '%' ? '$' : wire[i];
        }
        wire[text] = (uint8_t)(rng_next(&state) % 2 ? 0 : 0x80 | wire[text]);
        binary_output_is_unchanged(wire, n);
    }
}

static void text_hosts_get_the_text_protocol(void)
{
    fixture *f = fixture_new(*runner_checksum());
    hp_link_boot(&f->link);
    reply ready;
    CHECK_EQ(capture_next(&f->cap, &ready), 1); /* READY, as the binary protocol always did */
    CHECK_EQ(ready.type, HP_READY);
    CHECK_EQ(f->cap.len, 10u);
    said(f);
    CHECK_STR(ask(f, "na"), ""); /* undecided: nothing yet */
    CHECK_EQ(f->link.mode, HP_LINK_UNDECIDED);
    CHECK_STR(ask(f, "me%"), BOOT_LINES "m-name-dut-[host-test]\r\nm-ready\r\n");
    CHECK_EQ(f->link.mode, HP_LINK_TEXT);
    /* text mode stays: a binary frame is now a command with bytes that are not text */
    uint8_t wire[64];
    wire[0] = 0;
    size_t n = 1 + encode_frame(wire + 1, sizeof wire - 1, HP_HELLO, 1, NULL, 0);
    hp_link_rx(&f->link, wire, n);
    CHECK_STR(ask(f, "%"), "e-[command has bytes that are not text]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "name%"), "m-name-dut-[host-test]\r\nm-ready\r\n");
    free(f);
}

/* Text without a terminator decides nothing: a '%' makes it a (too long)
 * command, a 0x00 makes it a (bad) frame, as if only that protocol listened. */
static void text_noise_waits_for_a_terminator(void)
{
    fixture *f = fixture_new(*runner_checksum());
    char line[200];
    memset(line, 'a', 120);
    line[120] = 0;
    CHECK_STR(ask(f, line), "");
    CHECK_EQ(f->link.mode, HP_LINK_UNDECIDED);
    CHECK_STR(ask(f, "%"), BOOT_LINES "e-[command longer than 80 characters]\r\nm-ready\r\n");
    CHECK_EQ(f->link.mode, HP_LINK_TEXT);
    memset(line, 'b', 80);
    strcpy(line + 80, "%");
    CHECK_STR(ask(f, line), "e-[Unknown command: " /* exactly 80 is accepted */
                            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                            "]\r\nm-ready\r\n");
    free(f);
    static uint8_t wire[4000];
    memset(wire, 'B', 3000);
    wire[3000] = 7;
    wire[3001] = 0;
    size_t n = 3002 + encode_frame(wire + 3002, sizeof wire - 3002, HP_PING, 5, NULL, 0);
    binary_output_is_unchanged(wire, n);
}

/* ---- commands ---- */

static void name_profile_help_timestamp(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    CHECK_STR(ask(f, "name%"), "m-name-dut-[host-test]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "profile%"),
              "m-profile-[" HP_MLPERF_PROFILE "]\r\nm-model-[kws01]\r\nm-ready\r\n");
    const char *help = ask(f, "help%");
    CHECK(strstr(help, "infer N [W=10]") != NULL);
    CHECK(strlen(help) > 9 && strcmp(help + strlen(help) - 9, "m-ready\r\n") == 0);
    /* start read at 0; each read is 1,000 us later (help reads nothing) */
    CHECK_STR(ask(f, "timestamp%"), "m-lap-us-1000\r\nm-ready\r\n");
    CHECK_STR(ask(f, " \t\r\nname  extra words%"), "m-name-dut-[host-test]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "Name%"), "e-[Unknown command: Name]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "%"), "m-ready\r\n");
    free(f);
}

static void models_are_recognised_by_their_tensors(void)
{
    static const struct {
        hp_tensor in, out;
        const char *name;
    } cases[] = {
        {{9, 4, {1, 32, 32, 3}, 1.0f, -128}, {9, 2, {1, 10}, 0.1f, 0}, "ic01"},
        {{9, 4, {1, 49, 10, 1}, 1.0f, 0}, {9, 2, {1, 12}, 0.1f, 0}, "kws01"},
        {{9, 4, {1, 96, 96, 3}, 1.0f, 0}, {9, 2, {1, 2}, 0.1f, 0}, "vww01"},
        {{9, 2, {1, 640}, 1.0f, 0}, {9, 2, {1, 640}, 0.1f, 0}, "ad01"},
        {{0, 2, {1, 640}, 0, 0}, {0, 2, {1, 640}, 0, 0}, "unknown"},     /* float32 */
        {{9, 4, {1, 96, 96, 3}, 0, 0}, {3, 1, {8}, 0, 0}, "unknown"},    /* the checksum runner */
        {{9, 3, {1, 32, 32}, 1.0f, 0}, {9, 2, {1, 10}, 0.1f, 0}, "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hp_runner r = model_runner(cases[i].in, cases[i].out, 4);
        CHECK_STR(hp_mlperf_model_name(hp_mlperf_model_of(&r)), cases[i].name);
    }
    hp_runner none = {0};
    CHECK_EQ(hp_mlperf_model_of(&none), HP_MLPERF_UNKNOWN);
}

static void db_load_and_hex_errors(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    CHECK_STR(ask(f, "db%"), "e-[db needs a subcommand: load N, print, or hex bytes]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db load%"), "e-[db load needs the number of bytes]\r\nm-ready\r\n");
    static const char *const bad_counts[] = {"db load 0%", "db load -5%", "db load 12x%",
                                             "db load 1234567890%", "db load 0x10%"};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        CHECK_STR(ask(f, bad_counts[i]),
                  "e-[db load: the number of bytes must be a whole number > 0]\r\nm-ready\r\n");
    }
    CHECK_STR(ask(f, "db load 491%"),
              "e-[db load: the model's input takes 490 bytes, not 491]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 0102%"), "e-[db: no db load in progress]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db load 490%"), "m-[Expecting 490 bytes]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 010%"), "e-[db: odd number of hex digits]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 01zz02%"), "e-[db: invalid hex digit in 'zz']\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 01-2%"), "e-[db: invalid hex digit in '-2']\r\nm-ready\r\n");
    CHECK_EQ(f->link.mlperf.db_pos, 0u); /* a bad line stores nothing */
    CHECK_STR(ask(f, "db 0aFf%"), "m-ready\r\n");
    CHECK_EQ(f->link.mlperf.db_pos, 2u);
    CHECK_EQ(mdl.input[0], 0x0A);
    CHECK_EQ(mdl.input[1], 0xFF);
    free(f);
}

static void db_stops_at_the_announced_size(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    uint8_t data[490];
    rng_fill(3, data, sizeof data);
    memset(mdl.input + 490, 0x5A, 10); /* past the input: must stay */
    CHECK_STR(ask(f, "db load 490%"), "m-[Expecting 490 bytes]\r\nm-ready\r\n");
    load_hex(f, data, 480, 30, false);
    /* 20 bytes offered, 10 wanted: the rest of the line is ignored */
    CHECK_STR(ask(f, "db 000102030405060708090a0b0c0d0e0f10111213%"),
              "m-load-done\r\nm-ready\r\n");
    CHECK(memcmp(mdl.input, data, 480) == 0);
    CHECK_EQ(mdl.input[489], 9);
    CHECK_EQ(mdl.input[490], 0x5A);
    CHECK_STR(ask(f, "db 00%"),
              "e-[db: all bytes are loaded; db load starts a new input]\r\nm-ready\r\n");
    CHECK_EQ(mdl.input[490], 0x5A);
    CHECK(memcmp(mdl.after, (uint8_t[16]){0}, 16) == 0);
    free(f);
}

static void db_print_shows_the_bytes_received(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    CHECK_STR(ask(f, "db print%"), "m-ready\r\n"); /* nothing loaded */
    CHECK_STR(ask(f, "db load 490%"), "m-[Expecting 490 bytes]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 00112233445566778899%"), "m-ready\r\n");
    CHECK_STR(ask(f, "db print%"),
              "m-buffer-00-11-22-33-44-55-66-77\r\nm-buffer-88-99\r\nm-ready\r\n");
    free(f);
}

static void pixels_become_int8_for_ic01_and_vww01(void)
{
    static const hp_tensor ic_in = {9, 4, {1, 32, 32, 3}, 1.0f, -128};
    static const hp_tensor ic_out = {9, 2, {1, 10}, 0.00390625f, -128};
    fixture *f = text_fixture(model_runner(ic_in, ic_out, 10));
    uint8_t pixels[3072];
    for (size_t i = 0; i < sizeof pixels; i++) {
        pixels[i] = (uint8_t)(i * 7u);
    }
    load(f, pixels, sizeof pixels);
    for (size_t i = 0; i < sizeof pixels; i++) {
        if ((int8_t)mdl.input[i] != pixels[i] - 128) {
            CHECK_EQ(mdl.input[i], pixels[i] - 128);
            break;
        }
    }
    const char *shown = ask(f, "db print%"); /* the pixels as sent */
    CHECK(strncmp(shown, "m-buffer-00-07-0e-15-1c-23-2a-31\r\n", 34) == 0);
    free(f);
}

static void infer_runs_warmups_then_timed_runs_and_prints_results(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    uint8_t data[490];
    rng_fill(4, data, sizeof data);
    load(f, data, sizeof data);
    static const int8_t q[12] = {-128, -127, 0, 127, 1, -1, 64, -64, 10, 20, 30, 40};
    memcpy(mdl.output, q, sizeof q);
    f->counter = 5000; /* 5 ms after the start read at 0 */
    /* the warm-ups read 5000 and 6000; the lap 7000; the timed loop 8000 (its
     * start) and one read per run, to 11000; the lap 12000 */
    CHECK_STR(ask(f, "infer 3 2%"),
              "m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\n"
              "m-lap-us-7000\r\nm-lap-us-12000\r\nm-infer-done\r\n"
              "m-results-[0.000,0.004,0.500,0.996,0.504,0.496,0.750,0.250,0.539,0.578,"
              "0.617,0.656]\r\nm-ready\r\n");
    CHECK_EQ(mdl.invokes, 5);
    CHECK_EQ(f->marker_on_at, 2);  /* after the warm-ups */
    CHECK_EQ(f->marker_off_at, 5); /* after the last timed run */
    CHECK_STR(ask(f, "results%"),
              "m-results-[0.000,0.004,0.500,0.996,0.504,0.496,0.750,0.250,0.539,0.578,"
              "0.617,0.656]\r\nm-ready\r\n");
    mdl.invokes = 0;
    const char *r = ask(f, "infer%"); /* defaults: 1 run after 10 warm-ups */
    CHECK(strncmp(r, "m-warmup-start-10\r\nm-warmup-done\r\nm-infer-start-1\r\n", 50) == 0);
    CHECK_EQ(mdl.invokes, 11);
    mdl.invokes = 0;
    CHECK(strstr(ask(f, "infer 4%"), "m-infer-start-4\r\n") != NULL); /* W defaults to 10 */
    CHECK_EQ(mdl.invokes, 14);
    CHECK(memcmp(mdl.after, (uint8_t[16]){0}, 16) == 0);
    free(f);
}

static void lap_clock_survives_counter_wraps(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    uint8_t data[490] = {0};
    load(f, data, sizeof data);
    f->step = 1500000000u; /* 1,500 s per read at 1 MHz: wraps every third read */
    const char *r = ask(f, "infer 5 0%");
    unsigned long long a = 0, b = 0;
    const char *lap = strstr(r, "m-lap-us-");
    CHECK(lap && sscanf(lap, "m-lap-us-%llu", &a) == 1);
    lap = lap ? strstr(lap + 1, "m-lap-us-") : NULL;
    CHECK(lap && sscanf(lap, "m-lap-us-%llu", &b) == 1);
    /* from the lap's read: the loop's start read, 5 runs and the second lap's read */
    CHECK_EQ(b - a, 7ull * 1500000000ull);
    free(f);
}

static void infer_errors(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    CHECK_STR(ask(f, "infer 1 0%"),
              "e-[infer: no complete input: 0 of 490 bytes loaded (db load N, then db HH...)]"
              "\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db load 490%"), "m-[Expecting 490 bytes]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db 0102%"), "m-ready\r\n");
    CHECK_STR(ask(f, "infer 1 0%"),
              "e-[infer: no complete input: 2 of 490 bytes loaded (db load N, then db HH...)]"
              "\r\nm-ready\r\n");
    CHECK_STR(ask(f, "results%"), "e-[results: no inference of the loaded input yet]\r\nm-ready\r\n");
    static const char *const bad_n[] = {"infer 0%", "infer -1%", "infer x%", "infer 1.5%"};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        CHECK_STR(ask(f, bad_n[i]), "e-[infer: N must be a whole number > 0]\r\nm-ready\r\n");
    }
    CHECK_STR(ask(f, "infer 1 -1%"), "e-[infer: W must be a whole number >= 0]\r\nm-ready\r\n");
    CHECK_EQ(mdl.invokes, 0);
    free(f);
}

static void failed_inference_reports_and_lowers_the_marker(void)
{
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    uint8_t data[490] = {0};
    load(f, data, sizeof data);
    mdl.fail_at = 2; /* the first timed run */
    CHECK_STR(ask(f, "infer 3 1%"),
              "m-warmup-start-1\r\nm-warmup-done\r\nm-infer-start-3\r\nm-lap-us-2000\r\n"
              "e-[infer failed: scripted failure]\r\nm-ready\r\n");
    CHECK_EQ(f->marker_off_at, 2);
    CHECK_STR(ask(f, "results%"), "e-[results: no inference of the loaded input yet]\r\nm-ready\r\n");
    mdl.invokes = 0;
    mdl.fail_at = 1; /* a warm-up */
    CHECK_STR(ask(f, "infer 1 1%"),
              "m-warmup-start-1\r\ne-[infer failed: scripted failure]\r\nm-ready\r\n");
    free(f);
}

static void checksum_runner_results_are_its_output_bytes(void)
{
    fixture *f = text_fixture(*runner_checksum());
    CHECK_STR(ask(f, "profile%"),
              "m-profile-[" HP_MLPERF_PROFILE "]\r\nm-model-[unknown]\r\nm-ready\r\n");
    static uint8_t data[RUNNER_CHECKSUM_INPUT_BYTES];
    memset(data, 1, sizeof data);
    char line[16 + 2 * 38];
    CHECK_STR(ask(f, "db load 27648%"), "m-[Expecting 27648 bytes]\r\nm-ready\r\n");
    strcpy(line, "db ");
    for (int i = 0; i < 38; i++) { /* the most one 80-character line holds */
        strcat(line, "01");
    }
    strcat(line, "%");
    CHECK_EQ(strlen(line), 80u);
    for (uint32_t at = 0; at < sizeof data; at += 38) {
        ask(f, line);
    }
    const char *r = ask(f, "infer 1 0%");
    /* CRC-32 of 27,648 bytes of 0x01, little-endian, then their sum 27,648 = 0x6C00 */
    uint32_t crc = ref_crc32(data, sizeof data);
    char want[128];
    snprintf(want, sizeof want, "m-results-[%u.000,%u.000,%u.000,%u.000,0.000,108.000,0.000,0.000]",
             crc & 0xFFu, crc >> 8 & 0xFFu, crc >> 16 & 0xFFu, crc >> 24);
    CHECK(strstr(r, want) != NULL);
    free(f);
}

static void other_output_types_print_their_values(void)
{
    struct {
        hp_tensor out;
        uint8_t bytes[8];
        uint32_t n;
        const char *want;
    } cases[] = {
        {{0, 2, {1, 2}, 0, 0}, {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x20, 0xC1}, 8,
         "m-results-[1.500,-10.000]"},                               /* float32 */
        {{7, 2, {1, 2}, 0.5f, 2}, {0x0C, 0x00, 0xFE, 0xFF}, 4, "m-results-[5.000,-2.000]"},
        {{2, 1, {1}, 0, 0}, {0xFF, 0xFF, 0xFF, 0x7F}, 4, "m-results-[2147483648.000]"},
        {{3, 1, {3}, 0.25f, 128}, {0, 128, 255}, 3, "m-results-[-32.000,0.000,31.750]"},
        {{9, 1, {4}, 0, 0}, {1, 2, 3, 4}, 2, "m-results-[1.000,2.000]"}, /* fewer bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *f = text_fixture(model_runner(kws_in, cases[i].out, cases[i].n));
        memcpy(mdl.output, cases[i].bytes, sizeof cases[i].bytes);
        uint8_t data[490] = {0};
        load(f, data, sizeof data);
        const char *r = ask(f, "infer 1 0%");
        if (!strstr(r, cases[i].want)) {
            check_failures++;
            fprintf(stderr, "case %zu: %s not in\n%s\n", i, cases[i].want, r);
        }
        free(f);
    }
}

static void ad01_takes_float32_and_reports_the_reconstruction_error(void)
{
    static const hp_tensor ad_in = {9, 2, {1, 640}, 0.5f, 10};
    static const hp_tensor ad_out = {9, 2, {1, 640}, 0.5f, 10};
    fixture *f = text_fixture(model_runner(ad_in, ad_out, 640));
    CHECK_STR(ask(f, "profile%"),
              "m-profile-[" HP_MLPERF_PROFILE "]\r\nm-model-[ad01]\r\nm-ready\r\n");
    CHECK_STR(ask(f, "db load 640%"),
              "e-[db load: the model's input takes 2560 bytes, not 640]\r\nm-ready\r\n");
    float x[640];
    for (int i = 0; i < 640; i++) {
        x[i] = (float)(i % 50 - 25) * 0.5f; /* on the quantisation grid */
    }
    x[1] = 1.25f;   /* 2.5 steps: a half, away from zero -> 3 */
    x[2] = -1.25f;  /* -> -3 */
    x[3] = 1000.0f; /* clamps to 127 */
    x[4] = NAN;     /* -> the zero point */
    x[5] = 0.24f;   /* 0.48 steps -> 0 */
    uint8_t bytes[2560];
    memcpy(bytes, x, sizeof bytes); /* little-endian host, as the wire */
    load(f, bytes, sizeof bytes);
    CHECK_EQ((int8_t)mdl.input[0], -25 + 10);
    CHECK_EQ((int8_t)mdl.input[1], 3 + 10);
    CHECK_EQ((int8_t)mdl.input[2], -3 + 10);
    CHECK_EQ((int8_t)mdl.input[3], 127);
    CHECK_EQ((int8_t)mdl.input[4], 10);
    CHECK_EQ((int8_t)mdl.input[5], 10);
    const char *shown = ask(f, "db print%"); /* the float bytes as sent */
    char want[64];
    snprintf(want, sizeof want, "m-buffer-%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x\r\n", bytes[0],
             bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
    CHECK(strncmp(shown, want, strlen(want)) == 0);
    /* a perfect reconstruction but for element 0, off by 2 steps (1.0) and the
     * elements that were not on the grid */
    x[1] = x[2] = x[3] = x[4] = x[5] = 0.0f;
    memcpy(bytes, x, sizeof bytes);
    CHECK_STR(ask(f, "db load 2560%"), "m-[Expecting 2560 bytes]\r\nm-ready\r\n");
    load_hex(f, bytes, sizeof bytes, 31, true);
    mdl.echo = true;
    mdl.bump = 2;
    const char *r = ask(f, "infer 1 0%");
    /* (1.0^2) / 640 = 0.0015625 -> 0.002 */
    CHECK(strstr(r, "m-results-[0.002]\r\n") != NULL);
    free(f);
}

/* ---- fuzz ---- */

static void fuzz_text_commands(void)
{
    static const char *const words[] = {
        "name", "profile", "help", "timestamp", "db", "load", "print", "490", "0", "-1",
        "infer", "results", "1", "2", "00ff", "0g", "abc", "99999999999", " ", "  ", "%",
    };
    fixture *f = text_fixture(model_runner(kws_in, kws_out, 12));
    uint32_t state = 12345;
    char line[300];
    for (int round = 0; round < 100000; round++) {
        size_t n = 0;
        size_t k = rng_next(&state) % 6;
        for (size_t w = 0; w < k; w++) {
            const char *word = words[rng_next(&state) % (sizeof words / sizeof words[0])];
            size_t len = strlen(word);
            if (n + len + 2 < 120) {
                memcpy(line + n, word, len);
                n += len;
                line[n++] = ' ';
            }
        }
        if (rng_next(&state) % 20 == 0) { /* bytes of any value, the occasional long line */
            size_t extra = rng_next(&state) % 150;
            for (size_t i = 0; i < extra; i++) {
                line[n++] = (char)(1 + rng_next(&state) % 255);
            }
        }
        line[n] = 0;
        size_t percents = 1;
        for (size_t i = 0; i < n; i++) {
            percents += line[i] == '%';
        }
        hp_link_rx(&f->link, (const uint8_t *)line, n);
        hp_link_rx(&f->link, (const uint8_t *)"%", 1);
        const char *r = said(f);
        size_t readies = 0;
        for (const char *p = r; (p = strstr(p, "m-ready\r\n")) != NULL; p++) {
            readies++;
        }
        if (readies != percents) { /* every '%' is answered once */
            CHECK_EQ(readies, percents);
            break;
        }
    }
    CHECK(memcmp(mdl.before, (uint8_t[16]){0}, 16) == 0);
    CHECK(memcmp(mdl.after, (uint8_t[16]){0}, 16) == 0);
    CHECK(memcmp(mdl.after_output, (uint8_t[16]){0}, 16) == 0);
    free(f);
}

const test_case mlperf_tests[] = {
    TEST(fixed3_rounds_like_printf),
    TEST(binary_hosts_get_the_binary_protocol_byte_for_byte),
    TEST(text_hosts_get_the_text_protocol),
    TEST(text_noise_waits_for_a_terminator),
    TEST(name_profile_help_timestamp),
    TEST(models_are_recognised_by_their_tensors),
    TEST(db_load_and_hex_errors),
    TEST(db_stops_at_the_announced_size),
    TEST(db_print_shows_the_bytes_received),
    TEST(pixels_become_int8_for_ic01_and_vww01),
    TEST(infer_runs_warmups_then_timed_runs_and_prints_results),
    TEST(lap_clock_survives_counter_wraps),
    TEST(infer_errors),
    TEST(failed_inference_reports_and_lowers_the_marker),
    TEST(checksum_runner_results_are_its_output_bytes),
    TEST(other_output_types_print_their_values),
    TEST(ad01_takes_float32_and_reports_the_reconstruction_error),
    TEST(fuzz_text_commands),
    TEST_END,
};
