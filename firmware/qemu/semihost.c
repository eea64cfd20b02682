#include "semihost.h"

#include <stdint.h>

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static void semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

void semihost_print(const char *text)
{
    semihost_call(SYS_WRITE0, text);
}

/* On 32-bit ARM SYS_EXIT takes the reason itself, not a pointer to a block;
 * QEMU exits 0 for ApplicationExit and 1 for anything else. */
__attribute__((noreturn)) static void semihost_exit(uint32_t reason)
{
    semihost_call(SYS_EXIT, (const void *)reason);
    for (;;) {
    }
}

void semihost_exit_fault(const char *msg)
{
    semihost_print("fw: ");
    semihost_print(msg);
    semihost_print("\n");
    semihost_exit(ADP_STOPPED_RUN_TIME_ERROR);
}

void semihost_exit_ok(void)
{
    semihost_exit(ADP_STOPPED_APPLICATION_EXIT);
}
