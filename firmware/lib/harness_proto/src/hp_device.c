#include "hp_device.h"

#include <string.h>

/* ---- replies ---- */

static void reply_begin(hp_device *dev, uint8_t type, uint8_t seq)
{
    /* type + seq + at most HP_MAX_PAYLOAD of body; the CRC goes after it */
    dev->out = (hp_writer){dev->tx, 0, 2u + HP_MAX_PAYLOAD, false};
    hp_put_u8(&dev->out, type);
    hp_put_u8(&dev->out, seq);
}

/* Every frame goes out here. Any reply closes the current upload window: the
 * host waits for it before sending more, so counting restarts. */
static void send_frame(hp_device *dev)
{
    dev->since_reply = 0;
    hp_frame_send(dev->tx, dev->out.len, dev->board->write, dev->board->ctx);
}

static void send_error(hp_device *dev, uint8_t seq, uint8_t code, uint8_t cmd, const char *why)
{
    reply_begin(dev, HP_ERROR, seq);
    hp_put_u8(&dev->out, code);
    hp_put_u8(&dev->out, cmd);
    hp_put_str8(&dev->out, why);
    send_frame(dev);
}

static void reply_send(hp_device *dev)
{
    if (dev->out.overflow) {
        /* only reachable through oversized descriptors or strings: a build bug */
        send_error(dev, dev->tx[1], HP_ERR_TOO_LARGE, 0, "reply exceeds max_payload");
        return;
    }
    send_frame(dev);
}

static void send_ack(hp_device *dev, uint8_t seq)
{
    reply_begin(dev, HP_ACK, seq);
    hp_put_u32(&dev->out, dev->next_offset);
    hp_put_u8(&dev->out, HP_RX_WINDOW);
    reply_send(dev);
}

static bool input_complete(const hp_device *dev)
{
    return dev->load_begun && dev->next_offset == dev->runner->input_bytes;
}

/* ---- commands: each gets the seq and the body; the body length is unchecked ---- */

static void put_tensors(hp_writer *w, const hp_tensor *t, uint8_t n)
{
    hp_put_u8(w, n);
    for (uint8_t i = 0; i < n; i++) {
        uint8_t ndims = t[i].ndims <= HP_MAX_DIMS ? t[i].ndims : HP_MAX_DIMS;
        hp_put_u8(w, t[i].dtype);
        hp_put_u8(w, ndims);
        for (uint8_t d = 0; d < ndims; d++) {
            hp_put_u32(w, (uint32_t)t[i].dims[d]);
        }
        hp_put_f32(w, t[i].scale);
        hp_put_u32(w, (uint32_t)t[i].zero_point);
    }
}

static void cmd_hello(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    (void)body;
    if (len != 0) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_HELLO, "HELLO has no body");
        return;
    }
    const hp_board *b = dev->board;
    const hp_runner *r = dev->runner;
    uint8_t caps = HP_CAP_PER_RUN | HP_CAP_OUTPUT_IN_RESULT;
    if (b->marker) {
        caps |= HP_CAP_MARKER;
    }
    if (r->profile) {
        caps |= HP_CAP_PROFILE;
    }
    reply_begin(dev, HP_HELLO_INFO, seq);
    hp_put_u8(&dev->out, HP_PROTOCOL_VERSION);
    hp_put_u8(&dev->out, caps);
    hp_put_u16(&dev->out, HP_MAX_PAYLOAD);
    hp_put_u8(&dev->out, HP_RX_WINDOW);
    hp_put_u32(&dev->out, b->clock_hz);
    hp_put_u32(&dev->out, r->arena_used);
    hp_put_bytes(&dev->out, r->model_hash, 32);
    hp_put_str8(&dev->out, b->board_id);
    hp_put_str8(&dev->out, b->counter);
    put_tensors(&dev->out, r->inputs, r->n_inputs);
    put_tensors(&dev->out, r->outputs, r->n_outputs);
    reply_send(dev);
}

