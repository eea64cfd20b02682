/* A model-free runner: the output is a checksum of the input, so the host can
 * check every byte of an upload and of a reply without a model on the device.
 * It is harness/dut/device.py's ChecksumRunner in C: same layout, same output. */
#ifndef RUNNER_CHECKSUM_H
#define RUNNER_CHECKSUM_H

#include "hp_device.h"

/* int8 [1, 96, 96, 3]: the MLPerf Tiny visual-wake-words input size */
#define RUNNER_CHECKSUM_INPUT_BYTES (96u * 96u * 3u)
/* u32 CRC-32 of the input, then u32 sum of its bytes, both little-endian */
#define RUNNER_CHECKSUM_OUTPUT_BYTES 8u

/* The runner: static buffers and hooks, one per program. */
const hp_runner *runner_checksum(void);

#endif
