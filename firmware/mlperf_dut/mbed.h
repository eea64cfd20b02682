/* A stand-in for the Mbed OS names MLPerf Tiny's reference glue uses
 * (benchmark/reference_submissions/<bm>/submitter_implemented.cpp in
 * mlcommons/tiny: UnbufferedSerial, DigitalOut, us_ticker_read), over the
 * QEMU port of firmware/qemu. Their glue includes "mbed.h" and finds this one:
 * the port replaces Mbed's HAL, as a port to any other board would, and their
 * source is not edited for it (harness/firmware/mlperf_dut_build.py). */
#ifndef MLPERF_DUT_MBED_H
#define MLPERF_DUT_MBED_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* UART0 at `baud`, stdin and stdout unbuffered over it (th_printf is vprintf,
 * th_getchar is getchar). */
void mlperf_port_serial_init(int baud);

/* The timestamp pin (FPGAIO LED0): only the energy-mode build writes it. */
void mlperf_port_pin_write(int value);

/* Microseconds of a 25 MHz core retiring one instruction per cycle: the
 * instructions executed (SysTick under -icount shift=0) over 25, the clock of
 * the harness firmware's m-lap-us. 32 bits, wrapping, as Mbed's. */
uint32_t us_ticker_read(void);

#ifdef __cplusplus
}

enum PinName { USBTX, USBRX, D7 };

class UnbufferedSerial {
 public:
  constexpr UnbufferedSerial(PinName, PinName) {}
  void baud(int rate) { mlperf_port_serial_init(rate); }
};

class DigitalOut {
 public:
  constexpr explicit DigitalOut(PinName) {}
  DigitalOut &operator=(int value) {
    mlperf_port_pin_write(value);
    return *this;
  }
};
#endif

#endif
