#include "hp_link.h"

#include <stdbool.h>

void hp_link_init(hp_link *link, const hp_board *board, const hp_runner *runner)
{
    hp_device_init(&link->device, board, runner);
    hp_mlperf_init(&link->mlperf, board, runner);
    link->mode = HP_LINK_UNDECIDED;
}

void hp_link_boot(hp_link *link)
{
    hp_device_ready(&link->device);
}

static bool is_text(uint8_t c)
{
    return (c >= 0x20u && c <= 0x7Eu) || c == '\t' || c == '\r' || c == '\n';
}

void hp_link_rx(hp_link *link, const uint8_t *data, size_t len)
{
    size_t i = 0;
    for (; i < len && link->mode == HP_LINK_UNDECIDED; i++) {
        uint8_t c = data[i];
        if (!is_text(c)) {
            link->mode = HP_LINK_BINARY;
        } else if (c == '%') {
            link->mode = HP_LINK_TEXT;
            hp_mlperf_start(&link->mlperf);
        }
        /* both have seen every byte before this one; the chosen one takes it */
        if (link->mode != HP_LINK_TEXT) {
            hp_device_rx(&link->device, &c, 1);
        }
        if (link->mode != HP_LINK_BINARY) {
            hp_mlperf_rx(&link->mlperf, &c, 1);
        }
    }
    if (link->mode == HP_LINK_BINARY) {
        hp_device_rx(&link->device, data + i, len - i);
    } else if (link->mode == HP_LINK_TEXT) {
        hp_mlperf_rx(&link->mlperf, data + i, len - i);
    }
}
