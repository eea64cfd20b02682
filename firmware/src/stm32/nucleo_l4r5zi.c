/* NUCLEO-L4R5ZI: Cortex-M4F at 120 MHz; console LPUART1 on PG7 (TX) / PG8 (RX). */
#include "stm32_port.h"

#if defined(STM32L4R5xx)

const char *const stm32_board_id = "nucleo_l4r5zi";
static UART_HandleTypeDef lpuart1;

/* MSI 4 MHz -> PLL (M 1, N 60, R 2) -> 120 MHz SYSCLK in voltage range 1 boost,
 * 5 flash wait states (RM0432 table 12). Above 80 MHz the AHB clock must pass
 * through a /2 step for 1 us on the way up (RM0432 6.2.9), hence two steps. */
int stm32_clock_init(void)
{
    __HAL_RCC_PWR_CLK_ENABLE();
    if (HAL_PWREx_ControlVoltageScaling(PWR_REGULATOR_VOLTAGE_SCALE1_BOOST) != HAL_OK) {
        return -1;
    }
    RCC_OscInitTypeDef osc = {0};
    osc.OscillatorType = RCC_OSCILLATORTYPE_MSI;
    osc.MSIState = RCC_MSI_ON;
    osc.MSICalibrationValue = RCC_MSICALIBRATION_DEFAULT;
    osc.MSIClockRange = RCC_MSIRANGE_6; /* 4 MHz */
    osc.PLL.PLLState = RCC_PLL_ON;
    osc.PLL.PLLSource = RCC_PLLSOURCE_MSI;
    osc.PLL.PLLM = 1;
    osc.PLL.PLLN = 60;
    osc.PLL.PLLP = RCC_PLLP_DIV2;
    osc.PLL.PLLQ = RCC_PLLQ_DIV2;
    osc.PLL.PLLR = RCC_PLLR_DIV2;
    if (HAL_RCC_OscConfig(&osc) != HAL_OK) {
        return -1;
    }
    RCC_ClkInitTypeDef clk = {0};
    clk.ClockType = RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_PCLK1 |
                    RCC_CLOCKTYPE_PCLK2;
    clk.SYSCLKSource = RCC_SYSCLKSOURCE_PLLCLK;
    clk.AHBCLKDivider = RCC_SYSCLK_DIV2;
    clk.APB1CLKDivider = RCC_HCLK_DIV1;
    clk.APB2CLKDivider = RCC_HCLK_DIV1;
    if (HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_5) != HAL_OK) {
        return -1;
    }
    HAL_Delay(1);
    clk.ClockType = RCC_CLOCKTYPE_HCLK;
    clk.AHBCLKDivider = RCC_SYSCLK_DIV1;
    return HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_5) == HAL_OK ? 0 : -1;
}

UART_HandleTypeDef *stm32_console_init(uint32_t baud)
{
    __HAL_RCC_PWR_CLK_ENABLE();
    HAL_PWREx_EnableVddIO2(); /* PG2..PG15 are powered from VDDIO2 */
    __HAL_RCC_GPIOG_CLK_ENABLE();
    __HAL_RCC_LPUART1_CLK_ENABLE(); /* kernel clock: PCLK1 (reset selection) */
    GPIO_InitTypeDef pins = {
        .Pin = GPIO_PIN_7 | GPIO_PIN_8, .Mode = GPIO_MODE_AF_PP, .Pull = GPIO_PULLUP,
        .Speed = GPIO_SPEED_FREQ_VERY_HIGH, .Alternate = GPIO_AF8_LPUART1,
    };
    HAL_GPIO_Init(GPIOG, &pins);
    lpuart1.Instance = LPUART1;
    lpuart1.Init.BaudRate = baud;
    lpuart1.Init.WordLength = UART_WORDLENGTH_8B;
    lpuart1.Init.StopBits = UART_STOPBITS_1;
    lpuart1.Init.Parity = UART_PARITY_NONE;
    lpuart1.Init.Mode = UART_MODE_TX_RX;
    lpuart1.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    if (HAL_UART_Init(&lpuart1) != HAL_OK) {
        for (;;) {
        }
    }
    __HAL_UART_ENABLE_IT(&lpuart1, UART_IT_RXNE);
    HAL_NVIC_SetPriority(LPUART1_IRQn, 0, 0);
    HAL_NVIC_EnableIRQ(LPUART1_IRQn);
    return &lpuart1;
}

void LPUART1_IRQHandler(void)
{
    stm32_console_irq();
}

#endif
