/* CMSDK APB UART0 of mps2-an386 (0x40004000), polled. */
#ifndef UART_CMSDK_H
#define UART_CMSDK_H

#include <stddef.h>
#include <stdint.h>

void uart_init(uint32_t pclk_hz, uint32_t baud);
void uart_write(void *ctx, const uint8_t *data, size_t len); /* an hp_board.write */
uint8_t uart_getc(void);

#endif
