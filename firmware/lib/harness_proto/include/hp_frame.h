/* Frames on the wire: [0x00] COBS(type | seq | body | crc32 LE) 0x00. */
#ifndef HP_FRAME_H
#define HP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_cobs.h"
#include "hp_config.h"

typedef enum {
    HP_RX_MORE = 0,   /* nothing complete yet (also after an empty frame) */
    HP_RX_FRAME,      /* buf[0 .. frame_len) is type | seq | body, CRC checked */
    HP_RX_BAD_FRAME,  /* bad COBS, shorter than 6 or longer than HP_FRAME_MAX */
    HP_RX_BAD_CRC,
} hp_rx_status;

/* Streaming receiver with one fixed buffer. The CRC is updated four bytes
 * behind the decoder (the last four decoded bytes may be the CRC itself), so
 * the work left when the 0x00 arrives is constant: a polled UART with a one-byte
 * holding register is read again quickly. */
typedef struct {
    uint8_t buf[HP_FRAME_MAX];
    size_t len;          /* decoded bytes of the frame in progress */
    size_t frame_len;    /* after HP_RX_FRAME: bytes of type | seq | body */
    uint32_t crc;        /* CRC state over buf[0 .. len - 4) */
    hp_cobs_dec cobs;
    bool overflow;       /* frame longer than the buffer: drop it at the 0x00 */
} hp_frame_rx;

void hp_frame_rx_reset(hp_frame_rx *rx);

/* Feed one byte from the line. buf stays valid until the next call. */
hp_rx_status hp_frame_rx_byte(hp_frame_rx *rx, uint8_t byte);

/* Append the CRC of frame[0 .. len) at frame[len .. len + 4) (the caller
 * leaves room), then write 0x00, the COBS encoding and 0x00. The leading 0x00
 * ends any noise the host received since the last frame as a frame of its own,
 * so the noise is dropped alone instead of taking this frame with it. */
void hp_frame_send(uint8_t *frame, size_t len, hp_write_fn write, void *ctx);

#endif
