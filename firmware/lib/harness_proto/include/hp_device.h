/* The device side of the DUT protocol (docs/protocol.md): one instance per link.
 * Plain C99, no allocation, no board or runtime dependency: the board and the
 * model runner are reached through the two hook structs below. */
#ifndef HP_DEVICE_H
#define HP_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_config.h"
#include "hp_frame.h"
#include "hp_wire.h"

enum hp_msg_type {
    HP_HELLO = 0x01,
    HP_LOAD_BEGIN = 0x02,
    HP_LOAD_CHUNK = 0x03,
    HP_INFER = 0x04,
    HP_READ_OUTPUT = 0x05,
    HP_PING = 0x06,
    HP_PROFILE = 0x07,
    HP_ACK = 0x80,
    HP_HELLO_INFO = 0x81,
    HP_RESULT = 0x84,
    HP_OUTPUT = 0x85,
    HP_PONG = 0x86,
    HP_PROFILE_DATA = 0x87,
    HP_ERROR = 0x8E,
    HP_READY = 0x8F,
};

enum hp_error_code {
    HP_ERR_BAD_FRAME = 1,
    HP_ERR_BAD_CRC = 2,
    HP_ERR_UNKNOWN_CMD = 3,
    HP_ERR_BAD_ARGS = 4,
    HP_ERR_BAD_STATE = 5,
    HP_ERR_OUT_OF_ORDER = 6,
    HP_ERR_TOO_LARGE = 7,
    HP_ERR_INFER_FAILED = 8,
};

#define HP_INFER_PER_RUN 0x01u
#define HP_INFER_WANT_OUTPUT 0x02u
#define HP_INFER_FLAGS_KNOWN (HP_INFER_PER_RUN | HP_INFER_WANT_OUTPUT)

#define HP_CAP_MARKER 0x01u
#define HP_CAP_PER_RUN 0x02u
#define HP_CAP_OUTPUT_IN_RESULT 0x04u
#define HP_CAP_PROFILE 0x08u

/* u16 runs, u16 n_cycles, u64 total, u32 output_bytes, u8 included */
#define HP_RESULT_FIXED_BYTES 17u
/* Most runs one PER_RUN INFER may time: the RESULT without output must fit.
 * (docs/protocol.md says (max_payload - 24) / 4; the host's messages.py and this
 * core use the exact fit, (max_payload - 17) / 4.) */
#define HP_MAX_PER_RUN ((HP_MAX_PAYLOAD - HP_RESULT_FIXED_BYTES) / 4u)

/* u16 runs, u16 n_ops, u16 first_op, u64 total; then u64 per op to the end */
#define HP_PROFILE_DATA_FIXED_BYTES 14u
/* Per-op counts one PROFILE_DATA carries. */
#define HP_PROFILE_PAGE_OPS ((HP_MAX_PAYLOAD - HP_PROFILE_DATA_FIXED_BYTES) / 8u)

/* A tensor as HELLO_INFO describes it; dtype is the TFLite TensorType number. */
typedef struct {
    uint8_t dtype;
    uint8_t ndims;
    int32_t dims[HP_MAX_DIMS];
    float scale;          /* 0 when not quantized */
    int32_t zero_point;
} hp_tensor;

typedef struct {
    hp_write_fn write;                    /* bytes to the host; blocks until taken */
    uint32_t (*read_cycles)(void *ctx);   /* free-running, wraps at 2^32 */
    void (*marker)(void *ctx, bool high); /* NULL: the board has no marker line */
    void *ctx;
    const char *board_id;
    const char *counter;                  /* what a cycle is: dwt, ccount, systick-icount */
    uint32_t clock_hz;
    /* 0: the marker is high exactly around the timed loop (logic inputs of Joulescope,
     * PPK2, Otii). N: instead, an N-microsecond high pulse as the loop starts and
     * another as it ends, whose falling edges are what an ST LPM01A reports on D7
     * ("eventsrc d7 fal", the EEMBC/MLPerf Tiny convention). */
    uint32_t marker_pulse_us;
} hp_board;

typedef struct {
    uint8_t *input;                       /* LOAD_CHUNK writes here */
    uint32_t input_bytes;
    const uint8_t *output;                /* valid after a successful invoke */
    uint32_t output_bytes;
    const hp_tensor *inputs;
    uint8_t n_inputs;
    const hp_tensor *outputs;
    uint8_t n_outputs;
    uint32_t arena_used;
    const uint8_t *model_hash;            /* 32 bytes: SHA-256 of the embedded model */
    const char *(*invoke)(void *ctx);     /* NULL on success, else why it failed */
    /* Optional (NULL: the device does not announce or answer PROFILE). Run `runs`
     * inferences of the input, timing each op with board->read_cycles; then
     * *op_cycles points at the runner's *n_ops counts, op i's cycles summed over
     * the runs, and *total is the runs' whole time, profiling included. The
     * output is the last run's, as after invoke. NULL on success, else why. */
    const char *(*profile)(void *ctx, const hp_board *board, uint16_t runs,
                           const uint64_t **op_cycles, uint16_t *n_ops, uint64_t *total);
    void *ctx;
} hp_runner;

typedef struct {
    const hp_board *board;
    const hp_runner *runner;
    hp_frame_rx rx;
    uint8_t tx[HP_FRAME_MAX];
    hp_writer out;         /* builds the reply in tx */
    bool load_begun;       /* LOAD_BEGIN accepted: chunks are taken */
    bool output_ready;     /* the last INFER succeeded: READ_OUTPUT may read */
    bool profile_ready;    /* the last PROFILE run succeeded: its pages may be read */
    uint16_t profile_runs;
    uint16_t profile_n_ops;
    uint64_t profile_total;
    const uint64_t *profile_ops; /* the runner's counts */
    uint32_t next_offset;  /* input bytes held, contiguous from 0 */
    uint8_t since_reply;   /* chunks taken since the last frame sent */
} hp_device;

void hp_device_init(hp_device *dev, const hp_board *board, const hp_runner *runner);

/* Announce the device: READY(protocol_version), seq 0. Call once at boot. */
void hp_device_ready(hp_device *dev);

/* Feed bytes from the line; replies go out through board->write. */
void hp_device_rx(hp_device *dev, const uint8_t *data, size_t len);

/* The timed loop of INFER, shared with the MLPerf Tiny text mode (hp_mlperf.h):
 * the marker goes up, `runs` inferences run, the marker goes down (also when a
 * run fails). One counter read before the first run and one after each, so
 * run i is the difference of two successive reads and *total, their u64 sum,
 * covers the loop without gaps and never wraps; *start is the first read, so
 * start + total (mod 2^32) is the last. per_run_le, unless NULL, gets each
 * run's u32 count little-endian. Returns NULL, or why a run failed. */
const char *hp_time_runs(const hp_board *b, const hp_runner *r, uint32_t runs,
                         uint8_t *per_run_le, uint32_t *start, uint64_t *total);

#endif
