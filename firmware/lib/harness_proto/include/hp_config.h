/* Compile-time sizes of the DUT protocol core (override with -D). */
#ifndef HP_CONFIG_H
#define HP_CONFIG_H

#define HP_PROTOCOL_VERSION 1

/* Largest frame body the device accepts and sends (HELLO reports it). The
 * receive and transmit buffers are each HP_MAX_PAYLOAD + 6 bytes. */
#ifndef HP_MAX_PAYLOAD
#define HP_MAX_PAYLOAD 1024
#endif

/* LOAD_CHUNKs the host may send before it must wait for an ACK. */
#ifndef HP_RX_WINDOW
#define HP_RX_WINDOW 4
#endif

/* Largest rank of a tensor descriptor in HELLO_INFO. */
#ifndef HP_MAX_DIMS
#define HP_MAX_DIMS 6
#endif

/* Reads of the cycle counter a marker pulse may wait for at most: a counter
 * that does not advance must not hang the board. */
#ifndef HP_MARKER_SPIN_LIMIT
#define HP_MARKER_SPIN_LIMIT 1000000u
#endif

/* type + seq + body + crc32 */
#define HP_FRAME_OVERHEAD 6
#define HP_FRAME_MAX (HP_MAX_PAYLOAD + HP_FRAME_OVERHEAD)

#if HP_MAX_PAYLOAD < 64 || HP_MAX_PAYLOAD > 65535
#error "HP_MAX_PAYLOAD must fit the u16 of HELLO_INFO and hold a HELLO_INFO"
#endif
#if HP_RX_WINDOW < 1 || HP_RX_WINDOW > 255
#error "HP_RX_WINDOW is a u8 and at least 1"
#endif

#endif
