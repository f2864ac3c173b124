/*
 * lodge-port: the agent's data plane on the virtio-serial port. The agent (Node, the control plane) talks to the
 * port only through it, over its stdin/stdout (socketpairs); regular files' bytes of files.put / files.get go
 * between the port and the file here, in C, and never through the agent's JS (the guest's one TCG vCPU is the limit).
 *
 * Usage: lodge-port DEVICE        the port, opened read-write (virtio_console allows one open per port)
 *        lodge-port IN OUT        tests: read the FIFO IN, write the FIFO OUT (closing IN's writer is end-of-file)
 *
 * Agent → relay (stdin): whole protocol frames, back to back, as the agent writes them (docs/guest-protocol.md
 * "Frames"), and command frames: the same 12-byte header with kind 0xF0 (never a protocol kind), payload one ASCII
 * command. The relay parses each header: protocol frames go to the port unchanged (≤ 32 KiB per write(), the most
 * virtio_console takes), and its own Data frames go between two of the agent's frames, never inside one.
 * Commands (stream = the protocol stream id, fd = a file descriptor of the agent, reopened via /proc/<agent>/fd):
 *   SINK stream channel fd bytes      the next `bytes` of payload of Data frames on stream+channel from the port go to
 *                                     the file (opened write-only at offset 0); answered ARMED stream (or SINK-DONE).
 *                                     The relay returns the host's credit for them itself: a Window per MiB written
 *   UNSINK stream                     drop the sink (after the frame it is in): answered SINK-DONE stream ECANCELED
 *   SOURCE stream channel fd offset bytes maxPayload   send `bytes` of the file from `offset` as Data frames, payload
 *                                     ≤ maxPayload each, within the credit GO lends and the host's Windows for
 *                                     stream+channel, which the relay takes itself while the source lasts;
 *                                     answered DONE at the end
 *   GO stream bytes                   credit for the source (the agent lends its own send credit; ignored when none)
 *   STOP stream                       end the source now: answered DONE stream sent ECANCELED (nothing if it ended)
 *   FASTEXEC maxPayload user home shell PATH   run plain execs here until the next session (port-exec.c), with
 *                                     these defaults; answered FAST 1 (FAST 0: not taken)
 *   ENDEXEC                           the agent's session ended (it saw a restart or a framing error we did not):
 *                                     kill our execs and run none until the next FASTEXEC; answered FAST 0
 * Relay → agent (stdout): records, a 4-byte little-endian word then bytes. Word n < 2^31: n bytes from the port
 * (every frame not sunk, unchanged; a record may cut frames anywhere); n = 0: the port's end-of-file (the host
 * closed agent.sock), in order with the data; the next data means the host is back and the agent says Hello again.
 * Word 2^31 + n: an event, n bytes of ASCII, in order with the data around it:
 *   ARMED stream | SUNK stream bytes returned (consumed since the last SUNK, and the credit the relay returned for
 *   them: at the sink's end and before any frame passed on, so the agent accounts them before what follows; the
 *   agent returns bytes − returned) | SINK-DONE stream errno (0 = all bytes written) | DONE stream sent errno taken
 *   (0 = all bytes sent; taken = the Windows' credit the relay took: the agent takes back lent + taken − sent).
 * So during a copy the agent's JS does not wake at all (under TCG each wake-up costs the vCPU milliseconds).
 * Port framing: the relay reads the headers of what the host sends, with the agent's rules (frame-parser.ts): it
 * hunts for magic + Hello/HelloAck first, and again after a bad header (dropping one byte at a time like the agent's
 * parser, so both realign on the same Hello; the bytes all go to the agent, which hunts on its own) and after the
 * port's end-of-file. Hunting, a Hello, and end-of-file drop all sinks (SINK-DONE ECONNRESET); end-of-file also ends
 * sources (DONE ECONNRESET). A sink's last frame may hold more than the sink wants: the rest goes to the agent as a
 * Data frame of its own (it then sees more bytes than the entry announced and fails the copy).
 * While the host is away (after end-of-file, until data comes again) the relay drops what the agent writes: the
 * agent never blocks on the port, and a new host hunts for the next Hello anyway.
 * The port is O_NONBLOCK: poll() drives every side. After end-of-file the port reports POLLHUP without pause, so it
 * is read every RETRY_MS instead of polled. While bulk streams in to the agent (reads fill whole 4 KiB buffers) the
 * relay lingers up to LINGER_MS so the agent handles one 64 KiB record rather than sixteen of 4 KiB.
 * Exits 0 when the agent closes stdin, 1 on an error (message on stderr): the agent restarts it or falls back to
 * reading the port itself (and files through JS). Dies with the agent (PR_SET_PDEATHSIG, SIGHUP): a new agent's
 * relay finds the port free. Whatever ends it (the agent gone, an error, SIGHUP, SIGTERM, SIGINT), its execs are
 * killed with it, each with its process group: nobody would own them.
 * LODGE_PORT_READ_MAX caps each read (host tests imitate virtio_console's 4 KiB per read()).
 * LODGE_PORT_QUIET_MS=n: how long a new exec's outputs go unwatched and its frames may wait (tests; see hold_port).
 * LODGE_PORT_PAD=n: n zero bytes go to the port before anything else. The agent sets it when it restarts a relay
 * that died: the dead one may have cut a frame (up to 12 + 256 KiB) short, and the host's parser would take the
 * next Hellos as that frame's payload for minutes; the zeros complete it, then fail as a header (bad magic), and
 * the host hunts to the Hello that follows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include "lodge-port.h"

#define DOWN_CAP (1024 * 1024) /* port → agent, records included */
#define IN_CAP (256 * 1024)    /* one batch of port reads */
#define EVENT_ROOM 4096        /* kept free in `down` for events */
#define AIN_CAP (64 * 1024)    /* one read from the agent */
#define PORT_WRITE_MAX (32 * 1024)
#define HEADER 4
#define EVENT_BIT 0x80000000u
#define RETRY_MS 50
#define LINGER_MS 1
#define LINGER_BYTES (64 * 1024)
#define RETURN_EVERY (1024 * 1024) /* a sink's Window per MiB written: the agent's JS wakes only at the end */
#define HOLD_MAX_MS 10 /* the longest any byte waits in `up` for a new exec's end (hold_port) */

