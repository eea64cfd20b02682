#include "app.h"

#include "board.h"
#include "harness_model.h"
#include "hp_device.h"
#include "runner_tflm.h"

static hp_device device;

void app_setup(void)
{
    board_init();
    const hp_runner *runner = runner_tflm(board_arena(HARNESS_MODEL_ARENA_BYTES),
                                          HARNESS_MODEL_ARENA_BYTES);
    hp_device_init(&device, board_hooks(), runner);
    hp_device_ready(&device);
}

void app_poll(void)
{
    uint8_t buf[64];
    size_t n = board_read(buf, sizeof buf);
    hp_device_rx(&device, buf, n);
}

void app_run(void)
{
    app_setup();
    for (;;) {
        app_poll();
    }
}
