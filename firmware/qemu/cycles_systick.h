/* A free-running cycle count from SysTick (QEMU has no DWT CYCCNT). */
#ifndef CYCLES_SYSTICK_H
#define CYCLES_SYSTICK_H

#include <stdint.h>

/* Ticks per SysTick wrap; the self-test builds with a short one to cross many. */
#ifndef CYCLES_SYSTICK_PERIOD
#define CYCLES_SYSTICK_PERIOD 0x01000000u
#endif

/* Start SysTick on the processor clock, full 24-bit reload, wrap interrupt on. */
void cycles_init(void);

/* SysTick ticks since cycles_init, extended past the 24-bit counter. */
uint64_t cycles_ticks(void);

#endif