#define MAGIC_0 0x4c
#define MAGIC_1 0x47
#define KIND_LAST 11
#define KIND_COMMAND 0xf0
#define MAX_HELLO_PAYLOAD 4096
#define SLOTS 16
#define COMMAND_MAX 2047

static unsigned char down[DOWN_CAP], in[IN_CAP], ain[AIN_CAP];
unsigned char up[UP_CAP];
/* down: [down_off, sealed) is ready for the agent; a record still filling starts at `open_at` (-1: none). */
static size_t down_off, down_len, sealed;
size_t up_off, up_len;
static long open_at = -1;
static int port_in, port_out;
static int host_away; /* end-of-file sent, no data since */
static size_t read_max = 64 * 1024;
static pid_t agent;
static double held_since; /* when what waits in `up` began to wait (hold_port); 0: nothing waits */

/* A sink returns credit itself: `unreturned` bytes were written and not yet given back in a Window of ours, `returned`
 * were given back since the last SUNK (which hands the agent the rest: it returns what we did not). */
struct sink { int used, fd, err, cancel; uint32_t stream; int channel; uint64_t left, unreported, unreturned, returned; };
/* A source takes the host's Windows for its stream+channel itself (`taken`) besides the credit the agent lends (GO). */
struct source { int used, fd, channel; uint32_t stream, max; uint64_t offset, left, sent, credit, taken; };
static struct sink sinks[SLOTS];
static struct source sources[SLOTS];

/* The port's framing: hunting or in sync; a header being collected; the payload left of the current frame. */
static int hunting = 1;
static unsigned char head[FRAME_HEADER];
static size_t head_len, body_left;
static struct sink *sinking; /* the current frame's payload goes to this sink */

/* The agent's framing: a header being collected, the payload left, whether it is a command. */
static unsigned char ahead[FRAME_HEADER];
static size_t ahead_len, abody_left, command_len;
static int in_command;
static char command[COMMAND_MAX + 1];

int tracing;
double port_read_at;

double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000 + (double)t.tv_nsec / 1e6;
}

void poll_until(int *timeout, double until, double now) {
  int left = until <= now ? 0 : (int)(until - now) + 1;
  if (*timeout < 0 || left < *timeout) *timeout = left;
}

/* Our execs end with us, killed (as on a Reset): their streams are over, and nobody would own them. */
void die(const char *what) {
  fprintf(stderr, "lodge-port: %s: %s\n", what, strerror(errno));
  exec_drop_all();
  exit(1);
}

static pid_t relay_pid;

/* SIGHUP (the agent died: PR_SET_PDEATHSIG), SIGTERM, SIGINT: our execs are killed, then the signal ends us as it
 * would have (the agent tells a kill from outside by it). A vfork child not yet exec'd only ends itself. */
