/*
 * lodge-port: relays the agent's virtio-serial port to the agent over its stdin/stdout (socketpairs from Node),
 * so Node reads and writes ordinary epoll-driven streams instead of a character device it cannot poll.
 *
 * Usage: lodge-port DEVICE        the port, opened read-write (virtio_console allows one open per port)
 *        lodge-port IN OUT        tests: read the FIFO IN, write the FIFO OUT (closing IN's writer is end-of-file)
 *
 * Port → agent (stdout): records. Each is a 4-byte little-endian length n, then n bytes read from the port.
 * n = 0 is the port's end-of-file (the host closed agent.sock: read() returned 0), in order with the data.
 * The next record with data after it means the host is back (reconnect); the agent says Hello again.
 * Agent → port (stdin): raw bytes, written to the port as they come (virtio_console takes ≤ 32 KiB per write).
 * While the host is away (after end-of-file, until data comes again) the relay drops what the agent writes and
 * what was not yet written: the agent never blocks on the port, and a new host hunts for the next Hello anyway.
 * The port is O_NONBLOCK: poll() drives both sides; a non-blocking write to virtio_console also returns as soon
 * as the buffer is queued rather than spinning until the host took it. After end-of-file the port reports POLLHUP
 * without pause, so it is read every RETRY_MS instead of polled. The relay exits 0 when the agent closes stdin,
 * 1 on an error (message on stderr): the agent restarts it or falls back to reading the port itself.
 * LODGE_PORT_READ_MAX caps each read (host tests imitate virtio_console's 4 KiB per read()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOWN_CAP (512 * 1024) /* port → agent, records included */
#define UP_CAP (256 * 1024)   /* agent → port */
#define PORT_WRITE_MAX (32 * 1024)
#define HEADER 4
#define RETRY_MS 50

static unsigned char down[DOWN_CAP], up[UP_CAP];
static size_t down_off, down_len, up_off, up_len;
static int port_in, port_out;
static int host_away; /* end-of-file sent, no data since */
static size_t read_max = 64 * 1024;

static void die(const char *what) {
  fprintf(stderr, "lodge-port: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put_header(unsigned char *at, uint32_t n) {
  at[0] = n & 0xff, at[1] = (n >> 8) & 0xff, at[2] = (n >> 16) & 0xff, at[3] = n >> 24;
}

/* Makes room at the end of `down` by moving the unsent bytes to the front. */
static size_t down_room(void) {
  if (down_off > 0 && down_len + HEADER + 4096 > DOWN_CAP) {
    memmove(down, down + down_off, down_len - down_off);
    down_len -= down_off, down_off = 0;
  }
  return DOWN_CAP - down_len;
}

/* Reads the port until it would block, is empty or `down` is full: one record for the lot. */
static void read_port(void) {
  if (down_room() < HEADER + 1) return;
  size_t start = down_len, got = 0;
  for (;;) {
    size_t room = DOWN_CAP - (start + HEADER + got);
    if (room == 0) break;
    ssize_t n = read(port_in, down + start + HEADER + got, room < read_max ? room : read_max);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) die("reading the port");
    if (n == 0 && got == 0 && !host_away) {
      /* The host closed its end: tell the agent, drop what it still wanted to send. */
      put_header(down + start, 0);
      down_len = start + HEADER;
      host_away = 1;
      up_off = up_len = 0;
    }
    break;
  }
  if (got == 0) return;
  put_header(down + start, (uint32_t)got);
  down_len = start + HEADER + got;
  host_away = 0;
}

static void write_agent(void) {
  while (down_off < down_len) {
    ssize_t n = write(1, down + down_off, down_len - down_off);
    if (n > 0) {
      down_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    die("writing to the agent");
  }
  down_off = down_len = 0;
}

static void read_agent(void) {
  if (up_off == up_len) up_off = up_len = 0;
  if (UP_CAP - up_len < UP_CAP / 2) {
    memmove(up, up + up_off, up_len - up_off);
    up_len -= up_off, up_off = 0;
  }
  ssize_t n = read(0, up + up_len, UP_CAP - up_len);
  if (n == 0) exit(0); /* the agent is gone or closed us */
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    die("reading from the agent");
  }
  if (host_away) return; /* nobody to send it to; the agent says Hello when the host is back */
  up_len += (size_t)n;
}

static void write_port(void) {
  while (up_off < up_len) {
    size_t want = up_len - up_off;
    ssize_t n = write(port_out, up + up_off, want < PORT_WRITE_MAX ? want : PORT_WRITE_MAX);
    if (n > 0) {
      up_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EPIPE) return; /* tests: no FIFO reader; the end-of-file on IN says the rest */
    die("writing the port");
  }
  up_off = up_len = 0;
}

static void nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl O_NONBLOCK");
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: lodge-port DEVICE | lodge-port IN-FIFO OUT-FIFO\n");
    return 2;
  }
  const char *max = getenv("LODGE_PORT_READ_MAX");
  if (max && atol(max) > 0) read_max = (size_t)atol(max);
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2) {
    port_in = port_out = open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (port_in < 0) die(argv[1]);
  } else {
    port_in = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (port_in < 0) die(argv[1]);
    port_out = open(argv[2], O_RDWR | O_NONBLOCK | O_CLOEXEC); /* O_RDWR: no wait for a reader */
    if (port_out < 0) die(argv[2]);
  }
  nonblocking(0);
  nonblocking(1);
  for (;;) {
    int full = DOWN_CAP - down_len + down_off < HEADER + 4096;
    struct pollfd fds[3] = {
      {.fd = 0, .events = POLLIN},
      {.fd = 1, .events = down_off < down_len ? POLLOUT : 0},
      /* Not while the host is away (POLLHUP without end) or `down` is full (the agent reads first). */
      {.fd = host_away || full ? -1 : port_in, .events = POLLIN},
    };
    struct pollfd out = {.fd = !host_away && up_off < up_len ? port_out : -1, .events = POLLOUT};
    int same = port_in == port_out;
    if (same && fds[2].fd >= 0 && out.fd >= 0) fds[2].events |= POLLOUT, out.fd = -1;
    if (up_len - up_off >= UP_CAP / 2) fds[0].fd = -1; /* the port is slow: stop taking more */
    struct pollfd all[4] = {fds[0], fds[1], fds[2], out};
    int n = poll(all, 4, host_away ? RETRY_MS : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (all[1].revents & (POLLOUT | POLLERR | POLLHUP)) write_agent();
    if (host_away || (all[2].revents & (POLLIN | POLLHUP | POLLERR))) read_port();
    if (down_off < down_len) write_agent();
    if (all[0].revents & (POLLIN | POLLHUP | POLLERR)) read_agent();
    if (!host_away && up_off < up_len) write_port();
  }
}
