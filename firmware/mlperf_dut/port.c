/* The board under MLPerf Tiny's own DUT code in QEMU's mps2-an386: the Mbed
 * names of mbed.h and the newlib hooks behind the glue's stdio (vprintf,
 * getchar), on the UART and SysTick code of firmware/qemu. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cycles_systick.h"
#include "mbed.h"
#include "uart_cmsdk.h"

#define SYSCLK_HZ 25000000u
/* FPGAIO LED0 register (QEMU models it), the harness firmware's marker too. */
#define FPGAIO_LED0 (*(volatile uint32_t *)0x40028000u)
/* Under -icount shift=0 one instruction is 1 ns of virtual time, so a 25 MHz
 * SysTick tick is 40 instructions; a microsecond of a 25 MHz core at one
 * instruction per cycle is 25 instructions: 8/5 of a microsecond per tick. */
#define US_PER_TICK_NUM 8u
#define US_PER_TICK_DEN 5u

/* The glue's function-local statics (the op resolver, the model runner) register
 * their destructors with __cxa_atexit, which names the image by __dso_handle;
 * crtbegin.o defines it on hosted builds, and the port links without it. */
void *__dso_handle = &__dso_handle;

int _write(int fd, const char *data, int len);
int _read(int fd, char *data, int len);

void mlperf_port_serial_init(int baud)
{
    uart_init(SYSCLK_HZ, (uint32_t)baud);
    /* Mbed's console is unbuffered; newlib would buffer a stream whose fstat
     * fails (no tty) until 1 KiB is written, and the host would wait forever. */
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stdin, NULL, _IONBF, 0);
}

void mlperf_port_pin_write(int value)
{
    FPGAIO_LED0 = value ? 1u : 0u;
}

uint32_t us_ticker_read(void)
{
    static bool started; /* Mbed starts its ticker on the first read, too */
    if (!started) {
        cycles_init();
        started = true;
    }
    return (uint32_t)(cycles_ticks() * US_PER_TICK_NUM / US_PER_TICK_DEN);
}

/* newlib's system calls for stdout/stderr and stdin: UART0 (libnosys has the rest). */
int _write(int fd, const char *data, int len)
{
    (void)fd;
    uart_write(0, (const uint8_t *)data, (size_t)len);
    return len;
}

int _read(int fd, char *data, int len)
{
    (void)fd;
    if (len <= 0) {
        return 0;
    }
    data[0] = (char)uart_getc(); /* one byte at a time: the glue reads one per command char */
    return 1;
}