static void on_ending_signal(int sig) {
  if (getpid() != relay_pid) _exit(127);
  exec_kill_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* The agent is gone or closed us (end-of-file, or a write it can no longer take). */
static void agent_gone(void) {
  exec_drop_all();
  exit(0);
}

static void put_le(unsigned char *at, uint32_t n) {
  at[0] = n & 0xff, at[1] = (n >> 8) & 0xff, at[2] = (n >> 16) & 0xff, at[3] = n >> 24;
}
uint32_t get_be(const unsigned char *at) {
  return (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
}
static void put_be(unsigned char *at, uint32_t n) {
  at[0] = n >> 24, at[1] = (n >> 16) & 0xff, at[2] = (n >> 8) & 0xff, at[3] = n & 0xff;
}
void put_frame_header(unsigned char *at, int kind, int flags, uint32_t stream, uint32_t length) {
  at[0] = MAGIC_0, at[1] = MAGIC_1, at[2] = (unsigned char)kind, at[3] = (unsigned char)flags;
  put_be(at + 4, stream);
  put_be(at + 8, length);
}

/* ---- → port: `up` ---- */

/* Room for `n` more bytes at the end of `up` (moving what is unsent to the front); 0 when there is none. */
int up_room(size_t n) {
  if (UP_CAP - up_len >= n) return 1;
  memmove(up, up + up_off, up_len - up_off);
  up_len -= up_off, up_off = 0;
  return UP_CAP - up_len >= n;
}

/* A whole frame of ours into `up` (the caller checks that the agent is between two frames); 0 when there is no room. */
int up_frame(int kind, int flags, uint32_t stream, const void *payload, size_t n) {
  if (!up_room(FRAME_HEADER + n)) return 0;
  put_frame_header(up + up_len, kind, flags, stream, (uint32_t)n);
  if (n) memcpy(up + up_len + FRAME_HEADER, payload, n);
  up_len += FRAME_HEADER + n;
  return 1;
}

int up_window(uint32_t stream, int channel, uint32_t credit) {
  unsigned char be[4];
  put_be(be, credit);
  return up_frame(KIND_WINDOW, channel, stream, be, 4);
}

/* ---- port → agent: records ---- */

/* Ends the open record: the agent may have it now (an empty one is taken back). */
static void seal(void) {
  if (open_at < 0) return;
  size_t got = down_len - (size_t)open_at - HEADER;
  if (got == 0) down_len = (size_t)open_at;
  else put_le(down + open_at, (uint32_t)got);
  open_at = -1;
  sealed = down_len;
}

/* Moves the unsent bytes to the front of `down`. */
static void down_compact(void) {
  if (down_off == 0) return;
  memmove(down, down + down_off, down_len - down_off);
  down_len -= down_off, sealed -= down_off;
  if (open_at >= 0) open_at -= (long)down_off;
  down_off = 0;
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
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) agent_gone();
    die("writing to the agent");
  }
  if (open_at < 0) down_off = down_len = sealed = 0;
}

/* Port bytes for the agent, into the open record (the caller made room: reads leave IN_CAP + EVENT_ROOM free). */
static void forward(const unsigned char *bytes, size_t n) {
  if (n == 0) return;
  if (open_at < 0) {
    open_at = (long)down_len;
    down_len += HEADER;
  }
  memcpy(down + down_len, bytes, n);
  down_len += n;
}

/* Room for `n` bytes at the end of `down`, sealed first; when it is full (the agent is not reading) waits for it. */
static void reserve(size_t n) {
  seal();
  while (DOWN_CAP - down_len < n) {
    down_compact();
    if (DOWN_CAP - down_len >= n) break;
    struct pollfd out = {.fd = 1, .events = POLLOUT};
    if (poll(&out, 1, -1) < 0 && errno != EINTR) die("poll");
    write_agent();
  }
}

/* An event record (see the header). */
void event(const char *format, ...) {
  char text[128];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(text, sizeof text, format, args);
  va_end(args);
  reserve(HEADER + (size_t)n);
  put_le(down + down_len, EVENT_BIT | (uint32_t)n);
  memcpy(down + down_len + HEADER, text, (size_t)n);
  down_len += HEADER + (size_t)n;
  sealed = down_len;
}

/* ---- sinks: host → file ---- */

static void sink_report(struct sink *s) {
  if (s->unreported == 0) return;
  event("SUNK %u %llu %llu", s->stream, (unsigned long long)s->unreported, (unsigned long long)s->returned);
  s->unreported = s->returned = s->unreturned = 0; /* the agent returns what we did not */
}

static void sink_end(struct sink *s, int err) {
  sink_report(s);
  event("SINK-DONE %u %d", s->stream, err);
  close(s->fd);
  s->used = 0;
  if (sinking == s) sinking = NULL;
}

/* Every sink goes (hunting, a new Hello, end-of-file); the frame being sunk is abandoned with them. */
static void drop_sinks(void) {
  for (int i = 0; i < SLOTS; i++)
    if (sinks[i].used) sink_end(&sinks[i], ECONNRESET);
  sinking = NULL;
}

/* Reports what sinks consumed before a frame that goes to the agent: it accounts them in order. */
static void report_sinks(void) {
  for (int i = 0; i < SLOTS; i++)
    if (sinks[i].used) sink_report(&sinks[i]);
}

