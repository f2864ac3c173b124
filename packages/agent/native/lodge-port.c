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
 * A record holds what one wake-up read; while bulk streams in (reads fill whole 4 KiB buffers) the relay waits up
 * to LINGER_MS for more, up to LINGER_BYTES, so the agent handles one 64 KiB record rather than sixteen of 4 KiB.
 * Agent → port (stdin): raw bytes, written to the port as they come (virtio_console takes ≤ 32 KiB per write).
 * While the host is away (after end-of-file, until data comes again) the relay drops what the agent writes and
 * what was not yet written: the agent never blocks on the port, and a new host hunts for the next Hello anyway.
 * The port is O_NONBLOCK: poll() drives both sides; a non-blocking write to virtio_console also returns as soon
 * as the buffer is queued rather than spinning until the host took it. After end-of-file the port reports POLLHUP
 * without pause, so it is read every RETRY_MS instead of polled. The relay exits 0 when the agent closes stdin,
 * 1 on an error (message on stderr): the agent restarts it or falls back to reading the port itself. It dies with
 * the agent (PR_SET_PDEATHSIG), so a new agent's relay finds the port free.
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
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#define DOWN_CAP (512 * 1024) /* port → agent, records included */
#define UP_CAP (256 * 1024)   /* agent → port */
#define PORT_WRITE_MAX (32 * 1024)
#define HEADER 4
#define RETRY_MS 50
#define LINGER_MS 1
#define LINGER_BYTES (64 * 1024)

static unsigned char down[DOWN_CAP], up[UP_CAP];
/* down: [down_off, sealed) is ready for the agent; a record still filling starts at `open_at` (-1: none). */
static size_t down_off, down_len, sealed, up_off, up_len;
static long open_at = -1;
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

/* Ends the open record: the agent may have it now (an empty one is taken back). */
static void seal(void) {
  if (open_at < 0) return;
  size_t got = down_len - (size_t)open_at - HEADER;
  if (got == 0) down_len = (size_t)open_at;
  else put_header(down + open_at, (uint32_t)got);
  open_at = -1;
  sealed = down_len;
}

/* Room at the end of `down` for a new record, moving the unsent bytes to the front when that helps. */
static size_t down_room(void) {
  if (open_at < 0 && down_off > 0 && down_len + HEADER + 4096 > DOWN_CAP) {
    memmove(down, down + down_off, down_len - down_off);
    down_len -= down_off, sealed -= down_off, down_off = 0;
  }
  return DOWN_CAP - down_len;
}

/*
 * Reads the port until it would block or `down` is full, into the open record. Returns 1 to linger: the last read
 * filled a whole 4 KiB buffer (bulk is streaming in, QEMU feeds the port a buffer at a time) and the record is
 * still small, so waiting LINGER_MS for more spares the agent a wake-up per 4 KiB. Anything shorter goes at once.
 */
static int read_port(void) {
  if (open_at < 0) {
    if (down_room() < HEADER + 1) return 0;
    open_at = (long)down_len;
    down_len += HEADER;
  }
  ssize_t n = -1; /* a full `down` is neither end-of-file nor lingering */
  for (;;) {
    size_t room = DOWN_CAP - down_len;
    if (room == 0) {
      errno = 0;
      break;
    }
    n = read(port_in, down + down_len, room < read_max ? room : read_max);
    if (n > 0) {
      down_len += (size_t)n;
      host_away = 0;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) die("reading the port");
    break;
  }
  size_t got = down_len - (size_t)open_at - HEADER;
  if (n == 0 && !host_away) {
    /* The host closed its end: after its last bytes, tell the agent; drop what it still wanted to send. */
    seal();
    if (DOWN_CAP - down_len < HEADER) return 0; /* no room for the mark: the next read returns 0 again */
    put_header(down + down_len, 0);
    down_len += HEADER;
    sealed = down_len;
    host_away = 1;
    up_off = up_len = 0;
    return 0;
  }
  if (n < 0 && errno == EAGAIN && got > 0 && got < LINGER_BYTES && got % 4096 == 0 && DOWN_CAP - down_len >= 4096) return 1;
  seal();
  return 0;
}

static void write_agent(void) {
  while (down_off < sealed) {
    ssize_t n = write(1, down + down_off, sealed - down_off);
    if (n > 0) {
      down_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    die("writing to the agent");
  }
  if (open_at < 0) down_off = down_len = sealed = 0;
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
  /* A killed agent must not leave us holding the port (one open per port): its successor's relay needs it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0;
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
  int lingering = 0;
  for (;;) {
    int full = open_at < 0 && DOWN_CAP - down_len + down_off < HEADER + 4096;
    struct pollfd fds[4] = {
      {.fd = 0, .events = POLLIN},
      {.fd = 1, .events = down_off < sealed ? POLLOUT : 0},
      /* Not while the host is away (POLLHUP without end) or `down` is full (the agent reads first). */
      {.fd = host_away || full ? -1 : port_in, .events = POLLIN},
      {.fd = !host_away && up_off < up_len ? port_out : -1, .events = POLLOUT},
    };
    if (port_in == port_out && fds[2].fd >= 0 && fds[3].fd >= 0) fds[2].events |= POLLOUT, fds[3].fd = -1;
    if (up_len - up_off >= UP_CAP / 2) fds[0].events = 0; /* the port is slow: take no more, but see POLLHUP */
    int n = poll(fds, 4, lingering ? LINGER_MS : host_away ? RETRY_MS : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) write_agent();
    if (host_away || (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) lingering = read_port();
    else if (lingering) lingering = 0, seal(); /* nothing more came within LINGER_MS */
    if (down_off < sealed) write_agent();
    if (!fds[0].events && (fds[0].revents & (POLLHUP | POLLERR))) exit(0); /* the agent is gone */
    if (fds[0].events && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) read_agent();
    if (!host_away && up_off < up_len) write_port();
  }
}
