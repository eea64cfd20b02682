/* The protocol core with the checksum runner, served on a pseudo-terminal:
 * the C twin of harness/boards/sim_board.py, so the Python host session can
 * talk to the C core exactly as it talks to a board (tests/test_firmware_core.py,
 * and in MLPerf Tiny's text protocol tests/test_firmware_mlperf.py).
 * Prints "PTY <path>" and serves until killed. Like a board that resets when
 * its port is opened, it boots (READY) each time a host opens the slave, and
 * the host's first bytes choose the protocol anew (hp_link.h). */
#define _XOPEN_SOURCE 700 /* posix_openpt, ptsname */
#define _DEFAULT_SOURCE   /* cfmakeraw, usleep */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hp_link.h"
#include "runner_checksum.h"

static int master_fd = -1;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void pty_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = write(master_fd, data, len);
        if (n < 0 && errno != EINTR) {
            die("write to pty");
        }
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
    }
}

/* Nanoseconds: the host's monotonic clock stands in for a cycle counter. */
static uint32_t read_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Put the slave in raw mode (no echo, 0x00 and 0x0a unchanged) and close it:
 * the host opens it by path; raw mode stays with the pair. */
static const char *open_pty(void)
{
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        die("posix_openpt");
    }
    const char *slave_path = ptsname(master_fd);
    int slave_fd = slave_path ? open(slave_path, O_RDWR | O_NOCTTY) : -1;
    struct termios tio;
    if (slave_fd < 0 || tcgetattr(slave_fd, &tio) != 0) {
        die("open pty slave");
    }
    cfmakeraw(&tio);
    if (tcsetattr(slave_fd, TCSANOW, &tio) != 0) {
        die("tcsetattr");
    }
    close(slave_fd);
    return slave_path;
}

int main(void)
{
    static const hp_board board = {
        .write = pty_write, .read_cycles = read_ns, .marker = NULL, .ctx = NULL,
        .board_id = "host", .counter = "host-ns", .clock_hz = 1000000000u,
    };
    static hp_link host_link;
    printf("PTY %s\n", open_pty());
    fflush(stdout);
    bool connected = false;
    for (;;) {
        /* The master reports POLLHUP while no process has the slave open; an
         * opener that sends nothing yet is seen when POLLHUP stops. */
        struct pollfd pfd = {.fd = master_fd, .events = POLLIN};
        if (poll(&pfd, 1, connected ? -1 : 10) < 0 && errno != EINTR) {
            die("poll");
        }
        if (pfd.revents & POLLHUP) {
            connected = false;
            usleep(10000); /* POLLHUP returns at once: do not spin */
            continue;
        }
        if (!connected) {
            connected = true;
            usleep(20000); /* let the opener finish configuring (and flushing) the port */
            hp_link_init(&host_link, &board, runner_checksum());
            hp_link_boot(&host_link);
        }
        if (pfd.revents & POLLIN) {
            uint8_t buf[4096];
            ssize_t n = read(master_fd, buf, sizeof buf);
            if (n < 0 && errno != EINTR && errno != EIO) {
                die("read from pty");
            }
            if (n > 0) {
                hp_link_rx(&host_link, buf, (size_t)n);
            }
        }
    }
}