static struct sink *find_sink(uint32_t stream, int channel) {
  for (int i = 0; i < SLOTS; i++)
    if (sinks[i].used && sinks[i].stream == stream && (channel < 0 || sinks[i].channel == channel)) return &sinks[i];
  return NULL;
}

/* Payload of the frame being sunk: into the file up to what the sink wants; returns the bytes taken. */
static size_t sink_take(const unsigned char *bytes, size_t n) {
  struct sink *s = sinking;
  size_t take = n < body_left ? n : body_left;
  if (take > s->left) take = (size_t)s->left;
  for (size_t done = 0; done < take && !s->err && !s->cancel;) {
    ssize_t w = write(s->fd, bytes + done, take - done);
    if (w > 0) done += (size_t)w;
    else if (w < 0 && errno != EINTR) s->err = errno;
    else if (w == 0) s->err = EIO;
  }
  s->left -= take, s->unreported += take, s->unreturned += take, body_left -= take;
  if (s->left == 0) {
    uint32_t stream = s->stream;
    int channel = s->channel;
    sink_end(s, s->cancel ? ECANCELED : s->err);
    if (body_left > 0) {
      /* The frame holds more than the sink wanted: the rest reaches the agent as a frame of its own. */
      unsigned char h[FRAME_HEADER];
      put_frame_header(h, KIND_DATA, channel, stream, (uint32_t)body_left);
      report_sinks();
      forward(h, FRAME_HEADER);
    }
  } else if (body_left == 0 && (s->err || s->cancel)) {
    sink_end(s, s->cancel ? ECANCELED : s->err);
  }
  if (body_left == 0) sinking = NULL; /* the frame is over; the next one is looked at afresh */
  return take;
}

static struct source *find_source(uint32_t stream);

/* The current frame's payload is collected, not passed on (yet): a Window for a source, an Open that may run here, a
 * frame for one of our execs. Or it is input for an exec (feeding), or dropped (swallowing). */
enum { COLLECT_NONE, COLLECT_SOURCE_WINDOW, COLLECT_OPEN, COLLECT_EXEC };
static int collecting, swallowing;
static uint32_t feeding; /* the current frame is input for this exec's stdin (its stream; 0: none) */
static unsigned char collected[JSON_MAX];
static size_t collected_len;
static unsigned char collected_head[FRAME_HEADER];

/* A new session (a Hello of another session, hunting, the port's end-of-file): the agent fails its streams, the
 * relay kills its execs and runs none until the agent's next FASTEXEC. */
static char last_session[17];

/* A Hello's payload as it goes by to the agent: a resend of the session in use (one that crossed the answer) changes
 * nothing, for the agent neither; another session does. Our own daemon writes compact JSON. A HelloAck is no new
 * session: it carries the agent's own id back (when the host answers the agent's Hello), and the agent, ready
 * already, keeps its session; taking it for one turned the fast path off after a daemon restart until the next. */
static int sniffing;
static char sniffed[MAX_HELLO_PAYLOAD + 1];
static size_t sniffed_len;

static void hello_done(void) {
  sniffing = 0;
  sniffed[sniffed_len] = 0;
  const char *at = strstr(sniffed, "\"session\":\"");
  char session[17] = "";
  if (at) {
    at += 11;
    size_t n = strcspn(at, "\"");
    if (n <= 16 && at[n] == '"') memcpy(session, at, n), session[n] = 0;
  }
  if (session[0] && strcmp(session, last_session) == 0) return;
  if (tracing) fprintf(stderr, "lodge-port: trace host Hello of session %s (was %s)\n", session[0] ? session : "?", last_session[0] ? last_session : "none");
  strcpy(last_session, session);
  exec_drop_all();
}

/* ---- the port's framing ---- */

/* The header in `head` is no frame start: its first byte goes on, the search goes on from the next magic byte. */
static void reject_head(void) {
  unsigned char *next = memchr(head + 1, MAGIC_0, FRAME_HEADER - 1);
  size_t keep = next ? FRAME_HEADER - (size_t)(next - head) : 0;
  forward(head, FRAME_HEADER - keep);
  if (keep) memmove(head, next, keep);
  head_len = keep;
}

static void start_hunting(void) {
  if (tracing) fprintf(stderr, "lodge-port: trace framing lost: hunting\n");
  hunting = 1;
  drop_sinks();
  exec_drop_all();
  last_session[0] = 0;
}

/* A collected payload is complete: a source takes its Window's credit, an Open runs here, a frame of one of our execs
 * acts; a source that ended meanwhile, or an Open we do not run, goes on to the agent after all. */
