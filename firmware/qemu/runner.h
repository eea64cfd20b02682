/* The runner this image was built with (make RUNNER=...). */
#ifndef RUNNER_H
#define RUNNER_H

#include "hp_device.h"

#if defined(RUNNER_CHECKSUM)
#include "runner_checksum.h"
static inline const hp_runner *runner(void) { return runner_checksum(); }
#elif defined(RUNNER_TFLM)
#include "harness_model.h"
#include "runner_tflm.h"
#include "semihost.h"
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
static inline const hp_runner *runner(void)
{
    /* The arena the harness sized from the model (ZBT SSRAM, no cache: any address will do). */
    static uint8_t arena[HARNESS_MODEL_ARENA_BYTES] __attribute__((aligned(16)));
    /* TFLM's messages (e.g. why AllocateTensors failed) on QEMU's stderr: the driver's log. */
    RegisterDebugLogCallback(semihost_print);
    return runner_tflm(arena, sizeof arena);
}
#else
#error "build with RUNNER=checksum or RUNNER=tflm"
#endif

#endif
