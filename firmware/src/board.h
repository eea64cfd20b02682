/* What a board port gives the main loop (app.c). One port per folder:
 * nano33ble/, esp32/, stm32/. Plain C so every port can implement it. */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "hp_device.h"

/* Build with -DHARNESS_MARKER_PULSE_US=N (e.g. 2) for a bench whose power
 * monitor is an ST LPM01A: the marker then pulses at the start and end of the
 * timed loop instead of staying high around it (hp_board.marker_pulse_us). */
#ifndef HARNESS_MARKER_PULSE_US
#define HARNESS_MARKER_PULSE_US 0u
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks, the host link, the cycle counter and the marker pin (low). Returns
 * once the link can carry READY (on USB CDC: once the host has opened it). */
void board_init(void);

/* The hooks the protocol core calls: write, cycle counter, marker, identity. */
const hp_board *board_hooks(void);

/* Where the tensor arena lives: `bytes` long, 16-byte aligned; NULL if the
 * board cannot provide it (the runner then reports why on every INFER). */
uint8_t *board_arena(size_t bytes);

/* Bytes from the host: blocks until at least one arrived, returns how many. */
size_t board_read(uint8_t *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