static void collect_done(void) {
  int kind = collected_head[2], flags = collected_head[3], what = collecting;
  uint32_t stream = get_be(collected_head + 4);
  collecting = COLLECT_NONE;
  if (what == COLLECT_EXEC) return exec_frame(stream, kind, flags, collected, collected_len);
  if (what == COLLECT_SOURCE_WINDOW) {
    struct source *src = find_source(stream);
    if (src && src->channel == flags) {
      uint32_t credit = get_be(collected);
      src->credit += credit, src->taken += credit;
      return;
    }
  } else if (exec_open(stream, collected, collected_len)) return;
  report_sinks();
  forward(collected_head, FRAME_HEADER);
  forward(collected, collected_len);
}

/* The current frame's payload is collected for `what`. */
static void collect(int what, uint32_t length) {
  memcpy(collected_head, head, FRAME_HEADER);
  collected_len = 0, collecting = what;
  if (length == 0) collect_done();
}

static void header_done(void) {
  int magic = head[0] == MAGIC_0 && head[1] == MAGIC_1;
  int kind = head[2], flags = head[3];
  uint32_t stream = get_be(head + 4), length = get_be(head + 8);
  if (hunting) {
    int hello = kind == KIND_HELLO || kind == KIND_HELLO_ACK;
    if (!magic || !hello || flags != 0 || stream != 0 || length < 2 || length > MAX_HELLO_PAYLOAD) return reject_head();
    hunting = 0;
  } else if (!magic || kind < KIND_HELLO || kind > KIND_LAST || length > MAX_PAYLOAD) {
    start_hunting();
    return reject_head();
  }
  head_len = 0;
  body_left = length;
  if (kind == KIND_HELLO) {
    drop_sinks(); /* a new session (or the same one's: no sink is armed before its Open) */
    sniffing = 1, sniffed_len = 0;
    if (length == 0) hello_done();
  }
  struct sink *s = kind == KIND_DATA && length > 0 ? find_sink(stream, flags) : NULL;
  if (s) {
    sinking = s;
    return;
  }
  struct source *src = kind == KIND_WINDOW && length == 4 ? find_source(stream) : NULL;
  if (src && src->channel == flags) return collect(COLLECT_SOURCE_WINDOW, length);
  /* An Open on a stream we run reuses its id: the agent answers that (a protocol error), never a second program. */
  int job = stream != 0 && kind != KIND_OPEN && exec_owns(stream);
  int fast_open = kind == KIND_OPEN && exec_may_open(stream, length);
  if (job || fast_open) {
    /* Input goes to the program's stdin; JSON frames and Windows are collected; other Data is dropped. */
    if (job && kind == KIND_DATA && flags == 0) {
      feeding = length > 0 ? stream : 0;
      return;
    }
    if (job && (kind == KIND_DATA || length > JSON_MAX)) {
      swallowing = length > 0;
      return;
    }
    return collect(job ? COLLECT_EXEC : COLLECT_OPEN, length);
  }
  report_sinks();
  forward(head, FRAME_HEADER);
}

/* What the port gave: frames on an armed sink go to files, everything else to the agent. */
static void parse_port(const unsigned char *bytes, size_t n) {
  while (n > 0) {
    if (body_left > 0) {
      size_t take = n < body_left ? n : body_left;
      if (sinking) take = sink_take(bytes, take);
      else if (collecting) {
        memcpy(collected + collected_len, bytes, take);
        collected_len += take, body_left -= take;
        if (body_left == 0) collect_done();
      } else if (feeding) {
        uint32_t stream = feeding;
        body_left -= take;
        if (body_left == 0) feeding = 0;
        exec_input(stream, bytes, take);
      } else if (swallowing) {
        body_left -= take;
        if (body_left == 0) swallowing = 0;
      } else {
        if (sniffing) {
          size_t keep = take < MAX_HELLO_PAYLOAD - sniffed_len ? take : MAX_HELLO_PAYLOAD - sniffed_len;
          memcpy(sniffed + sniffed_len, bytes, keep);
          sniffed_len += keep;
        }
        forward(bytes, take), body_left -= take;
        if (sniffing && body_left == 0) hello_done();
      }
      bytes += take, n -= take;
      continue;
    }
    if (hunting && head_len == 0) {
      const unsigned char *magic = memchr(bytes, MAGIC_0, n);
      size_t skip = magic ? (size_t)(magic - bytes) : n;
      forward(bytes, skip);
      bytes += skip, n -= skip;
      if (n == 0) break;
    }
    size_t take = FRAME_HEADER - head_len < n ? FRAME_HEADER - head_len : n;
    memcpy(head + head_len, bytes, take);
    head_len += take, bytes += take, n -= take;
    if (head_len == FRAME_HEADER) header_done();
  }
}

/* ---- sources: file → host ---- */

static void source_end(struct source *s, int err) {
  event("DONE %u %llu %d %llu", s->stream, (unsigned long long)s->sent, err, (unsigned long long)s->taken);
  close(s->fd);
  s->used = 0;
}

