// Arduino Nano 33 BLE (nRF52840, Cortex-M4F at 64 MHz, Arduino mbed core).
// Link: USB CDC `Serial`. Counter: DWT CYCCNT. Marker: D2 = P1.11.
// This is the only file that includes Arduino.h: its macros (abs, min, max...)
// break TFLM's headers, which only runner_tflm.cc and harness_model.cc see.
#include <Arduino.h>

#include "app.h"
#include "board.h"
#include "harness_model.h"

namespace {

constexpr uint32_t kClockHz = 64000000u;
constexpr uint32_t kMarkerMask = 1u << 11;  // P1.11 is the Nano's D2

alignas(16) uint8_t arena[HARNESS_MODEL_ARENA_BYTES];

void link_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    Serial.write(data, len);
}

uint32_t read_cycles(void *ctx)
{
    (void)ctx;
    return DWT->CYCCNT;
}

void marker(void *ctx, bool high)
{
    (void)ctx;
    // Port registers, not digitalWrite (mbed's pin lookup takes microseconds):
    // the edge is a couple of cycles from the cycle counter read it brackets.
    if (high) {
        NRF_P1->OUTSET = kMarkerMask;
    } else {
        NRF_P1->OUTCLR = kMarkerMask;
    }
}

const hp_board hooks = {
    link_write, read_cycles, marker, nullptr, "nano33ble", "dwt", kClockHz,
    HARNESS_MARKER_PULSE_US,
};

}  // namespace

extern "C" void board_init(void)
{
    pinMode(D2, OUTPUT);
    marker(nullptr, false);
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    Serial.begin(115200);  // USB CDC: the rate is nominal
    // USB CDC reports a host only once it asserts DTR; a READY sent before
    // would be lost, so wait for the host to open the port.
    while (!Serial) {
    }
}

extern "C" const hp_board *board_hooks(void)
{
    return &hooks;
}

extern "C" uint8_t *board_arena(size_t bytes)
{
    return bytes <= sizeof arena ? arena : nullptr;
}

extern "C" size_t board_read(uint8_t *buf, size_t cap)
{
    int avail;
    while ((avail = Serial.available()) <= 0) {
        yield();
    }
    size_t n = static_cast<size_t>(avail) < cap ? static_cast<size_t>(avail) : cap;
    return Serial.readBytes(reinterpret_cast<char *>(buf), n);
}

void setup()
{
    app_setup();
}

void loop()
{
    app_poll();
}
