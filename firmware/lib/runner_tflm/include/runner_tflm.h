/* The TFLM runner: the model embedded at build time (harness_model.h, generated
 * by harness/firmware/model_embed.py) behind the hp_runner hooks. C API, so the
 * board files and the protocol core never see a TFLM (C++) header. */
#ifndef RUNNER_TFLM_H
#define RUNNER_TFLM_H

#include <stddef.h>
#include <stdint.h>

#include "hp_device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Set up the interpreter in `arena` (16-byte aligned, HARNESS_MODEL_ARENA_BYTES
 * is what the harness sized it to). Call once. Never NULL: if the model cannot
 * be set up, the runner describes no tensors and every INFER fails with the
 * reason (and TFLM's own message goes to its debug log). */
const hp_runner *runner_tflm(uint8_t *arena, size_t arena_bytes);

#ifdef __cplusplus
}
#endif

#endif