static struct source *find_source(uint32_t stream) {
  for (int i = 0; i < SLOTS; i++)
    if (sources[i].used && sources[i].stream == stream) return &sources[i];
  return NULL;
}

/* The sinks' Windows into `up` (as the agent's credit would return them), while the agent is between two frames. */
static int pump_windows(void) {
  int made = 0;
  for (int i = 0; i < SLOTS; i++) {
    struct sink *s = &sinks[i];
    if (!s->used || s->unreturned < RETURN_EVERY) continue;
    uint32_t credit = s->unreturned > UINT32_MAX ? UINT32_MAX : (uint32_t)s->unreturned;
    if (!up_window(s->stream, s->channel, credit)) break; /* the port is full: the next round */
    s->unreturned -= credit, s->returned += credit;
    made = 1;
  }
  return made;
}

/* The relay may add frames of its own to `up`: the host is there and the agent is between two of its frames. */
static int may_add_frames(void) {
  return !host_away && ahead_len == 0 && abody_left == 0;
}

/* A source has credit and bytes to send, and `up` room for them (below PUMP_HIGH). */
static int source_sendable(const struct source *s) {
  return s->used && s->credit > 0 && s->left > 0 && up_len - up_off < PUMP_HIGH;
}

/* Frames of the sources into `up`, within their credit, while the agent is between two frames. */
static int pump_sources(void) {
  if (!may_add_frames()) return 0;
  int made = pump_windows() | exec_pump();
  for (int i = 0; i < SLOTS; i++) {
    struct source *s = &sources[i];
    while (source_sendable(s)) {
      up_room(FRAME_HEADER + 4096); /* below PUMP_HIGH there always is */
      uint64_t n = UP_CAP - up_len - FRAME_HEADER;
      if (n > s->max) n = s->max;
      if (n > s->credit) n = s->credit;
      if (n > s->left) n = s->left;
      ssize_t got = pread(s->fd, up + up_len + FRAME_HEADER, (size_t)n, (off_t)s->offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        source_end(s, got == 0 ? ENODATA : errno); /* ENODATA: the file is shorter than announced */
        break;
      }
      put_frame_header(up + up_len, KIND_DATA, s->channel, s->stream, (uint32_t)got);
      up_len += FRAME_HEADER + (size_t)got;
      s->offset += (uint64_t)got, s->left -= (uint64_t)got, s->credit -= (uint64_t)got, s->sent += (uint64_t)got;
      made = 1;
    }
    if (s->used && s->left == 0) source_end(s, 0);
  }
  return made;
}

/* Whether a source could send now: files are always readable, so nothing in poll() would wake us for it. */
static int sources_due(void) {
  if (!may_add_frames()) return 0;
  for (int i = 0; i < SLOTS; i++)
    if (source_sendable(&sources[i])) return 1;
  return 0;
}

/* ---- the agent's commands ---- */

static int open_agent_fd(int fd, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)agent, fd);
  return open(path, flags | O_CLOEXEC);
}

static void run_command(void) {
  unsigned stream, max;
  int channel, fd;
  unsigned long long bytes, offset;
  command[command_len] = 0;
  if (sscanf(command, "SINK %u %d %d %llu", &stream, &channel, &fd, &bytes) == 4) {
    struct sink *s = NULL;
    for (int i = 0; i < SLOTS && !s; i++)
      if (!sinks[i].used) s = &sinks[i];
    int file = s && !find_sink(stream, -1) ? open_agent_fd(fd, O_WRONLY) : -1;
    if (file < 0) return (void)event("SINK-DONE %u %d", stream, s ? errno : EMFILE);
    *s = (struct sink){.used = 1, .fd = file, .stream = stream, .channel = channel, .left = bytes};
    event("ARMED %u", stream);
    if (bytes == 0) sink_end(s, 0);
  } else if (sscanf(command, "UNSINK %u", &stream) == 1) {
    struct sink *s = find_sink(stream, -1);
    if (!s) return (void)event("SINK-DONE %u %d", stream, ECANCELED);
    s->cancel = 1;
    if (sinking != s) sink_end(s, ECANCELED); /* else at the end of the frame it is in */
  } else if (sscanf(command, "SOURCE %u %d %d %llu %llu %u", &stream, &channel, &fd, &offset, &bytes, &max) == 6) {
    struct source *s = NULL;
    for (int i = 0; i < SLOTS && !s; i++)
      if (!sources[i].used) s = &sources[i];
    int file = s && !find_source(stream) ? open_agent_fd(fd, O_RDONLY) : -1;
    if (file < 0) return (void)event("DONE %u 0 %d 0", stream, s ? errno : EMFILE);
    if (max == 0 || max > MAX_PAYLOAD) max = MAX_PAYLOAD;
    *s = (struct source){.used = 1, .fd = file, .channel = channel, .stream = stream, .max = max, .offset = offset, .left = bytes};
    if (host_away) source_end(s, ECONNRESET);
  } else if (sscanf(command, "GO %u %llu", &stream, &bytes) == 2) {
    struct source *s = find_source(stream);
    if (s) s->credit += bytes;
  } else if (strncmp(command, "FASTEXEC ", 9) == 0) {
    exec_enable(command);
  } else if (strcmp(command, "ENDEXEC") == 0) {
    if (tracing) fprintf(stderr, "lodge-port: trace ENDEXEC from the agent\n");
    exec_drop_all();
    event("FAST 0");
  } else if (sscanf(command, "STOP %u", &stream) == 1) {
    struct source *s = find_source(stream);
    if (s) source_end(s, ECANCELED);
  } else {
    fprintf(stderr, "lodge-port: unknown command \"%s\"\n", command);
  }
}