static void cmd_load_begin(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    if (len != 4) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_LOAD_BEGIN, "LOAD_BEGIN body is u32 total");
        return;
    }
    if (hp_get_u32(body) != dev->runner->input_bytes) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_LOAD_BEGIN, "total != input tensor bytes");
        return;
    }
    dev->load_begun = true;
    dev->next_offset = 0;
    send_ack(dev, seq);
}

/* A chunk may start anywhere up to next_offset: an earlier offset is the host
 * restarting from its last ACK (chunks after that ACK may have been taken
 * before a line error). Only a gap is out of order. */
static void cmd_load_chunk(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    if (len < 4) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_LOAD_CHUNK, "LOAD_CHUNK body is u32 offset, data");
        return;
    }
    if (!dev->load_begun) {
        send_error(dev, seq, HP_ERR_BAD_STATE, HP_LOAD_CHUNK, "LOAD_CHUNK without LOAD_BEGIN");
        return;
    }
    if (len == 4) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_LOAD_CHUNK, "empty LOAD_CHUNK");
        return;
    }
    uint32_t offset = hp_get_u32(body);
    size_t n = len - 4;
    if (offset > dev->next_offset) {
        send_error(dev, seq, HP_ERR_OUT_OF_ORDER, HP_LOAD_CHUNK, "gap: offset > next_offset");
        return;
    }
    if (n > dev->runner->input_bytes - offset) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_LOAD_CHUNK, "chunk runs past the input");
        return;
    }
    memcpy(dev->runner->input + offset, body + 4, n);
    dev->next_offset = offset + (uint32_t)n;
    dev->since_reply++;
    if (dev->since_reply >= HP_RX_WINDOW || input_complete(dev)) {
        send_ack(dev, seq);
    }
}

/* The marker at the start (start = true) or end of the timed loop: a level
 * change, or with marker_pulse_us a pulse (see hp_board). */
static void mark(const hp_board *b, bool start)
{
    if (!b->marker) {
        return;
    }
    if (b->marker_pulse_us == 0u) {
        b->marker(b->ctx, start);
        return;
    }
    uint32_t width = (uint32_t)((uint64_t)b->clock_hz * b->marker_pulse_us / 1000000u);
    b->marker(b->ctx, true);
    uint32_t since = b->read_cycles(b->ctx);
    for (uint32_t spins = 0; spins < HP_MARKER_SPIN_LIMIT; spins++) {
        if (b->read_cycles(b->ctx) - since >= width) {
            break;
        }
    }
    b->marker(b->ctx, false);
}

const char *hp_time_runs(const hp_board *b, const hp_runner *r, uint32_t runs,
                         uint8_t *per_run_le, uint32_t *start, uint64_t *total)
{
    const char *why = NULL;
    *total = 0;
    mark(b, true);
    uint32_t before = b->read_cycles(b->ctx);
    *start = before;
    for (uint32_t i = 0; i < runs && !why; i++) {
        why = r->invoke(r->ctx);
        uint32_t after = b->read_cycles(b->ctx);
        uint32_t cycles = after - before;
        before = after;
        *total += cycles;
        if (per_run_le) {
            hp_store_u32(per_run_le + 4u * i, cycles);
        }
    }
    mark(b, false);
    return why;
}

/* Warm-ups untimed, then the timed loop (hp_time_runs). */
static const char *run_timed(hp_device *dev, uint16_t warmups, uint16_t runs,
                             uint8_t *per_run_le, uint64_t *total)
{
    const hp_runner *r = dev->runner;
    const char *why = NULL;
    for (uint16_t i = 0; i < warmups && !why; i++) {
        why = r->invoke(r->ctx);
    }
    if (why) {
        return why;
    }
    uint32_t start;
    return hp_time_runs(dev->board, r, runs, per_run_le, &start, total);
}

