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
 *   FASTEXEC maxPayload user home shell PATH   run plain execs here until the next session (see "exec without the
 *                                     agent's JS"), with these defaults; answered FAST 1 (FAST 0: not taken)
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
 * reading the port itself (and files through JS). Dies with the agent (PR_SET_PDEATHSIG): a new agent's relay finds
 * the port free. LODGE_PORT_READ_MAX caps each read (host tests imitate virtio_console's 4 KiB per read()).
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
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DOWN_CAP (1024 * 1024) /* port → agent, records included */
#define IN_CAP (256 * 1024)    /* one batch of port reads */
#define EVENT_ROOM 4096        /* kept free in `down` for events */
#define UP_CAP (512 * 1024)    /* → port */
#define AIN_CAP (64 * 1024)    /* one read from the agent */
#define PUMP_HIGH (128 * 1024) /* sources fill `up` to here: the agent's own frames wait at most this much */
#define PORT_WRITE_MAX (32 * 1024)
#define HEADER 4
#define EVENT_BIT 0x80000000u
#define RETRY_MS 50
#define LINGER_MS 1
#define LINGER_BYTES (64 * 1024)
#define RETURN_EVERY (1024 * 1024) /* a sink's Window per MiB written: the agent's JS wakes only at the end */

#define FRAME_HEADER 12
#define MAGIC_0 0x4c
#define MAGIC_1 0x47
#define KIND_HELLO 1
#define KIND_HELLO_ACK 2
#define KIND_OPEN 3
#define KIND_CONTROL 4
#define KIND_DATA 5
#define KIND_WINDOW 6
#define KIND_CLOSE 7
#define KIND_FINISH 8
#define KIND_RESET 9
#define KIND_LAST 11
#define KIND_COMMAND 0xf0
#define MAX_PAYLOAD (256 * 1024)
#define MAX_HELLO_PAYLOAD 4096
#define SLOTS 16
#define COMMAND_MAX 2047

static unsigned char down[DOWN_CAP], in[IN_CAP], up[UP_CAP], ain[AIN_CAP];
/* down: [down_off, sealed) is ready for the agent; a record still filling starts at `open_at` (-1: none). */
static size_t down_off, down_len, sealed, up_off, up_len;
static long open_at = -1;
static int port_in, port_out;
static int host_away; /* end-of-file sent, no data since */
static size_t read_max = 64 * 1024;
static pid_t agent;

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
/* The current frame is a Window for a source: its 4 bytes are collected here, not passed on. */
static int windowing;
static unsigned char window[4];
static size_t window_len;
static uint32_t window_stream;
static int window_channel;

/* The agent's framing: a header being collected, the payload left, whether it is a command. */
static unsigned char ahead[FRAME_HEADER];
static size_t ahead_len, abody_left, command_len;
static int in_command;
static char command[COMMAND_MAX + 1];

static void die(const char *what) {
  fprintf(stderr, "lodge-port: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put_le(unsigned char *at, uint32_t n) {
  at[0] = n & 0xff, at[1] = (n >> 8) & 0xff, at[2] = (n >> 16) & 0xff, at[3] = n >> 24;
}
static uint32_t get_be(const unsigned char *at) {
  return (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
}
static void put_frame_header(unsigned char *at, int kind, int flags, uint32_t stream, uint32_t length) {
  at[0] = MAGIC_0, at[1] = MAGIC_1, at[2] = (unsigned char)kind, at[3] = (unsigned char)flags;
  at[4] = stream >> 24, at[5] = (stream >> 16) & 0xff, at[6] = (stream >> 8) & 0xff, at[7] = stream & 0xff;
  at[8] = length >> 24, at[9] = (length >> 16) & 0xff, at[10] = (length >> 8) & 0xff, at[11] = length & 0xff;
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
static void event(const char *format, ...) {
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

/* ---- exec without the agent's JS ---- */

/*
 * After the agent's FASTEXEC, an Open {op:"exec"} that needs nothing but argv, env, cwd, stdin and timeoutMs (no tty
 * or user) runs here: parsed, spawned (vfork + execvp, like lodge-spawn), its input written to its stdin as it comes
 * (credit back once written), its output sent as Data within the host's credit, then Close per output and Finish —
 * the frames the agent would send, without waking its JS (under TCG an exec's JS costs the vCPU ~20 ms). Anything
 * else, and any exec that cannot start, goes to the agent unchanged: it answers with its own checks and errors. The
 * frames of such an exec's stream (Window, Control signal, Reset, input) are handled here and never reach the agent.
 */
#define JOBS 16
#define JSON_MAX (64 * 1024) /* BASE_PAYLOAD: JSON frames stay under it */
#define INITIAL_WINDOW (1024 * 1024)
#define FAST_ARGS 4096
#define FAST_ENV 256

struct job {
  int used, cancelled, exited, timed_out, started_sent;
  uint32_t stream;
  pid_t pid;
  int pidfd, status;
  int out[2];        /* read ends of stdout, stderr; -1 once at end-of-file */
  int close_due[2];  /* end-of-file seen, Close not sent yet */
  uint64_t credit[2];
  uint64_t input;    /* Data the host sent on channel 0 written to stdin (or dropped): its credit goes back */
  int in_fd, in_end; /* stdin's write end (-1: none or closed); Close on channel 0 seen */
  unsigned char *in_buf;
  size_t in_off, in_len; /* what waits for the pipe: at most the host's credit */
  double deadline;   /* ms on CLOCK_MONOTONIC, 0 = none */
};
static struct job jobs[JOBS];

static int fast_on;
static uint32_t fast_max_payload, last_open;
static char fast_user[256], fast_home[512], fast_shell[512], fast_path[1024];

/* The current frame's payload is collected (an Open that may run here, a frame for one of our execs) or counted. */
static int collecting, swallowing;
static struct job *feeding; /* the current frame is input for this exec's stdin */
static unsigned char collected[JSON_MAX];
static size_t collected_len;
static unsigned char collected_head[FRAME_HEADER];

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000 + (double)t.tv_nsec / 1e6;
}

static struct job *find_job(uint32_t stream) {
  for (int i = 0; i < JOBS; i++)
    if (jobs[i].used && jobs[i].stream == stream) return &jobs[i];
  return NULL;
}

static void input_close(struct job *j) {
  if (j->in_fd >= 0) close(j->in_fd), j->in_fd = -1;
  j->input += j->in_len - j->in_off; /* dropped: its credit goes back all the same */
  j->in_off = j->in_len = 0;
  free(j->in_buf), j->in_buf = NULL;
}

static void job_free(struct job *j) {
  for (int ch = 0; ch < 2; ch++)
    if (j->out[ch] >= 0) close(j->out[ch]);
  if (j->pidfd >= 0) close(j->pidfd);
  input_close(j);
  if (feeding == j) feeding = NULL, swallowing = body_left > 0; /* the rest of the frame goes nowhere */
  j->used = 0;
}

/* Input waiting for the pipe: as much as it takes now; at the end (Close on channel 0) the pipe closes. */
static void input_write(struct job *j) {
  while (j->in_fd >= 0 && j->in_off < j->in_len) {
    ssize_t n = write(j->in_fd, j->in_buf + j->in_off, j->in_len - j->in_off);
    if (n > 0) j->in_off += (size_t)n, j->input += (uint64_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && errno == EAGAIN) return;
    else input_close(j); /* EPIPE: the program closed its stdin; what it did not read is dropped */
  }
  j->in_off = j->in_len = 0;
  if (j->in_end && j->in_fd >= 0) input_close(j);
}

/* Payload of a Data frame on channel 0 for an exec: to its stdin, or (none) dropped with its credit returned. */
static void input_take(struct job *j, const unsigned char *bytes, size_t n) {
  if (j->in_fd < 0 || j->cancelled) {
    j->input += n;
    return;
  }
  if (!j->in_buf && !(j->in_buf = malloc(INITIAL_WINDOW + MAX_PAYLOAD))) die("malloc");
  if (j->in_off > 0 && j->in_len + n > INITIAL_WINDOW + MAX_PAYLOAD) {
    memmove(j->in_buf, j->in_buf + j->in_off, j->in_len - j->in_off);
    j->in_len -= j->in_off, j->in_off = 0;
  }
  size_t take = n < INITIAL_WINDOW + MAX_PAYLOAD - j->in_len ? n : INITIAL_WINDOW + MAX_PAYLOAD - j->in_len;
  memcpy(j->in_buf + j->in_len, bytes, take);
  j->in_len += take, j->input += n - take; /* beyond the credit: the host broke the rules, the bytes go */
  input_write(j);
}

/* The host cancelled it (Reset) or the session ended: killed, no more frames; freed once reaped. */
static void job_cancel(struct job *j) {
  if (!j->exited) kill(j->pid, SIGKILL);
  input_close(j);
  for (int ch = 0; ch < 2; ch++)
    if (j->out[ch] >= 0) close(j->out[ch]), j->out[ch] = -1;
  j->cancelled = 1;
  if (j->exited) job_free(j);
}

/* A new session (a Hello of another session, hunting, the port's end-of-file): the agent fails its streams, we kill
 * our execs, and run none until the agent's next FASTEXEC. */
static char last_session[17];
static void drop_jobs(void) {
  for (int i = 0; i < JOBS; i++)
    if (jobs[i].used && !jobs[i].cancelled) job_cancel(&jobs[i]);
  fast_on = 0, last_open = 0;
}

/* A Hello or HelloAck's payload as it goes by to the agent: a resend of the session in use (one that crossed the
 * answer) changes nothing, for the agent neither; another session does. Our own daemon writes compact JSON. */
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
  strcpy(last_session, session);
  drop_jobs();
}

/* ---- a small JSON reader for the Open's payload: anything unexpected means "not here" (0) ---- */

struct json { const unsigned char *p, *end; };

static void json_space(struct json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int json_lit(struct json *j, const char *word) {
  size_t n = strlen(word);
  json_space(j);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return 0;
  j->p += n;
  return 1;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (unsigned)d;
  }
  *out = v;
  return 1;
}

/* Valid UTF-8 (Node would turn anything else into U+FFFD: then the agent's view differs, so not here). */
static int utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) return 0;
    i += len;
  }
  return 1;
}

/* One code point as UTF-8 at `w`; returns the byte after it. */
static unsigned char *put_utf8(unsigned char *w, unsigned cp) {
  if (cp < 0x80) {
    *w++ = (unsigned char)cp;
    return w;
  }
  int tail = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
  static const unsigned char lead[] = {0, 0xc0, 0xe0, 0xf0};
  *w++ = (unsigned char)(lead[tail] | cp >> (6 * tail));
  for (int k = tail - 1; k >= 0; k--) *w++ = (unsigned char)(0x80 | ((cp >> (6 * k)) & 0x3f));
  return w;
}

/* A string, decoded to UTF-8 at `*out` (advanced past its NUL); no NUL, lone surrogate or raw control character. */
static int json_string(struct json *j, char **out, char *limit) {
  json_space(j);
  if (j->p >= j->end || *j->p != '"') return 0;
  j->p++;
  unsigned char *start = (unsigned char *)*out, *w = start;
  while (j->p < j->end && *j->p != '"') {
    unsigned c = *j->p++;
    if (c < 0x20) return 0;
    if (c != '\\') {
      if ((char *)w >= limit) return 0;
      *w++ = (unsigned char)c;
      continue;
    }
    if (j->p >= j->end) return 0;
    c = *j->p++;
    unsigned cp;
    switch (c) {
      case '"': case '\\': case '/': cp = c; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        if (j->end - j->p < 4 || !hex4(j->p, &cp)) return 0;
        j->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {
          unsigned low;
          if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &low) || low < 0xdc00 || low > 0xdfff) return 0;
          j->p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) return 0;
        break;
      default: return 0;
    }
    if (cp == 0 || (char *)w + 4 > limit) return 0;
    w = put_utf8(w, cp);
  }
  if (j->p >= j->end || (char *)w >= limit || !utf8_ok(start, (size_t)(w - start))) return 0;
  j->p++;
  *w++ = 0;
  *out = (char *)w;
  return 1;
}

