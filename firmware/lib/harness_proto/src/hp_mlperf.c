#include "hp_mlperf.h"

#include <string.h>

/* ---- the model ---- */

typedef struct {
    hp_mlperf_model model;
    const char *name;
    uint8_t in_ndims;
    int32_t in_dims[4];
    uint8_t out_ndims;
    int32_t out_dims[4];
} known_model;

/* The int8 models of MLPerf Tiny v1.x (benchmark/training/ of mlcommons/tiny). */
static const known_model known[] = {
    {HP_MLPERF_IC01, "ic01", 4, {1, 32, 32, 3}, 2, {1, 10}},
    {HP_MLPERF_KWS01, "kws01", 4, {1, 49, 10, 1}, 2, {1, 12}},
    {HP_MLPERF_VWW01, "vww01", 4, {1, 96, 96, 3}, 2, {1, 2}},
    {HP_MLPERF_AD01, "ad01", 2, {1, 640}, 2, {1, 640}},
};

#define DTYPE_FLOAT32 0u
#define DTYPE_INT32 2u
#define DTYPE_UINT8 3u
#define DTYPE_INT16 7u
#define DTYPE_INT8 9u

static bool same_shape(const hp_tensor *t, uint8_t ndims, const int32_t *dims)
{
    if (t->dtype != DTYPE_INT8 || t->ndims != ndims) {
        return false;
    }
    for (uint8_t i = 0; i < ndims; i++) {
        if (t->dims[i] != dims[i]) {
            return false;
        }
    }
    return true;
}

hp_mlperf_model hp_mlperf_model_of(const hp_runner *runner)
{
    if (runner->n_inputs != 1 || runner->n_outputs != 1) {
        return HP_MLPERF_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (same_shape(&runner->inputs[0], known[i].in_ndims, known[i].in_dims) &&
            same_shape(&runner->outputs[0], known[i].out_ndims, known[i].out_dims)) {
            return known[i].model;
        }
    }
    return HP_MLPERF_UNKNOWN;
}

const char *hp_mlperf_model_name(hp_mlperf_model model)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].model == model) {
            return known[i].name;
        }
    }
    return "unknown";
}

/* db bytes per input byte: ad01's db carries float32, the others one byte each. */
static uint32_t db_bytes_needed(const hp_mlperf *m)
{
    return m->model == HP_MLPERF_AD01 ? 4u * m->runner->input_bytes : m->runner->input_bytes;
}

/* ---- output lines ---- */

static void begin_error(hp_mlperf *m)
{
    hp_text_str(&m->out, "e-[");
}

static void error(hp_mlperf *m, const char *why)
{
    begin_error(m);
    hp_text_str(&m->out, why);
    hp_text_char(&m->out, ']');
    hp_text_end_line(&m->out);
}

/* Advance the m-lap-us clock to the counter value `now` (u32 differences: the
 * counter is read at least once per inference, so none is missed within a
 * command; an idle gap longer than a wrap is counted modulo 2^32). */
static void clock_to(hp_mlperf *m, uint32_t now)
{
    m->clock += (uint32_t)(now - m->clock_last);
    m->clock_last = now;
}

static uint64_t clock_us(const hp_mlperf *m)
{
    uint64_t hz = m->board->clock_hz ? m->board->clock_hz : 1000000u;
    return m->clock / hz * 1000000u + m->clock % hz * 1000000u / hz;
}

static void print_lap(hp_mlperf *m)
{
    clock_to(m, m->board->read_cycles(m->board->ctx));
    hp_text_str(&m->out, "m-lap-us-");
    hp_text_u64(&m->out, clock_us(m));
    hp_text_end_line(&m->out);
}

/* ---- input: db bytes into the runner's input ---- */

/* C's round(v / scale) + zero_point, clamped to int8, as MLPerf Tiny's
 * reference quantises ad01's float input; without libm. */