static void cmd_infer(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    if (len != 5) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_INFER,
                   "INFER body is u16 warmups, u16 runs, u8 flags");
        return;
    }
    uint16_t warmups = hp_get_u16(body);
    uint16_t runs = hp_get_u16(body + 2);
    uint8_t flags = body[4];
    uint16_t n_cycles = (flags & HP_INFER_PER_RUN) ? runs : 0;
    if (runs == 0 || (flags & ~HP_INFER_FLAGS_KNOWN)) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_INFER, "runs must be >= 1, flags only bits 0-1");
        return;
    }
    if (n_cycles > HP_MAX_PER_RUN) {
        send_error(dev, seq, HP_ERR_TOO_LARGE, HP_INFER, "too many runs for PER_RUN");
        return;
    }
    if (!input_complete(dev)) {
        send_error(dev, seq, HP_ERR_BAD_STATE, HP_INFER, "no complete input loaded");
        return;
    }
    reply_begin(dev, HP_RESULT, seq);
    hp_put_u16(&dev->out, runs);
    hp_put_u16(&dev->out, n_cycles);
    uint8_t *total_le = hp_put_space(&dev->out, 8);
    uint8_t *per_run_le = hp_put_space(&dev->out, 4u * n_cycles);
    uint64_t total = 0;
    const char *why = run_timed(dev, warmups, runs, n_cycles ? per_run_le : NULL, &total);
    dev->output_ready = why == NULL;
    if (why) {
        send_error(dev, seq, HP_ERR_INFER_FAILED, HP_INFER, why);
        return;
    }
    hp_store_u32(total_le, (uint32_t)total);
    hp_store_u32(total_le + 4, (uint32_t)(total >> 32));
    const hp_runner *r = dev->runner;
    size_t room = HP_MAX_PAYLOAD - (HP_RESULT_FIXED_BYTES + 4u * n_cycles);
    bool include = (flags & HP_INFER_WANT_OUTPUT) && r->output_bytes <= room;
    hp_put_u32(&dev->out, r->output_bytes);
    hp_put_u8(&dev->out, include ? 1 : 0);
    if (include) {
        hp_put_bytes(&dev->out, r->output, r->output_bytes);
    }
    reply_send(dev);
}

static void cmd_read_output(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    if (len != 6) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_READ_OUTPUT,
                   "READ_OUTPUT body is u32 offset, u16 length");
        return;
    }
    uint32_t offset = hp_get_u32(body);
    uint16_t n = hp_get_u16(body + 4);
    if (!dev->output_ready) {
        send_error(dev, seq, HP_ERR_BAD_STATE, HP_READ_OUTPUT, "no successful INFER yet");
        return;
    }
    if (n > HP_MAX_PAYLOAD - 4u) {
        send_error(dev, seq, HP_ERR_TOO_LARGE, HP_READ_OUTPUT, "length exceeds max_payload - 4");
        return;
    }
    if (offset > dev->runner->output_bytes || n > dev->runner->output_bytes - offset) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_READ_OUTPUT, "range runs past the output");
        return;
    }
    reply_begin(dev, HP_OUTPUT, seq);
    hp_put_u32(&dev->out, offset);
    hp_put_bytes(&dev->out, dev->runner->output + offset, n);
    reply_send(dev);
}

static void cmd_ping(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    reply_begin(dev, HP_PONG, seq);
    hp_put_bytes(&dev->out, body, len);
    reply_send(dev);
}

/* runs > 0: profile that many inferences (the runner times each op), then
 * answer with the page from first_op; runs = 0: a page of the last profile. */
