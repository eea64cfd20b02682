/* The firmware's main loop, the same on every board: the protocol core on the
 * board's link, the TFLM runner over the model embedded at build time. */
#ifndef APP_H
#define APP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Bring the board up, set up the model, announce READY. */
void app_setup(void);

/* Feed what the host sent to the protocol core (blocks for at least one byte). */
void app_poll(void);

/* app_setup, then app_poll forever. */
void app_run(void);

#ifdef __cplusplus
}
#endif

#endif