static uint8_t quantize_int8(float v, float scale, int32_t zero_point)
{
    float q = scale != 0.0f ? v / scale : v;
    int32_t r;
    if (q != q) { /* NaN */
        r = 0;
    } else if (q >= 1e6f || q <= -1e6f) {
        r = q > 0.0f ? 1000000 : -1000000;
    } else {
        int32_t whole = (int32_t)q;          /* toward zero */
        float part = q - (float)whole;       /* exact: q's fraction bits */
        r = whole + (part >= 0.5f) - (part <= -0.5f); /* halves away from zero */
    }
    r += zero_point;
    r = r < -128 ? -128 : r > 127 ? 127 : r;
    return (uint8_t)(int8_t)r;
}

static float float_at(const uint8_t *p)
{
    uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void db_store(hp_mlperf *m, uint8_t byte)
{
    const hp_runner *r = m->runner;
    uint32_t pos = m->db_pos++;
    switch (m->model) {
    case HP_MLPERF_IC01:
    case HP_MLPERF_VWW01:
        r->input[pos] = byte ^ 0x80u; /* uint8 pixel - 128 as int8 */
        break;
    case HP_MLPERF_AD01:
        m->floats[pos] = byte;
        if (pos % 4u == 3u) {
            r->input[pos / 4u] = quantize_int8(float_at(m->floats + pos - 3u), r->inputs[0].scale,
                                               r->inputs[0].zero_point);
        }
        break;
    case HP_MLPERF_KWS01:
    case HP_MLPERF_UNKNOWN:
        r->input[pos] = byte;
        break;
    }
}

/* The i-th db byte as the host sent it (db print). */
static uint8_t db_byte(const hp_mlperf *m, uint32_t i)
{
    switch (m->model) {
    case HP_MLPERF_IC01:
    case HP_MLPERF_VWW01:
        return m->runner->input[i] ^ 0x80u;
    case HP_MLPERF_AD01:
        return m->floats[i];
    case HP_MLPERF_KWS01:
    case HP_MLPERF_UNKNOWN:
        break;
    }
    return m->runner->input[i];
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* A count: 1 to 9 decimal digits, nothing else. */
static bool parse_count(const char *s, uint32_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9) {
        return false;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10u + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static void db_load(hp_mlperf *m, const char *count)
{
    uint32_t n;
    if (!count) {
        error(m, "db load needs the number of bytes");
        return;
    }
    if (!parse_count(count, &n) || n == 0) {
        error(m, "db load: the number of bytes must be a whole number > 0");
        return;
    }
    uint32_t needed = db_bytes_needed(m);
    if (m->model == HP_MLPERF_AD01 && needed > HP_MLPERF_FLOAT_INPUT_BYTES) {
        error(m, "db load: this build keeps no float input (HP_MLPERF_FLOAT_INPUT_BYTES)");
        return;
    }
    if (n != needed) {
        begin_error(m);
        hp_text_str(&m->out, "db load: the model's input takes ");
        hp_text_u64(&m->out, needed);
        hp_text_str(&m->out, " bytes, not ");
        hp_text_u64(&m->out, n);
        hp_text_char(&m->out, ']');
        hp_text_end_line(&m->out);
        return;
    }
    m->db_size = n;
    m->db_pos = 0;
    m->output_ready = false; /* results describe the loaded input only */
    hp_text_str(&m->out, "m-[Expecting ");
    hp_text_u64(&m->out, n);
    hp_text_str(&m->out, " bytes]");
    hp_text_end_line(&m->out);
}

/* Hex digits are checked before any byte is stored: a bad line changes nothing. */
static void db_hex(hp_mlperf *m, const char *hex)
{
    size_t n = strlen(hex);
    if (m->db_size == 0) {
        error(m, "db: no db load in progress");
        return;
    }
    if (m->db_pos == m->db_size) {
        error(m, "db: all bytes are loaded; db load starts a new input");
        return;
    }
    if (n % 2u != 0) {
        error(m, "db: odd number of hex digits");
        return;
    }
    for (size_t i = 0; i < n; i += 2) {
        if (hex_value(hex[i]) < 0 || hex_value(hex[i + 1]) < 0) {
            begin_error(m);
            hp_text_str(&m->out, "db: invalid hex digit in '");
            hp_text_char(&m->out, hex[i]);
            hp_text_char(&m->out, hex[i + 1]);
            hp_text_str(&m->out, "']");
            hp_text_end_line(&m->out);
            return;
        }
    }
    /* digits past the announced size are ignored, as MLPerf Tiny's DUT does */
    for (size_t i = 0; i < n && m->db_pos < m->db_size; i += 2) {
        db_store(m, (uint8_t)(hex_value(hex[i]) << 4 | hex_value(hex[i + 1])));
    }
    if (m->db_pos == m->db_size) {
        hp_text_str(&m->out, "m-load-done");
        hp_text_end_line(&m->out);
    }
}

/* The bytes received so far, 8 to a line: m-buffer-xx-xx-... */
static void db_print(hp_mlperf *m)
{
    for (uint32_t i = 0; i < m->db_pos; i++) {
        if (i % 8u == 0) {
            hp_text_str(&m->out, "m-buffer-");
        }
        hp_text_hex8(&m->out, db_byte(m, i));
        if (i % 8u == 7u || i + 1u == m->db_pos) {
            hp_text_end_line(&m->out);
        } else {
            hp_text_char(&m->out, '-');
        }
    }
}

static void cmd_db(hp_mlperf *m, char **args, size_t n_args)
{
    if (n_args == 0) {
        error(m, "db needs a subcommand: load N, print, or hex bytes");
    } else if (strcmp(args[0], "load") == 0) {
        db_load(m, n_args > 1 ? args[1] : NULL);
    } else if (strcmp(args[0], "print") == 0) {
        db_print(m);
    } else {
        db_hex(m, args[0]);
    }
}

/* ---- output: results ---- */

static uint32_t dtype_bytes(uint8_t dtype)
{
    switch (dtype) {
    case DTYPE_FLOAT32:
    case DTYPE_INT32:
        return 4;
    case DTYPE_INT16:
        return 2;
    default:
        return 1; /* int8, uint8, and any other type: one value per byte */
    }
}

/* Element p of a tensor as a float: dequantised ((q - zero_point) * scale, as
 * MLPerf Tiny's DequantizeInt8ToFloat) if quantised, else its value. */
static float element(const hp_tensor *t, const uint8_t *p)
{
    int32_t q;
    switch (t->dtype) {
    case DTYPE_FLOAT32:
        return float_at(p);
    case DTYPE_INT32: {
        /* q - zero_point may not fit an int32: subtract in float (no 64-bit
         * integer to float conversion, which would pull in soft-float code) */
        float v = (float)(int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        return t->scale == 0.0f ? v : (v - (float)t->zero_point) * t->scale;
    }
    case DTYPE_INT16:
        q = (int16_t)(uint16_t)(p[0] | p[1] << 8);
        break;
    case DTYPE_INT8:
        q = (int8_t)p[0];
        break;
    default:
        q = p[0];
        break;
    }
    if (t->scale == 0.0f) {
        return (float)q;
    }
    return (float)(q - t->zero_point) * t->scale;
}

static uint32_t tensor_elements(const hp_tensor *t)
{
    uint32_t n = 1;
    for (uint8_t d = 0; d < t->ndims && d < HP_MAX_DIMS; d++) {
        n *= t->dims[d] > 0 ? (uint32_t)t->dims[d] : 0u;
    }
    return n;
}

/* ad01's score: the mean squared difference between the dequantised output
 * and the float input, summed in element order in single precision. */
static float reconstruction_error(const hp_mlperf *m)
{
    const hp_runner *r = m->runner;
    float sum = 0.0f;
    for (uint32_t i = 0; i < r->input_bytes; i++) {
        float diff = element(&r->outputs[0], r->output + i) - float_at(m->floats + 4u * i);
        sum += diff * diff;
    }
    return sum / (float)r->input_bytes;
}

/* m-results-[v0,v1,...]: every element of the output tensors in order (the
 * runner's output bytes), or ad01's score. */
static void print_results(hp_mlperf *m)
{
    const hp_runner *r = m->runner;
    hp_text_str(&m->out, "m-results-[");
    if (m->model == HP_MLPERF_AD01) {
        hp_text_fixed3(&m->out, reconstruction_error(m));
    } else {
        uint32_t offset = 0;
        for (uint8_t k = 0; k < r->n_outputs; k++) {
            const hp_tensor *t = &r->outputs[k];
            uint32_t size = dtype_bytes(t->dtype);
            uint32_t count = tensor_elements(t);
            for (uint32_t i = 0; i < count && size <= r->output_bytes - offset; i++) {
                if (offset > 0) {
                    hp_text_char(&m->out, ',');
                }
                hp_text_fixed3(&m->out, element(t, r->output + offset));
                offset += size;
            }
        }
    }
    hp_text_char(&m->out, ']');
    hp_text_end_line(&m->out);
}

/* ---- infer ---- */

static void infer_failed(hp_mlperf *m, const char *why)
{
    m->output_ready = false;
    begin_error(m);
    hp_text_str(&m->out, "infer failed: ");
    hp_text_str(&m->out, why);
    hp_text_char(&m->out, ']');
    hp_text_end_line(&m->out);
}

static void infer(hp_mlperf *m, uint32_t runs, uint32_t warmups)
{
    const hp_board *b = m->board;
    const hp_runner *r = m->runner;
    hp_text_str(&m->out, "m-warmup-start-");
    hp_text_u64(&m->out, warmups);
    hp_text_end_line(&m->out);
    for (uint32_t i = 0; i < warmups; i++) {
        const char *why = r->invoke(r->ctx);
        clock_to(m, b->read_cycles(b->ctx)); /* no warm-up is longer than a wrap */
        if (why) {
            infer_failed(m, why);
            return;
        }
    }
    hp_text_str(&m->out, "m-warmup-done");
    hp_text_end_line(&m->out);
    hp_text_str(&m->out, "m-infer-start-");
    hp_text_u64(&m->out, runs);
    hp_text_end_line(&m->out);
    print_lap(m);
    uint32_t start;
    uint64_t total;
    const char *why = hp_time_runs(b, r, runs, NULL, &start, &total);
    clock_to(m, start);
    m->clock += total;
    m->clock_last = start + (uint32_t)total;
    if (why) {
        infer_failed(m, why);
        return;
    }
    m->output_ready = true;
    print_lap(m);
    hp_text_str(&m->out, "m-infer-done");
    hp_text_end_line(&m->out);
    print_results(m);
}

static void cmd_infer(hp_mlperf *m, char **args, size_t n_args)
{
    uint32_t runs = 1;
    uint32_t warmups = 10; /* MLPerf Tiny's default */
    if (n_args > 0 && (!parse_count(args[0], &runs) || runs == 0)) {
        error(m, "infer: N must be a whole number > 0");
        return;
    }
    if (n_args > 1 && !parse_count(args[1], &warmups)) {
        error(m, "infer: W must be a whole number >= 0");
        return;
    }
    if (m->db_size == 0 || m->db_pos != m->db_size) {
        begin_error(m);
        hp_text_str(&m->out, "infer: no complete input: ");
        hp_text_u64(&m->out, m->db_pos);
        hp_text_str(&m->out, " of ");
        hp_text_u64(&m->out, db_bytes_needed(m));
        hp_text_str(&m->out, " bytes loaded (db load N, then db HH...)]");
        hp_text_end_line(&m->out);
        return;
    }
    infer(m, runs, warmups);
}

/* ---- commands ---- */

static void cmd_name(hp_mlperf *m)
{
    hp_text_str(&m->out, "m-name-dut-[");
    hp_text_str(&m->out, m->board->board_id);
    hp_text_char(&m->out, ']');
    hp_text_end_line(&m->out);
}

static void cmd_profile(hp_mlperf *m)
{
    hp_text_str(&m->out, "m-profile-[" HP_MLPERF_PROFILE "]");
    hp_text_end_line(&m->out);
    hp_text_str(&m->out, "m-model-[");
    hp_text_str(&m->out, hp_mlperf_model_name(m->model));
    hp_text_char(&m->out, ']');
    hp_text_end_line(&m->out);
}

static void cmd_help(hp_mlperf *m)
{
    static const char *const lines[] = {
        HP_MLPERF_PROFILE,
        "name           : m-name-dut-[board id]",
        "profile        : m-profile-[...] and m-model-[benchmark]",
        "timestamp      : m-lap-us-<microseconds of the board's cycle counter>",
        "db load N      : expect N input bytes",
        "db HH[HH]*     : input bytes as hex",
        "db print       : the input bytes received, as hex",
        "infer N [W=10] : W warm-ups, N timed inferences, then the results",
        "results        : the outputs of the last inference",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        hp_text_str(&m->out, lines[i]);
        hp_text_end_line(&m->out);
    }
}

static void cmd_results(hp_mlperf *m)
{
    if (!m->output_ready) {
        error(m, "results: no inference of the loaded input yet");
        return;
    }
    print_results(m);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Split the line into at most `cap` words in place; returns how many. */
static size_t split(char *s, char **words, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        while (is_space(*s)) {
            *s++ = '\0';
        }
        if (*s) {
            words[n++] = s;
            while (*s && !is_space(*s)) {
                s++;
            }
        }
    }
    return n;
}

static void run_line(hp_mlperf *m)
{
    char *words[4]; /* the longest command, db load N or infer N W, has three */
    m->line[m->line_len] = '\0';
    size_t n = split(m->line, words, sizeof words / sizeof words[0]);
    if (m->line_too_long) {
        error(m, "command longer than 80 characters");
    } else if (m->line_not_text) {
        error(m, "command has bytes that are not text");
    } else if (n == 0) {
        /* an empty command (a bare '%' flushes the line): only m-ready */
    } else if (strcmp(words[0], "name") == 0) {
        cmd_name(m);
    } else if (strcmp(words[0], "profile") == 0) {
        cmd_profile(m);
    } else if (strcmp(words[0], "help") == 0) {
        cmd_help(m);
    } else if (strcmp(words[0], "timestamp") == 0) {
        print_lap(m);
    } else if (strcmp(words[0], "db") == 0) {
        cmd_db(m, words + 1, n - 1);
    } else if (strcmp(words[0], "infer") == 0) {
        cmd_infer(m, words + 1, n - 1);
    } else if (strcmp(words[0], "results") == 0) {
        cmd_results(m);
    } else {
        begin_error(m);
        hp_text_str(&m->out, "Unknown command: ");
        hp_text_str(&m->out, words[0]);
        hp_text_char(&m->out, ']');
        hp_text_end_line(&m->out);
    }
    hp_text_str(&m->out, "m-ready");
    hp_text_end_line(&m->out);
    m->line_len = 0;
    m->line_too_long = false;
    m->line_not_text = false;
}

/* ---- entry points ---- */

void hp_mlperf_init(hp_mlperf *m, const hp_board *board, const hp_runner *runner)
{
    memset(m, 0, sizeof *m);
    m->board = board;
    m->runner = runner;
    m->model = hp_mlperf_model_of(runner);
    hp_text_init(&m->out, board->write, board->ctx);
}

void hp_mlperf_start(hp_mlperf *m)
{
    m->clock = 0;
    m->clock_last = m->board->read_cycles(m->board->ctx);
    hp_text_end_line(&m->out);
    hp_text_str(&m->out, "m-timestamp-mode-performance");
    hp_text_end_line(&m->out);
    hp_text_str(&m->out, "m-init-done");
    hp_text_end_line(&m->out);
}

void hp_mlperf_rx(hp_mlperf *m, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (c == '%') {
            run_line(m);
        } else if (m->line_len == HP_MLPERF_LINE_MAX) {
            m->line_too_long = true;
        } else {
            if ((c < 0x20u || c > 0x7Eu) && !is_space((char)c)) {
                m->line_not_text = true;
            }
            m->line[m->line_len++] = (char)c;
        }
    }
}
