/* NUCLEO-F746ZG: Cortex-M7 at 216 MHz; console USART3 on PD8 (TX) / PD9 (RX). */
#include "stm32_port.h"

#if defined(STM32F746xx)

const char *const stm32_board_id = "nucleo_f746zg";
static UART_HandleTypeDef usart3;

/* HSE 8 MHz bypass (the ST-LINK's MCO; HSE_VALUE=8000000 in platformio.ini)
 * -> PLL (M 8, N 432, P 2, Q 9) -> 216 MHz, which needs voltage scale 1 and
 * over-drive, 7 flash wait states (RM0385 3.3.2); APB1 54 MHz, APB2 108 MHz.
 * Then the L1 caches: without them the M7 waits on flash for every fetch. */
int stm32_clock_init(void)
{
    __HAL_RCC_PWR_CLK_ENABLE();
    __HAL_PWR_VOLTAGESCALING_CONFIG(PWR_REGULATOR_VOLTAGE_SCALE1);
    RCC_OscInitTypeDef osc = {0};
    osc.OscillatorType = RCC_OSCILLATORTYPE_HSE;
    osc.HSEState = RCC_HSE_BYPASS;
    osc.PLL.PLLState = RCC_PLL_ON;
    osc.PLL.PLLSource = RCC_PLLSOURCE_HSE;
    osc.PLL.PLLM = 8;
    osc.PLL.PLLN = 432;
    osc.PLL.PLLP = RCC_PLLP_DIV2;
    osc.PLL.PLLQ = 9;
    if (HAL_RCC_OscConfig(&osc) != HAL_OK || HAL_PWREx_EnableOverDrive() != HAL_OK) {
        return -1;
    }
    RCC_ClkInitTypeDef clk = {0};
    clk.ClockType = RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_PCLK1 |
                    RCC_CLOCKTYPE_PCLK2;
    clk.SYSCLKSource = RCC_SYSCLKSOURCE_PLLCLK;
    clk.AHBCLKDivider = RCC_SYSCLK_DIV1;
    clk.APB1CLKDivider = RCC_HCLK_DIV4;
    clk.APB2CLKDivider = RCC_HCLK_DIV2;
    if (HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_7) != HAL_OK) {
        return -1;
    }
    SCB_EnableICache();
    SCB_EnableDCache();
    return 0;
}

UART_HandleTypeDef *stm32_console_init(uint32_t baud)
{
    __HAL_RCC_GPIOD_CLK_ENABLE();
    __HAL_RCC_USART3_CLK_ENABLE();
    GPIO_InitTypeDef pins = {
        .Pin = GPIO_PIN_8 | GPIO_PIN_9, .Mode = GPIO_MODE_AF_PP, .Pull = GPIO_PULLUP,
        .Speed = GPIO_SPEED_FREQ_VERY_HIGH, .Alternate = GPIO_AF7_USART3,
    };
    HAL_GPIO_Init(GPIOD, &pins);
    usart3.Instance = USART3;
    usart3.Init.BaudRate = baud;
    usart3.Init.WordLength = UART_WORDLENGTH_8B;
    usart3.Init.StopBits = UART_STOPBITS_1;
    usart3.Init.Parity = UART_PARITY_NONE;
    usart3.Init.Mode = UART_MODE_TX_RX;
    usart3.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    usart3.Init.OverSampling = UART_OVERSAMPLING_16;
    if (HAL_UART_Init(&usart3) != HAL_OK) {
        for (;;) {
        }
    }
    __HAL_UART_ENABLE_IT(&usart3, UART_IT_RXNE);
    HAL_NVIC_SetPriority(USART3_IRQn, 0, 0);
    HAL_NVIC_EnableIRQ(USART3_IRQn);
    return &usart3;
}

void USART3_IRQHandler(void)
{
    stm32_console_irq();
}

#endif