/* A plain integer 1..2^31-1 (the agent's range for timeoutMs; other spellings go to it). */
static int json_timeout(struct json *j, long *out) {
  json_space(j);
  long v = 0;
  const unsigned char *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && v <= 0x7fffffffL) v = v * 10 + (*j->p++ - '0');
  if (j->p == start || *start == '0' || v < 1 || v > 0x7fffffffL) return 0;
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return 0;
  *out = v;
  return 1;
}

struct fast_request {
  char *argv[FAST_ARGS + 1], *env[FAST_ENV + 6];
  int argc, envc, stdin;
  char *cwd;
  long timeout_ms;
};
static char strings[JSON_MAX];
static char base_env[5][1100];

/* The Open's payload as an exec this relay runs: 1, or 0 (the agent's). */
static int parse_fast(const unsigned char *payload, size_t n, struct fast_request *r) {
  struct json j = {payload, payload + n};
  char *w = strings, *limit = strings + sizeof strings;
  int seen_op = 0, seen_argv = 0, seen_env = 0, seen_cwd = 0, seen_stdin = 0, seen_timeout = 0;
  r->argc = 0, r->cwd = NULL, r->timeout_ms = 0, r->stdin = 0;
  /* PATH, HOME, USER, LOGNAME, SHELL first (the request's variables override them in place), as buildEnv does. */
  const char *base[5][2] = {{"PATH", fast_path}, {"HOME", fast_home}, {"USER", fast_user}, {"LOGNAME", fast_user}, {"SHELL", fast_shell}};
  for (int i = 0; i < 5; i++) snprintf(base_env[i], sizeof base_env[i], "%s=%s", base[i][0], base[i][1]), r->env[i] = base_env[i];
  r->envc = 5;
  if (!json_lit(&j, "{")) return 0;
  if (json_lit(&j, "}")) return 0;
  do {
    char *key = w;
    if (!json_string(&j, &w, limit) || !json_lit(&j, ":")) return 0;
    w = key; /* keys are not kept */
    if (strcmp(key, "op") == 0 && !seen_op++) {
      char *op = w;
      if (!json_string(&j, &w, limit) || strcmp(op, "exec") != 0) return 0;
    } else if (strcmp(key, "argv") == 0 && !seen_argv++) {
      if (!json_lit(&j, "[") || json_lit(&j, "]")) return 0;
      do {
        if (r->argc == FAST_ARGS) return 0;
        r->argv[r->argc++] = w;
        if (!json_string(&j, &w, limit)) return 0;
      } while (json_lit(&j, ","));
      if (!json_lit(&j, "]") || r->argv[0][0] == 0) return 0;
    } else if (strcmp(key, "env") == 0 && !seen_env++) {
      if (!json_lit(&j, "{")) return 0;
      if (!json_lit(&j, "}")) {
        do {
          char *name = w;
          if (!json_string(&j, &w, limit) || !json_lit(&j, ":") || name[0] == 0 || strchr(name, '=')) return 0;
          size_t len = strlen(name);
          w[-1] = '='; /* NAME=VALUE: the value is decoded right after the '=' */
          if (!json_string(&j, &w, limit)) return 0;
          int slot = -1;
          for (int i = 0; i < r->envc; i++)
            if (strncmp(r->env[i], name, len) == 0 && r->env[i][len] == '=') slot = i;
          if (slot >= 5) return 0; /* a name twice: JSON.parse keeps the last, in the first's place; the agent's */
          if (slot < 0 && r->envc == FAST_ENV + 5) return 0;
          r->env[slot >= 0 ? slot : r->envc++] = name;
        } while (json_lit(&j, ","));
        if (!json_lit(&j, "}")) return 0;
      }
    } else if (strcmp(key, "cwd") == 0 && !seen_cwd++) {
      r->cwd = w;
      if (!json_string(&j, &w, limit) || strlen(r->cwd) > 1024) return 0;
    } else if (strcmp(key, "stdin") == 0 && !seen_stdin++) {
      if (json_lit(&j, "true")) r->stdin = 1;
      else if (!json_lit(&j, "false")) return 0;
    } else if (strcmp(key, "timeoutMs") == 0 && !seen_timeout++) {
      if (!json_timeout(&j, &r->timeout_ms)) return 0;
    } else return 0; /* user, tty, anything else */
  } while (json_lit(&j, ","));
  if (!json_lit(&j, "}") || !seen_op || !seen_argv) return 0;
  json_space(&j);
  if (j.p != j.end) return 0;
  r->argv[r->argc] = NULL;
  r->env[r->envc] = NULL;
  return 1;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static volatile int child_errno;

/* In the vforked child: stdio in place, signals back to default, cwd, then exec. Returns errno. */
static int exec_child(int in, int out, int err, const char *cwd, struct fast_request *r) {
  sigset_t none;
  sigemptyset(&none);
  signal(SIGPIPE, SIG_DFL); /* the one signal this process ignores */
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || chdir(cwd) < 0) return errno;
  environ = r->env; /* execvp searches the child's PATH, as libuv and lodge-spawn do */
  execvp(r->argv[0], r->argv);
  return errno;
}

