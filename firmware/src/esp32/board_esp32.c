/* ESP32-DevKitC (ESP32-WROOM-32, Xtensa LX6 at 240 MHz, ESP-IDF).
 * Link: UART0 (CP2102 USB bridge). Counter: CCOUNT of the core the benchmark
 * task is pinned to. Marker: GPIO4. The console is off (sdkconfig.defaults):
 * UART0 carries only protocol frames once the app runs. */
#include <stdbool.h>

#include "app.h"
#include "board.h"
#include "driver/gpio.h"
#include "driver/uart.h"
#include "esp_cpu.h"
#include "esp_heap_caps.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#define LINK_UART UART_NUM_0
#define LINK_BAUD 115200
#define LINK_RX_BUFFER 4096 /* a whole upload window (4 x ~1 KB frames) */
#define MARKER_GPIO GPIO_NUM_4
#define BENCH_CORE 1        /* away from core 0's Wi-Fi/BT and IDF housekeeping */
#define BENCH_STACK 8192
#define BENCH_PRIORITY 5

static void link_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    uart_write_bytes(LINK_UART, data, len); /* no TX buffer: returns once in the FIFO */
}

static uint32_t read_cycles(void *ctx)
{
    (void)ctx;
    return (uint32_t)esp_cpu_get_cycle_count(); /* this core's CCOUNT: the task is pinned */
}

static void marker(void *ctx, bool high)
{
    (void)ctx;
    gpio_set_level(MARKER_GPIO, high ? 1 : 0);
}

static const hp_board hooks = {
    .write = link_write,
    .read_cycles = read_cycles,
    .marker = marker,
    .ctx = NULL,
    .board_id = "esp32dev",
    .counter = "ccount",
    .clock_hz = CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ * 1000000u,
    .marker_pulse_us = HARNESS_MARKER_PULSE_US,
};

void board_init(void)
{
    gpio_reset_pin(MARKER_GPIO);
    gpio_set_direction(MARKER_GPIO, GPIO_MODE_OUTPUT);
    gpio_set_level(MARKER_GPIO, 0);
    const uart_config_t config = {
        .baud_rate = LINK_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    ESP_ERROR_CHECK(uart_driver_install(LINK_UART, LINK_RX_BUFFER, 0, 0, NULL, 0));
    ESP_ERROR_CHECK(uart_param_config(LINK_UART, &config));
}

const hp_board *board_hooks(void)
{
    return &hooks;
}

/* The DevKitC has no PSRAM and static DRAM is short (~160 KB): the arena comes
 * from the heap, internal 8-bit capable RAM, if a large enough block is free. */
uint8_t *board_arena(size_t bytes)
{
    const uint32_t caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
    if (heap_caps_get_largest_free_block(caps) < bytes + 16) {
        return NULL;
    }
    return heap_caps_aligned_alloc(16, bytes, caps);
}

size_t board_read(uint8_t *buf, size_t cap)
{
    /* one byte, waiting as long as it takes; then whatever else has arrived */
    int n = uart_read_bytes(LINK_UART, buf, 1, portMAX_DELAY);
    if (n <= 0) {
        return 0;
    }
    size_t more = 0;
    uart_get_buffered_data_len(LINK_UART, &more);
    if (more > cap - 1) {
        more = cap - 1;
    }
    if (more > 0) {
        int got = uart_read_bytes(LINK_UART, buf + 1, more, 0);
        return 1u + (got > 0 ? (size_t)got : 0u);
    }
    return 1;
}

static void bench_task(void *arg)
{
    (void)arg;
    app_run();
}

void app_main(void)
{
    /* Pinned, so CCOUNT is always the same core's and no migration lands in a run. */
    xTaskCreatePinnedToCore(bench_task, "harness", BENCH_STACK, NULL, BENCH_PRIORITY, NULL,
                            BENCH_CORE);
}
