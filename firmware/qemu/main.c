/* The firmware for QEMU's mps2-an386: the protocol core on UART0 (the binary
 * protocol, or MLPerf Tiny's text protocol if the host speaks it: hp_link.h),
 * a runner chosen at build time, SysTick as the cycle counter, FPGAIO LED0 as
 * marker. */
#include <stdint.h>

#include "cycles_systick.h"
#include "hp_link.h"
#include "runner.h"
#include "uart_cmsdk.h"

#define SYSCLK_HZ 25000000u /* AN386 SYSCLK: drives SysTick (CLKSOURCE=1) and UART0 */
#define BAUD 115200u
/* FPGAIO LED0 register: QEMU models it (trace event led_set_intensity). */
#define FPGAIO_LED0 (*(volatile uint32_t *)0x40028000u)

/* With -icount shift=0 QEMU runs one instruction per ns of virtual time, so a
 * 25 MHz SysTick tick is 40 instructions: the reported count is instructions
 * executed (to 40 of them), i.e. cycles of a 25 MHz core that retires one
 * instruction per cycle. */
#define INSTRUCTIONS_PER_TICK 40u

static uint32_t read_cycles(void *ctx)
{
    (void)ctx;
    return (uint32_t)(cycles_ticks() * INSTRUCTIONS_PER_TICK);
}

static void marker(void *ctx, bool high)
{
    (void)ctx;
    FPGAIO_LED0 = high ? 1u : 0u;
}

static const hp_board board = {
    .write = uart_write,
    .read_cycles = read_cycles,
    .marker = marker,
    .ctx = 0,
    .board_id = "qemu_mps2_an386",
    .counter = "systick-icount",
    .clock_hz = SYSCLK_HZ,
};

static hp_link host_link;

int main(void)
{
    uart_init(SYSCLK_HZ, BAUD);
    cycles_init();
    marker(0, false);
    hp_link_init(&host_link, &board, runner());
    hp_link_boot(&host_link);
    for (;;) {
        uint8_t byte = uart_getc();
        hp_link_rx(&host_link, &byte, 1);
    }
}