/* ---- agent → port ---- */

static void to_port(const unsigned char *bytes, size_t n) {
  if (host_away || n == 0) return; /* nobody to send it to; the agent says Hello when the host is back */
  memcpy(up + up_len, bytes, n);
  up_len += n;
}

static void parse_agent(const unsigned char *bytes, size_t n) {
  while (n > 0) {
    if (abody_left > 0) {
      size_t take = n < abody_left ? n : abody_left;
      if (!in_command) to_port(bytes, take);
      else {
        size_t keep = take < COMMAND_MAX - command_len ? take : COMMAND_MAX - command_len;
        memcpy(command + command_len, bytes, keep);
        command_len += keep;
      }
      abody_left -= take, bytes += take, n -= take;
      if (abody_left == 0 && in_command) in_command = 0, run_command();
      continue;
    }
    size_t take = FRAME_HEADER - ahead_len < n ? FRAME_HEADER - ahead_len : n;
    memcpy(ahead + ahead_len, bytes, take);
    ahead_len += take, bytes += take, n -= take;
    if (ahead_len < FRAME_HEADER) break;
    ahead_len = 0;
    abody_left = get_be(ahead + 8);
    in_command = ahead[2] == KIND_COMMAND;
    command_len = 0;
    if (!in_command) to_port(ahead, FRAME_HEADER);
    else if (abody_left == 0) in_command = 0, run_command();
  }
}

static void read_agent(void) {
  if (up_off == up_len) up_off = up_len = 0;
  up_room(AIN_CAP); /* poll asks for agent input only when it fits */
  ssize_t n = read(0, ain, AIN_CAP);
  if (n == 0 || (n < 0 && errno == ECONNRESET)) agent_gone();
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    die("reading from the agent");
  }
  parse_agent(ain, (size_t)n);
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

/*
 * Whether `up` waits instead of going to the port now: while a new exec is quiet (port-exec.c's exec_poll), so that
 * its started frame leaves with its end in one write and the program runs at once rather than after our write (the
 * guest has one TCG vCPU). Bulk never waits, nor any byte longer than HOLD_MAX_MS. Lowers *timeout to the wait's end.
 */
static int hold_port(int *timeout) {
  if (up_off == up_len || up_len - up_off >= PUMP_HIGH) return held_since = 0, 0;
  double until = exec_quiet_until(), now = now_ms();
  if (until == 0) return held_since = 0, 0;
  if (held_since == 0) held_since = now;
  if (until > held_since + HOLD_MAX_MS) until = held_since + HOLD_MAX_MS;
  if (until <= now) return 0;
  if (timeout) poll_until(timeout, until, now);
  return 1;
}

/* ---- port reads ---- */

/* The host closed its end: after its last bytes, tell the agent; drop sinks, sources and what was not written. */
static void port_eof(void) {
  if (tracing) fprintf(stderr, "lodge-port: trace end of file on the port\n");
  drop_sinks();
  for (int i = 0; i < SLOTS; i++)
    if (sources[i].used) source_end(&sources[i], ECONNRESET);
  hunting = 1, head_len = 0, body_left = 0, collecting = COLLECT_NONE, swallowing = 0, feeding = 0, sniffing = 0;
  exec_drop_all();
  last_session[0] = 0;
  reserve(HEADER);
  put_le(down + down_len, 0);
  down_len += HEADER, sealed = down_len;
  host_away = 1;
  up_off = up_len = 0;
}

/*
 * Reads the port until it would block or a batch is full, then parses the batch. Returns 1 to linger: the last read
 * filled a whole 4 KiB buffer (bulk is streaming in, QEMU feeds the port a buffer at a time) and the record for
 * the agent is still small, so waiting LINGER_MS for more spares the agent a wake-up per 4 KiB.
 */
