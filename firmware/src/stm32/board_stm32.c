/* NUCLEO-L4R5ZI and NUCLEO-F746ZG (STM32Cube HAL). Link: the ST-LINK virtual
 * COM port, received by interrupt into a ring buffer. Counter: DWT CYCCNT.
 * Marker: D7 = PF13 on both boards (the MLPerf Tiny timestamp pin). */
#include <stdbool.h>

#include "app.h"
#include "board.h"
#include "harness_model.h"
#include "stm32_port.h"

#define LINK_BAUD 115200u
#define MARKER_PORT GPIOF
#define MARKER_PIN GPIO_PIN_13
#define RX_RING 2048u /* a power of two; 170 ms of line time at 115200 Bd */

static UART_HandleTypeDef *console;
static volatile uint16_t rx_head; /* written by the interrupt only */
static volatile uint16_t rx_tail; /* written by board_read only */
static uint8_t rx_ring[RX_RING];
static hp_board hooks;

/* In .bss of the 640 KB (L4R5) / 320 KB (F746) RAM the linker script declares. */
static uint8_t arena[HARNESS_MODEL_ARENA_BYTES] __attribute__((aligned(16)));

static void link_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    while (len > 0) {
        uint16_t piece = len > 0xFFFFu ? 0xFFFFu : (uint16_t)len;
        HAL_UART_Transmit(console, (uint8_t *)data, piece, HAL_MAX_DELAY);
        data += piece;
        len -= piece;
    }
}

static uint32_t read_cycles(void *ctx)
{
    (void)ctx;
    return DWT->CYCCNT;
}

static void marker(void *ctx, bool high)
{
    (void)ctx;
    /* BSRR: one store sets or resets the pin, no read-modify-write */
    MARKER_PORT->BSRR = high ? MARKER_PIN : (uint32_t)MARKER_PIN << 16;
}

void stm32_console_irq(void)
{
    if (__HAL_UART_GET_FLAG(console, UART_FLAG_ORE)) {
        __HAL_UART_CLEAR_OREFLAG(console); /* a lost byte: the frame's CRC will tell */
    }
    while (__HAL_UART_GET_FLAG(console, UART_FLAG_RXNE)) {
        uint8_t byte = (uint8_t)console->Instance->RDR;
        uint16_t next = (uint16_t)((rx_head + 1u) & (RX_RING - 1u));
        if (next != rx_tail) { /* full: drop, the host's resync recovers */
            rx_ring[rx_head] = byte;
            rx_head = next;
        }
    }
}

/* HAL_GetTick (UART timeouts) counts SysTick interrupts. */
void SysTick_Handler(void)
{
    HAL_IncTick();
}

void board_init(void)
{
    HAL_Init();
    if (stm32_clock_init() != 0) {
        for (;;) { /* wrong clocks would make every figure wrong: stop here */
        }
    }
    __HAL_RCC_GPIOF_CLK_ENABLE();
    GPIO_InitTypeDef pin = {
        .Pin = MARKER_PIN, .Mode = GPIO_MODE_OUTPUT_PP, .Pull = GPIO_NOPULL,
        .Speed = GPIO_SPEED_FREQ_VERY_HIGH,
    };
    HAL_GPIO_Init(MARKER_PORT, &pin);
    marker(NULL, false);
    stm32_dwt_init();
    console = stm32_console_init(LINK_BAUD);
    hooks = (hp_board){
        .write = link_write, .read_cycles = read_cycles, .marker = marker, .ctx = NULL,
        .board_id = stm32_board_id, .counter = "dwt", .clock_hz = HAL_RCC_GetHCLKFreq(),
        .marker_pulse_us = HARNESS_MARKER_PULSE_US,
    };
}

const hp_board *board_hooks(void)
{
    return &hooks;
}

uint8_t *board_arena(size_t bytes)
{
    return bytes <= sizeof arena ? arena : NULL;
}

size_t board_read(uint8_t *buf, size_t cap)
{
    /* Sleep until a byte is there; interrupts masked around the check so that
     * one arriving in between still ends the WFI (it stays pending). */
    __disable_irq();
    while (rx_head == rx_tail) {
        __WFI();
        __enable_irq();
        __disable_irq();
    }
    __enable_irq();
    size_t n = 0;
    while (n < cap && rx_tail != rx_head) {
        buf[n++] = rx_ring[rx_tail];
        rx_tail = (uint16_t)((rx_tail + 1u) & (RX_RING - 1u));
    }
    return n;
}

void stm32_dwt_init(void)
{
#if defined(STM32F746xx)
    /* Cortex-M7: the DWT ignores writes until its lock access register is opened
     * (TFLM's cortex_m_generic micro_time.cc does the same). */
    *(volatile uint32_t *)0xE0001FB0u = 0xC5ACCE55u; /* DWT->LAR */
#endif
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
}

int main(void)
{
    app_run();
}
