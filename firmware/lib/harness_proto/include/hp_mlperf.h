/* The device side of MLPerf Tiny's text protocol (the EEMBC-derived "DUT"
 * commands MLCommons' runner sends: name, profile, db, infer, results), over
 * the same board and runner hooks as the binary protocol (hp_device.h), so the
 * runner of mlcommons/tiny can drive this firmware for performance and
 * accuracy. docs/protocol.md, "MLPerf Tiny text mode", lists what is supported.
 * Plain C99, no allocation, bounded buffers. */
#ifndef HP_MLPERF_H
#define HP_MLPERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_device.h"
#include "hp_text.h"

/* Longest command in characters, its terminating '%' not counted (MLPerf Tiny's limit). */
#define HP_MLPERF_LINE_MAX 80u

/* Bytes of float32 input kept for ad01, whose db bytes are float32 and whose
 * score needs them after the inference: its 640 floats. 0 drops ad01 support
 * (its db load is refused) and the RAM. */
#ifndef HP_MLPERF_FLOAT_INPUT_BYTES
#define HP_MLPERF_FLOAT_INPUT_BYTES 2560u
#endif

/* What `profile` reports as the firmware's profile. */
#define HP_MLPERF_PROFILE "tinyml-harness MLPerf Tiny text mode 1"

/* The MLPerf Tiny benchmark the embedded model is, recognised from its tensors
 * (hp_mlperf_model_of); it decides how db bytes become input bytes and what
 * results prints. */
typedef enum {
    HP_MLPERF_UNKNOWN = 0, /* any other model: db bytes are the input tensor's bytes */
    HP_MLPERF_IC01,        /* int8 [1,32,32,3] -> [1,10]: db bytes are uint8 pixels */
    HP_MLPERF_KWS01,       /* int8 [1,49,10,1] -> [1,12]: db bytes are the int8 input */
    HP_MLPERF_VWW01,       /* int8 [1,96,96,3] -> [1,2]: db bytes are uint8 pixels */
    HP_MLPERF_AD01,        /* int8 [1,640] -> [1,640]: db bytes are float32, results
                            * is the mean squared reconstruction error */
} hp_mlperf_model;

typedef struct {
    const hp_board *board;
    const hp_runner *runner;
    hp_mlperf_model model;
    hp_text out;
    char line[HP_MLPERF_LINE_MAX + 1]; /* the command being received, NUL-terminated */
    size_t line_len;
    bool line_too_long;    /* more than HP_MLPERF_LINE_MAX characters: refused at its '%' */
    bool line_not_text;    /* a byte that is not printable ASCII, tab, CR or LF: refused */
    uint32_t db_size;      /* bytes announced by db load; 0: none */
    uint32_t db_pos;       /* bytes received since */
    bool output_ready;     /* an inference of the loaded input succeeded */
    uint64_t clock;        /* counter cycles since hp_mlperf_start: the m-lap-us clock */
    uint32_t clock_last;   /* counter value at its last read */
    uint8_t floats[HP_MLPERF_FLOAT_INPUT_BYTES > 0 ? HP_MLPERF_FLOAT_INPUT_BYTES : 1];
} hp_mlperf;

/* The benchmark whose tensors the runner describes (dtype and shape of its one
 * input and one output); HP_MLPERF_UNKNOWN for any other model. */
hp_mlperf_model hp_mlperf_model_of(const hp_runner *runner);

/* "ic01", "kws01", "vww01", "ad01" or "unknown": what `profile` reports as m-model. */
const char *hp_mlperf_model_name(hp_mlperf_model model);

void hp_mlperf_init(hp_mlperf *m, const hp_board *board, const hp_runner *runner);

/* The link turned out to carry text: print the lines MLPerf Tiny's DUT prints
 * at boot, except m-ready (the first command's reply ends with it), after a
 * line end that closes whatever the host collected before (the binary READY
 * frame the board sent at boot); start the m-lap-us clock at 0. */
void hp_mlperf_start(hp_mlperf *m);

/* Feed bytes from the line; each '%' ends a command, which is answered at once. */
void hp_mlperf_rx(hp_mlperf *m, const uint8_t *data, size_t len);

#endif
