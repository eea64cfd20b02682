/* The runner this image was built with (make RUNNER=...). */
#ifndef RUNNER_H
#define RUNNER_H

#include "hp_device.h"

#if defined(RUNNER_CHECKSUM)
#include "runner_checksum.h"
static inline const hp_runner *runner(void) { return runner_checksum(); }
#else
#error "build with RUNNER=checksum (the TFLM runner is not part of the QEMU port yet)"
#endif

#endif
