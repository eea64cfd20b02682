/* ARM semihosting (QEMU -semihosting-config enable=on): report and stop. */
#ifndef SEMIHOST_H
#define SEMIHOST_H

/* Print text on QEMU's stderr. */
void semihost_print(const char *text);

/* Print msg, then end QEMU with a non-zero status. */
__attribute__((noreturn)) void semihost_exit_fault(const char *msg);

/* End QEMU with status 0. */
__attribute__((noreturn)) void semihost_exit_ok(void);

#endif
