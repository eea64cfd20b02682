#include "cycles_systick.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE 0x1u
#define CSR_TICKINT 0x2u
#define CSR_CLKSOURCE_CPU 0x4u
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

/* SysTick counts down from RELOAD to 0 and reloads on the next tick: one wrap
 * is RELOAD + 1 ticks (2^24 by default). The interrupt counts wraps. */
#define RELOAD (CYCLES_SYSTICK_PERIOD - 1u)
#define PERIOD CYCLES_SYSTICK_PERIOD

static volatile uint32_t wraps;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    wraps++;
}

void cycles_init(void)
{
    SYST_CSR = 0;
    SYST_RVR = RELOAD;
    SYST_CVR = 0; /* any write clears it; it loads RELOAD on the first tick */
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CPU;
    while (SYST_CVR == 0) {
    }
    wraps = 0; /* count from the first reload, which raises no interrupt */
}

/* The counter reads 0 for one tick after each wrap, before the reload: that
 * value cannot be placed (its wrap may or may not be counted yet), so it is
 * waited out: 40 instructions under -icount shift=0. */
static uint32_t read_counter(void)
{
    uint32_t count;
    while ((count = SYST_CVR) == 0) {
    }
    return count;
}

uint64_t cycles_ticks(void)
{
    /* The counter may wrap between reading wraps and reading the counter, and
     * its interrupt may still be pending (taken only at the next instruction
     * boundary, or in QEMU at the end of the translated block). So: if the
     * wrap is pending, read the counter again (now surely after the wrap) and
     * count the wrap; if the interrupt ran meanwhile, wraps changed: retry. */
    uint32_t before;
    uint32_t count;
    uint32_t pending;
    do {
        before = wraps;
        count = read_counter();
        pending = (SCB_ICSR & ICSR_PENDSTSET) ? 1u : 0u;
        if (pending) {
            count = read_counter();
        }
    } while (wraps != before);
    return ((uint64_t)before + pending) * PERIOD + (RELOAD - count);
}
