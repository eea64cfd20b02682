/* Checks what the cycle counter rests on, in QEMU itself; exits 0 when sound.
 * Built with a short SysTick period so that thousands of wraps are crossed. */
#include <stdint.h>

#include "cycles_systick.h"
#include "semihost.h"

#define LOOP_ITERATIONS 1000000u /* two instructions each: subs, bne */
#define INSTRUCTIONS_PER_TICK 40u /* -icount shift=0 (1 ns each), 25 MHz SysTick */

static uint32_t rng = 0x2545F491u;

static uint32_t rng_next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Read the counter at varied phases across many wraps: never backwards, never a jump. */
static void check_monotonic_across_wraps(void)
{
    uint64_t last = cycles_ticks();
    const uint64_t end = last + 1000ull * CYCLES_SYSTICK_PERIOD;
    while (last < end) {
        for (volatile uint32_t spin = rng_next() % 64; spin > 0; spin--) {
        }
        uint64_t now = cycles_ticks();
        if (now < last) {
            semihost_exit_fault("cycle count went backwards");
        }
        if (now - last > 256) {
            semihost_exit_fault("cycle count jumped (a wrap counted twice?)");
        }
        last = now;
    }
}

/* A loop of known length: under -icount shift=0 it takes 2 * N / 40 ticks. */
static void check_instructions_per_tick(void)
{
    uint64_t start = cycles_ticks();
    uint32_t n = LOOP_ITERATIONS;
    __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n));
    uint64_t ticks = cycles_ticks() - start;
    const uint64_t expected = 2ull * LOOP_ITERATIONS / INSTRUCTIONS_PER_TICK;
    if (ticks < expected - 4 || ticks > expected + 4) {
        semihost_exit_fault("a 2M-instruction loop did not take 50000 ticks: "
                            "is QEMU running with -icount shift=0?");
    }
}

int main(void)
{
    cycles_init();
    check_monotonic_across_wraps();
    check_instructions_per_tick();
    semihost_print("selftest: ok\n");
    semihost_exit_ok();
}