static void cmd_profile(hp_device *dev, uint8_t seq, const uint8_t *body, size_t len)
{
    const hp_runner *r = dev->runner;
    if (!r->profile) {
        send_error(dev, seq, HP_ERR_UNKNOWN_CMD, HP_PROFILE, "unknown command");
        return;
    }
    if (len != 4) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_PROFILE, "PROFILE body is u16 runs, u16 first_op");
        return;
    }
    uint16_t runs = hp_get_u16(body);
    uint16_t first = hp_get_u16(body + 2);
    if (runs) {
        if (!input_complete(dev)) {
            send_error(dev, seq, HP_ERR_BAD_STATE, HP_PROFILE, "no complete input loaded");
            return;
        }
        dev->profile_ready = false;
        dev->output_ready = false;
        const char *why = r->profile(r->ctx, dev->board, runs, &dev->profile_ops,
                                     &dev->profile_n_ops, &dev->profile_total);
        if (why) {
            send_error(dev, seq, HP_ERR_INFER_FAILED, HP_PROFILE, why);
            return;
        }
        dev->output_ready = true;
        dev->profile_ready = true;
        dev->profile_runs = runs;
    }
    if (!dev->profile_ready) {
        send_error(dev, seq, HP_ERR_BAD_STATE, HP_PROFILE, "no profile to read: PROFILE 0 runs");
        return;
    }
    uint16_t n_ops = dev->profile_n_ops;
    if (first >= (n_ops ? n_ops : 1u)) {
        send_error(dev, seq, HP_ERR_BAD_ARGS, HP_PROFILE, "first_op is past the profile's ops");
        return;
    }
    uint32_t left = (uint32_t)n_ops - first;
    uint16_t count = (uint16_t)(left < HP_PROFILE_PAGE_OPS ? left : HP_PROFILE_PAGE_OPS);
    reply_begin(dev, HP_PROFILE_DATA, seq);
    hp_put_u16(&dev->out, dev->profile_runs);
    hp_put_u16(&dev->out, n_ops);
    hp_put_u16(&dev->out, first);
    hp_put_u64(&dev->out, dev->profile_total);
    for (uint16_t i = 0; i < count; i++) {
        hp_put_u64(&dev->out, dev->profile_ops[first + i]);
    }
    reply_send(dev);
}

typedef void (*command_fn)(hp_device *, uint8_t, const uint8_t *, size_t);

static const command_fn commands[] = {
    [HP_HELLO] = cmd_hello,
    [HP_LOAD_BEGIN] = cmd_load_begin,
    [HP_LOAD_CHUNK] = cmd_load_chunk,
    [HP_INFER] = cmd_infer,
    [HP_READ_OUTPUT] = cmd_read_output,
    [HP_PING] = cmd_ping,
    [HP_PROFILE] = cmd_profile,
};

static void dispatch(hp_device *dev, const uint8_t *frame, size_t len)
{
    uint8_t type = frame[0];
    uint8_t seq = frame[1];
    command_fn fn = type < sizeof commands / sizeof commands[0] ? commands[type] : NULL;
    if (!fn) {
        send_error(dev, seq, HP_ERR_UNKNOWN_CMD, type, "unknown command");
        return;
    }
    fn(dev, seq, frame + 2, len - 2);
}

/* ---- entry points ---- */

void hp_device_init(hp_device *dev, const hp_board *board, const hp_runner *runner)
{
    memset(dev, 0, sizeof *dev);
    dev->board = board;
    dev->runner = runner;
    hp_frame_rx_reset(&dev->rx);
}

void hp_device_ready(hp_device *dev)
{
    reply_begin(dev, HP_READY, 0);
    hp_put_u8(&dev->out, HP_PROTOCOL_VERSION);
    reply_send(dev);
}

void hp_device_rx(hp_device *dev, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (hp_frame_rx_byte(&dev->rx, data[i])) {
        case HP_RX_FRAME:
            dispatch(dev, dev->rx.buf, dev->rx.frame_len);
            break;
        case HP_RX_BAD_FRAME:
            send_error(dev, 0, HP_ERR_BAD_FRAME, 0, "bad frame");
            break;
        case HP_RX_BAD_CRC:
            send_error(dev, 0, HP_ERR_BAD_CRC, 0, "bad crc");
            break;
        case HP_RX_MORE:
            break;
        }
    }
}