static int read_port(void) {
  if (DOWN_CAP - down_len < IN_CAP + EVENT_ROOM) down_compact();
  if (DOWN_CAP - down_len < IN_CAP + EVENT_ROOM) return 0; /* the agent reads first */
  size_t got = 0;
  ssize_t n = -1;
  while (got < IN_CAP) {
    size_t room = IN_CAP - got;
    n = read(port_in, in + got, room < read_max ? room : read_max);
    if (n > 0) {
      if (got == 0 && tracing) port_read_at = now_ms();
      got += (size_t)n;
      host_away = 0;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) die("reading the port");
    break;
  }
  parse_port(in, got);
  if (n == 0 && !host_away) {
    port_eof();
    return 0;
  }
  long record = open_at < 0 ? 0 : (long)(down_len - (size_t)open_at - HEADER);
  if (n < 0 && got > 0 && got % 4096 == 0 && record > 0 && record < LINGER_BYTES) return 1;
  seal();
  return 0;
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
  const char *quiet = getenv("LODGE_PORT_QUIET_MS");
  if (quiet && atoi(quiet) >= 0) exec_quiet_ms = atoi(quiet);
  signal(SIGPIPE, SIG_IGN);
  relay_pid = getpid();
  struct sigaction ending = {.sa_handler = on_ending_signal};
  sigemptyset(&ending.sa_mask);
  for (int i = 0; i < 3; i++) sigaction((int[]){SIGHUP, SIGTERM, SIGINT}[i], &ending, NULL);
  /* A killed agent must not leave us holding the port (one open per port): its successor's relay needs it. */
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  agent = getppid();
  if (agent == 1) return 0;
  if (argc == 2) {
    port_in = port_out = open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (port_in < 0) die(argv[1]);
  } else {
    port_in = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (port_in < 0) die(argv[1]);
    port_out = open(argv[2], O_RDWR | O_NONBLOCK | O_CLOEXEC); /* O_RDWR: no wait for a reader */
    if (port_out < 0) die(argv[2]);
  }
  const char *trace = getenv("LODGE_AGENT_TRACE");
  tracing = (trace && strcmp(trace, "1") == 0) || access("/run/lodge/trace", F_OK) == 0;
  const char *pad = getenv("LODGE_PORT_PAD");
  if (pad && atol(pad) > 0) {
    up_len = (size_t)atol(pad) < UP_CAP - AIN_CAP ? (size_t)atol(pad) : UP_CAP - AIN_CAP;
    memset(up, 0, up_len);
  }
  nonblocking(0);
  nonblocking(1);
  int lingering = 0;
  for (;;) {
    int room_down = DOWN_CAP - down_len + down_off >= IN_CAP + EVENT_ROOM;
    int timeout = lingering ? LINGER_MS : host_away ? RETRY_MS : -1;
    int hold = hold_port(&timeout);
    struct pollfd fds[4 + EXEC_POLL_MAX] = {
      /* Agent input only while `up` can take a whole read (the port is slow: take no more, but see POLLHUP). */
      {.fd = 0, .events = UP_CAP - (up_len - up_off) >= AIN_CAP && DOWN_CAP - down_len + down_off >= 2 * EVENT_ROOM ? POLLIN : 0},
      {.fd = 1, .events = down_off < sealed ? POLLOUT : 0},
      /* Not while the host is away (POLLHUP without end) or `down` is full (the agent reads first). */
      {.fd = host_away || !room_down ? -1 : port_in, .events = POLLIN},
      {.fd = !host_away && up_off < up_len && !hold ? port_out : -1, .events = POLLOUT},
    };
    if (port_in == port_out && fds[2].fd >= 0 && fds[3].fd >= 0) fds[2].events |= POLLOUT, fds[3].fd = -1;
    /* Our execs: their exit (pidfd), and their outputs while there is credit and room to send them. */
    int sending = may_add_frames() && up_len - up_off < PUMP_HIGH;
    int nfds = 4 + exec_poll(fds + 4, sending, &timeout);
    if (sources_due()) timeout = 0; /* the rounds below stopped at their limit with a source still sending */
    int n = poll(fds, (nfds_t)nfds, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) write_agent();
    if ((host_away && room_down) || (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) lingering = read_port();
    else if (lingering) lingering = 0, seal(); /* nothing more came within LINGER_MS */
    if (!fds[0].events && (fds[0].revents & (POLLHUP | POLLERR))) agent_gone();
    if (fds[0].events && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) read_agent();
    exec_watch();
    for (int round = 0; round < 16 && !host_away; round++) {
      int made = pump_sources();
      size_t before = up_off;
      if (up_off < up_len && !hold_port(NULL)) write_port();
      if (!made && up_off == before) break;
      if (up_off == before && up_off < up_len) break; /* the port is full: POLLOUT wakes us */
    }
    if (down_off < sealed) write_agent();
  }
}
