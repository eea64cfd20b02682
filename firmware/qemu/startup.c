/* Vector table and reset for the Cortex-M4F of mps2-an386. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void UART0RX_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    /* FPU on (CP10, CP11 full access) before any code compiled for hard-float runs. */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    main();
    semihost_exit_fault("main returned");
}

/* A fault ends QEMU with a message on its stderr: the driver sees the process go. */
static void Fault_Handler(void)
{
    semihost_exit_fault("firmware fault (HardFault/MemManage/BusFault/UsageFault)");
}

static void Unused_Handler(void)
{
    semihost_exit_fault("unexpected interrupt");
}

__attribute__((section(".vectors"), used))
static void (*const vectors[16 + 32])(void) = {
    [0] = (void (*)(void))&__stack_top,
    [1] = Reset_Handler,
    [2] = Unused_Handler,  /* NMI */
    [3] = Fault_Handler,   /* HardFault */
    [4] = Fault_Handler,   /* MemManage */
    [5] = Fault_Handler,   /* BusFault */
    [6] = Fault_Handler,   /* UsageFault */
    [11] = Unused_Handler, /* SVCall */
    [12] = Unused_Handler, /* DebugMonitor */
    [14] = Unused_Handler, /* PendSV */
    [15] = SysTick_Handler,
    /* AN386 device interrupts 0..31: only UART0 RX (0) is enabled */
    [16 + 0] = UART0RX_Handler,
    [16 + 1 ... 47] = Unused_Handler,
};