/* vfork + execvp as lodge-spawn does; 0, or the errno that kept it from starting (nothing ran). */
static int spawn_job(struct job *jb, struct fast_request *r, const char *cwd) {
  int input[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  volatile int e = 0; /* set again after vfork: the child ran in this frame */
  if (r->stdin ? pipe2(input, O_CLOEXEC) < 0 : (input[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) e = errno;
  if (e == 0 && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) e = errno;
  int in = input[0];
  pid_t pid = -1;
  if (e == 0) {
    char **own = environ;
    child_errno = 0;
    pid = vfork();
    if (pid == 0) {
      child_errno = exec_child(in, out[1], err[1], cwd, r);
      _exit(127);
    }
    environ = own;
    if (pid < 0) e = errno;
    else if (child_errno != 0) {
      e = child_errno;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
  }
  if (in >= 0) close(in);
  if (out[1] >= 0) close(out[1]);
  if (err[1] >= 0) close(err[1]);
  int pidfd = e == 0 ? pidfd_open(pid, 0) : -1;
  if (e == 0 && pidfd < 0) { /* cannot watch it: kill it, and the agent runs it */
    e = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (e != 0) {
    if (out[0] >= 0) close(out[0]);
    if (err[0] >= 0) close(err[0]);
    if (input[1] >= 0) close(input[1]);
    return e;
  }
  if (input[1] >= 0) fcntl(input[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  *jb = (struct job){.used = 1, .pid = pid, .pidfd = pidfd, .out = {out[0], err[0]}, .credit = {INITIAL_WINDOW, INITIAL_WINDOW}, .in_fd = input[1]};
  return 0;
}

/* An Open the host sent: 1 if it runs here, 0 for the agent. */
static int fast_exec(uint32_t stream, const unsigned char *payload, size_t n) {
  static struct fast_request r;
  struct job *slot = NULL;
  for (int i = 0; i < JOBS && !slot; i++)
    if (!jobs[i].used) slot = &jobs[i];
  if (!slot || !parse_fast(payload, n, &r)) return 0;
  const char *cwd = r.cwd ? r.cwd : is_dir(fast_home) ? fast_home : "/";
  if (r.cwd && !is_dir(r.cwd)) return 0;
  if (spawn_job(slot, &r, cwd) != 0) return 0;
  slot->stream = stream;
  slot->deadline = r.timeout_ms ? now_ms() + (double)r.timeout_ms : 0;
  return 1;
}

/* ---- our execs' frames to the host ---- */

/* Room for `n` more bytes at the end of `up` (moving what is unsent to the front); 0 when there is none. */
static int up_room(size_t n) {
  if (UP_CAP - up_len >= n) return 1;
  memmove(up, up + up_off, up_len - up_off);
  up_len -= up_off, up_off = 0;
  return UP_CAP - up_len >= n;
}

static int up_frame(int kind, int flags, uint32_t stream, const void *payload, size_t n) {
  if (!up_room(FRAME_HEADER + n)) return 0;
  put_frame_header(up + up_len, kind, flags, stream, (uint32_t)n);
  if (n) memcpy(up + up_len + FRAME_HEADER, payload, n);
  up_len += FRAME_HEADER + n;
  return 1;
}

static int up_window(uint32_t stream, int channel, uint32_t credit) {
  unsigned char be[4] = {credit >> 24, (credit >> 16) & 0xff, (credit >> 8) & 0xff, credit & 0xff};
  return up_frame(KIND_WINDOW, channel, stream, be, 4);
}

/* Started, output within credit, Close per output at its end, Finish after exit and both ends; while the agent is
 * between two frames (the caller checks). Returns 1 if anything went into `up`. */
static int pump_jobs(void) {
  int made = 0;
  for (int i = 0; i < JOBS; i++) {
    struct job *j = &jobs[i];
    if (!j->used || j->cancelled) continue;
    if (!j->started_sent) {
      char text[64];
      int n = snprintf(text, sizeof text, "{\"type\":\"started\",\"pid\":%d}", (int)j->pid);
      if (!up_frame(KIND_CONTROL, 0, j->stream, text, (size_t)n)) continue;
      j->started_sent = 1, made = 1;
    }
    if (j->input > 0 && up_window(j->stream, 0, (uint32_t)j->input)) j->input = 0, made = 1;
    for (int ch = 0; ch < 2; ch++) {
      while (j->out[ch] >= 0 && j->credit[ch] > 0 && up_len - up_off < PUMP_HIGH) {
        size_t want = fast_max_payload;
        if (want > j->credit[ch]) want = (size_t)j->credit[ch];
        if (!up_room(FRAME_HEADER + 4096)) break;
        if (want > UP_CAP - up_len - FRAME_HEADER) want = UP_CAP - up_len - FRAME_HEADER;
        ssize_t got = read(j->out[ch], up + up_len + FRAME_HEADER, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break; /* EAGAIN: nothing now */
        if (got == 0) {
          close(j->out[ch]), j->out[ch] = -1, j->close_due[ch] = 1;
          break;
        }
        put_frame_header(up + up_len, KIND_DATA, ch + 1, j->stream, (uint32_t)got);
        up_len += FRAME_HEADER + (size_t)got;
        j->credit[ch] -= (uint64_t)got, made = 1;
      }
      if (j->close_due[ch] && up_frame(KIND_CLOSE, ch + 1, j->stream, NULL, 0)) j->close_due[ch] = 0, made = 1;
    }
    if (j->exited && j->out[0] < 0 && j->out[1] < 0 && !j->close_due[0] && !j->close_due[1]) {
      char text[96];
      int n;
      if (WIFSIGNALED(j->status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(j->status));
        n = snprintf(text, sizeof text, "{\"exitCode\":null,\"signal\":\"SIG%s\",\"timedOut\":%s}", abbrev ? abbrev : "KILL", j->timed_out ? "true" : "false");
      } else {
        n = snprintf(text, sizeof text, "{\"exitCode\":%d,\"signal\":null,\"timedOut\":%s}", WEXITSTATUS(j->status), j->timed_out ? "true" : "false");
      }
      if (up_frame(KIND_FINISH, 0, j->stream, text, (size_t)n)) job_free(j), made = 1;
    }
  }
  return made;
}

/* Reaps what exited (pidfd readable) and kills what ran out of time. */
static void watch_jobs(void) {
  double now = now_ms();
  for (int i = 0; i < JOBS; i++) {
    struct job *j = &jobs[i];
    if (!j->used) continue;
    if (j->in_fd >= 0 && j->in_off < j->in_len) input_write(j);
    if (j->exited) continue;
    if (waitpid(j->pid, &j->status, WNOHANG) == j->pid) {
      j->exited = 1;
      if (j->cancelled) job_free(j);
      continue;
    }
    if (j->deadline > 0 && now >= j->deadline && !j->cancelled) {
      kill(j->pid, SIGKILL);
      j->timed_out = 1, j->deadline = 0;
    }
  }
}

/* A signal name ("SIGINT"; "INT" too) → its number, 0 if none. */
static int signal_number(const char *name) {
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  for (int s = 1; s < NSIG; s++) {
    const char *abbrev = sigabbrev_np(s);
    if (abbrev && strcmp(abbrev, name) == 0) return s;
  }
  return 0;
}

/* A frame for one of our execs, its payload collected (or counted, for Data). */
static void job_frame(struct job *j, int kind, int flags, const unsigned char *payload, size_t n) {
  if (j->cancelled) return;
  if (kind == KIND_WINDOW && n == 4 && (flags == 1 || flags == 2)) j->credit[flags - 1] += get_be(payload);
  else if (kind == KIND_CLOSE && flags == 0) j->in_end = 1, input_write(j);
  else if (kind == KIND_RESET) job_cancel(j);
  else if (kind == KIND_CONTROL && !j->exited) {
    /* {"type":"signal","signal":"SIGINT"}: the rest (resize) means nothing without a terminal. */
    struct json js = {payload, payload + n};
    char *w = strings, *limit = strings + sizeof strings, *type = NULL, *sig = NULL;
    if (!json_lit(&js, "{")) return;
    do {
      char *key = w;
      if (!json_string(&js, &w, limit) || !json_lit(&js, ":")) return;
      char *value = w;
      if (!json_string(&js, &w, limit)) return; /* resize's numbers: not a signal */
      if (strcmp(key, "type") == 0) type = value;
      else if (strcmp(key, "signal") == 0) sig = value;
    } while (json_lit(&js, ","));
    int signo = type && sig && strcmp(type, "signal") == 0 ? signal_number(sig) : 0;
    if (signo > 0) kill(j->pid, signo);
  }
}


/* A Window for a source is complete: its credit, or (the source ended meanwhile) the agent's frame after all. */
static void window_done(void) {
  uint32_t credit = get_be(window);
  struct source *s = find_source(window_stream);
  windowing = 0;
  if (s && s->channel == window_channel) {
    s->credit += credit, s->taken += credit;
    return;
  }
  unsigned char frame[FRAME_HEADER + 4];
  put_frame_header(frame, KIND_WINDOW, window_channel, window_stream, 4);
  memcpy(frame + FRAME_HEADER, window, 4);
  report_sinks();
  forward(frame, sizeof frame);
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
  hunting = 1;
  drop_sinks();
  drop_jobs();
  last_session[0] = 0;
}

/* A collected payload is complete: an Open runs here or goes on to the agent; a frame of one of our execs acts. */
static void collect_done(void) {
  int kind = collected_head[2], flags = collected_head[3];
  uint32_t stream = get_be(collected_head + 4);
  collecting = 0;
  if (kind == KIND_OPEN) {
    if (fast_exec(stream, collected, collected_len)) return;
    report_sinks();
    forward(collected_head, FRAME_HEADER);
    forward(collected, collected_len);
    return;
  }
  struct job *j = find_job(stream);
  if (j) job_frame(j, kind, flags, collected, collected_len);
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
  if (kind == KIND_HELLO || kind == KIND_HELLO_ACK) {
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
  if (src && src->channel == flags) {
    windowing = 1, window_len = 0, window_stream = stream, window_channel = flags;
    return;
  }
  struct job *job = stream != 0 ? find_job(stream) : NULL;
  int fast_open = kind == KIND_OPEN && fast_on && stream % 2 == 1 && stream > last_open && length <= JSON_MAX;
  if (kind == KIND_OPEN && stream > last_open) last_open = stream;
  if (job || fast_open) {
    /* Input Data is only counted (its credit goes back); JSON frames and Windows are collected. */
    if (job && kind == KIND_DATA && flags == 0) {
      feeding = length > 0 ? job : NULL;
      return;
    }
    if (job && (kind == KIND_DATA || length > JSON_MAX)) {
      swallowing = length > 0;
      return;
    }
    memcpy(collected_head, head, FRAME_HEADER);
    collected_len = 0, collecting = 1;
    if (length == 0) collect_done();
    return;
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
      else if (windowing) {
        memcpy(window + window_len, bytes, take);
        window_len += take, body_left -= take;
        if (body_left == 0) window_done();
      } else if (collecting) {
        memcpy(collected + collected_len, bytes, take);
        collected_len += take, body_left -= take;
        if (body_left == 0) collect_done();
      } else if (feeding) {
        struct job *j = feeding;
        body_left -= take;
        if (body_left == 0) feeding = NULL;
        input_take(j, bytes, take);
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
    if (UP_CAP - up_len < FRAME_HEADER + 4) {
      memmove(up, up + up_off, up_len - up_off);
      up_len -= up_off, up_off = 0;
      if (UP_CAP - up_len < FRAME_HEADER + 4) break; /* the port is full: the next round */
    }
    uint32_t credit = s->unreturned > UINT32_MAX ? UINT32_MAX : (uint32_t)s->unreturned;
    put_frame_header(up + up_len, KIND_WINDOW, s->channel, s->stream, 4);
    up[up_len + 12] = credit >> 24, up[up_len + 13] = (credit >> 16) & 0xff, up[up_len + 14] = (credit >> 8) & 0xff, up[up_len + 15] = credit & 0xff;
    up_len += FRAME_HEADER + 4;
    s->unreturned -= credit, s->returned += credit;
    made = 1;
  }
  return made;
}

/* Frames of the sources into `up`, within their credit, while the agent is between two frames. */
static int pump_sources(void) {
  if (host_away || ahead_len > 0 || abody_left > 0) return 0;
  int made = pump_windows() | pump_jobs();
  for (int i = 0; i < SLOTS; i++) {
    struct source *s = &sources[i];
    while (s->used && s->credit > 0 && s->left > 0 && up_len - up_off < PUMP_HIGH) {
      if (UP_CAP - up_len < FRAME_HEADER + 4096) {
        memmove(up, up + up_off, up_len - up_off);
        up_len -= up_off, up_off = 0;
      }
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
    /* FASTEXEC maxPayload user home shell PATH: execs may run here (until the next session) with these defaults. */
    if (sscanf(command, "FASTEXEC %u %255s %511s %511s %1023s", &max, fast_user, fast_home, fast_shell, fast_path) == 5 && max >= 4096 && max <= MAX_PAYLOAD) {
      fast_max_payload = max, fast_on = 1;
    }
    event("FAST %d", fast_on);
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
  if (UP_CAP - up_len < AIN_CAP) {
    memmove(up, up + up_off, up_len - up_off);
    up_len -= up_off, up_off = 0;
  }
  ssize_t n = read(0, ain, AIN_CAP);
  if (n == 0) exit(0); /* the agent is gone or closed us */
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

/* ---- port reads ---- */

/* The host closed its end: after its last bytes, tell the agent; drop sinks, sources and what was not written. */
static void port_eof(void) {
  drop_sinks();
  for (int i = 0; i < SLOTS; i++)
    if (sources[i].used) source_end(&sources[i], ECONNRESET);
  hunting = 1, head_len = 0, body_left = 0, windowing = 0, collecting = 0, swallowing = 0, feeding = NULL, sniffing = 0;
  drop_jobs();
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
  signal(SIGPIPE, SIG_IGN);
  /* A killed agent must not leave us holding the port (one open per port): its successor's relay needs it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
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
    struct pollfd fds[4 + 4 * JOBS] = {
      /* Agent input only while `up` can take a whole read (the port is slow: take no more, but see POLLHUP). */
      {.fd = 0, .events = UP_CAP - (up_len - up_off) >= AIN_CAP && DOWN_CAP - down_len + down_off >= 2 * EVENT_ROOM ? POLLIN : 0},
      {.fd = 1, .events = down_off < sealed ? POLLOUT : 0},
      /* Not while the host is away (POLLHUP without end) or `down` is full (the agent reads first). */
      {.fd = host_away || !room_down ? -1 : port_in, .events = POLLIN},
      {.fd = !host_away && up_off < up_len ? port_out : -1, .events = POLLOUT},
    };
    if (port_in == port_out && fds[2].fd >= 0 && fds[3].fd >= 0) fds[2].events |= POLLOUT, fds[3].fd = -1;
    /* Our execs: their exit (pidfd), and their outputs while there is credit and room to send them. */
    int nfds = 4, timeout = lingering ? LINGER_MS : host_away ? RETRY_MS : -1;
    int sending = !host_away && ahead_len == 0 && abody_left == 0 && up_len - up_off < PUMP_HIGH;
    double now = now_ms();
    for (int i = 0; i < JOBS; i++) {
      struct job *j = &jobs[i];
      if (!j->used) continue;
      if (!j->exited) fds[nfds++] = (struct pollfd){.fd = j->pidfd, .events = POLLIN};
      if (j->in_fd >= 0 && j->in_off < j->in_len) fds[nfds++] = (struct pollfd){.fd = j->in_fd, .events = POLLOUT};
      for (int ch = 0; ch < 2; ch++)
        if (j->out[ch] >= 0 && j->credit[ch] > 0 && sending) fds[nfds++] = (struct pollfd){.fd = j->out[ch], .events = POLLIN};
      if (j->deadline > 0 && !j->exited) {
        int left = j->deadline <= now ? 0 : (int)(j->deadline - now) + 1;
        if (timeout < 0 || left < timeout) timeout = left;
      }
    }
    int n = poll(fds, (nfds_t)nfds, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) write_agent();
    if ((host_away && room_down) || (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) lingering = read_port();
    else if (lingering) lingering = 0, seal(); /* nothing more came within LINGER_MS */
    if (!fds[0].events && (fds[0].revents & (POLLHUP | POLLERR))) exit(0); /* the agent is gone */
    if (fds[0].events && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) read_agent();
    watch_jobs();
    for (int round = 0; round < 16 && !host_away; round++) {
      int made = pump_sources();
      size_t before = up_off;
      if (up_off < up_len) write_port();
      if (!made && up_off == before) break;
      if (up_off == before && up_off < up_len) break; /* the port is full: POLLOUT wakes us */
    }
    if (down_off < sealed) write_agent();
  }
}
