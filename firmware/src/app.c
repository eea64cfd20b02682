#include "app.h"

#include "board.h"
#include "harness_model.h"
#include "hp_link.h"
#include "runner_tflm.h"

/* The binary protocol, or MLPerf Tiny's text protocol if the host speaks it (hp_link.h). */
static hp_link host_link;

void app_setup(void)
{
    board_init();
    const hp_runner *runner = runner_tflm(board_arena(HARNESS_MODEL_ARENA_BYTES),
                                          HARNESS_MODEL_ARENA_BYTES);
    hp_link_init(&host_link, board_hooks(), runner);
    hp_link_boot(&host_link);
}

void app_poll(void)
{
    uint8_t buf[64];
    size_t n = board_read(buf, sizeof buf);
    hp_link_rx(&host_link, buf, n);
}

void app_run(void)
{
    app_setup();
    for (;;) {
        app_poll();
    }
}
