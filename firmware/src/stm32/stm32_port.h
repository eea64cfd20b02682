/* What differs between the two Nucleo boards: the HAL family, clock tree,
 * console UART and its pins. board_stm32.c holds the rest. */
#ifndef STM32_PORT_H
#define STM32_PORT_H

#if defined(STM32L4R5xx)
#include "stm32l4xx_hal.h"
#elif defined(STM32F746xx)
#include "stm32f7xx_hal.h"
#else
#error "an STM32 port is built for STM32L4R5xx or STM32F746xx (the board's -D flag)"
#endif

/* The board's name as boards/<id>.yaml spells it. */
extern const char *const stm32_board_id;

/* Core clock to its rated maximum (PLL, flash wait states, caches); returns 0 on success. */
int stm32_clock_init(void);

/* The ST-LINK virtual COM port: pins, clock, IRQ; 8N1 at `baud`, RX interrupt on. */
UART_HandleTypeDef *stm32_console_init(uint32_t baud);

/* Called from the console UART's interrupt handler. */
void stm32_console_irq(void);

/* Turn on the DWT cycle counter (on the M7 the DWT must be unlocked first). */
void stm32_dwt_init(void);

#endif
