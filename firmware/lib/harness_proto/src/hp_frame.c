#include "hp_frame.h"

#include "hp_crc32.h"

void hp_frame_rx_reset(hp_frame_rx *rx)
{
    rx->len = 0;
    rx->crc = HP_CRC32_INIT;
    rx->overflow = false;
    hp_cobs_dec_reset(&rx->cobs);
}

static uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static hp_rx_status end_of_frame(hp_frame_rx *rx)
{
    if (!rx->cobs.started) {
        return HP_RX_MORE; /* empty frame: a flush, ignored */
    }
    if (rx->overflow || !hp_cobs_dec_complete(&rx->cobs) || rx->len < HP_FRAME_OVERHEAD) {
        return HP_RX_BAD_FRAME;
    }
    size_t body_end = rx->len - 4;
    if ((rx->crc ^ HP_CRC32_XOROUT) != load_u32le(rx->buf + body_end)) {
        return HP_RX_BAD_CRC;
    }
    rx->frame_len = body_end;
    return HP_RX_FRAME;
}

hp_rx_status hp_frame_rx_byte(hp_frame_rx *rx, uint8_t byte)
{
    if (byte == 0) {
        hp_rx_status status = end_of_frame(rx);
        hp_frame_rx_reset(rx);
        return status;
    }
    uint8_t out;
    if (!hp_cobs_dec_byte(&rx->cobs, byte, &out) || rx->overflow) {
        return HP_RX_MORE;
    }
    if (rx->len == HP_FRAME_MAX) {
        rx->overflow = true;
        return HP_RX_MORE;
    }
    if (rx->len >= 4) {
        rx->crc = hp_crc32_byte(rx->crc, rx->buf[rx->len - 4]);
    }
    rx->buf[rx->len++] = out;
    return HP_RX_MORE;
}

void hp_frame_send(uint8_t *frame, size_t len, hp_write_fn write, void *ctx)
{
    static const uint8_t delimiter = 0;
    uint32_t crc = hp_crc32(frame, len);
    for (int i = 0; i < 4; i++) {
        frame[len + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    write(ctx, &delimiter, 1);
    hp_cobs_encode_to(frame, len + 4, write, ctx);
    write(ctx, &delimiter, 1);
}
