/* One host link, two protocols: the binary DUT protocol (hp_device.h) and
 * MLPerf Tiny's text protocol (hp_mlperf.h). The host's first bytes after boot
 * decide which one the link speaks until the board resets:
 *
 *  - a byte that is not text (printable ASCII, tab, CR, LF) -> binary. A binary
 *    host starts every write with 0x00; a frame written without it still has
 *    its type (0x01 ... 0x07) as second byte;
 *  - a '%' (MLPerf Tiny's command terminator) after nothing but text -> text.
 *
 * Until then every byte goes to both protocols: neither answers before its own
 * terminator (0x00 ends a frame, '%' a command), and the first terminator
 * decides. So the binary protocol sees exactly the bytes it would have seen
 * alone, and text noise without a '%' decides nothing. Boot sends the binary
 * READY frame only, as hp_device_ready always did. */
#ifndef HP_LINK_H
#define HP_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "hp_device.h"
#include "hp_mlperf.h"

typedef enum {
    HP_LINK_UNDECIDED = 0,
    HP_LINK_BINARY,
    HP_LINK_TEXT,
} hp_link_mode;

typedef struct {
    hp_device device;
    hp_mlperf mlperf;
    hp_link_mode mode;
} hp_link;

void hp_link_init(hp_link *link, const hp_board *board, const hp_runner *runner);

/* At boot: READY (hp_device_ready). */
void hp_link_boot(hp_link *link);

/* Feed bytes from the host. */
void hp_link_rx(hp_link *link, const uint8_t *data, size_t len);

#endif
