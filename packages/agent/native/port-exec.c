/*
 * lodge-port's execs: plain programs run by the relay itself, without the agent's JS (see lodge-port.c's header for
 * the commands and events, docs/guest-protocol.md "In the guest: lodge-port, the data plane" for the protocol).
 *
 * After the agent's FASTEXEC, an Open {op:"exec"} that needs nothing but argv, env, cwd, stdin, timeoutMs and user (no
 * tty) runs here: parsed, spawned (vfork + execvp, like lodge-spawn), its input written to its stdin as it comes
 * (credit back once written), its output sent as Data within the host's credit, then Close per output and Finish —
 * the frames the agent would send, without waking its JS (under TCG an exec's JS costs the vCPU ~20 ms). Anything
 * else, and any exec that cannot start, goes to the agent unchanged: it answers with its own checks and errors. The
 * frames of such an exec's stream (Window, Control signal, Reset, input) are handled here and never reach the agent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lodge-port.h"
#define INITIAL_WINDOW (1024 * 1024)
#define FAST_ARGS 4096
#define FAST_ENV 256
#define FAST_GROUPS 64     /* more supplementary groups than this: the agent's */
#define USER_DB_MAX 65536  /* a larger /etc/passwd or /etc/group: the agent's */
/* How long a new exec's outputs are left unwatched (see exec_poll); LODGE_PORT_QUIET_MS sets it (tests). */
double exec_quiet_ms = 10;

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
  double quiet_until; /* its outputs are not polled until then, unless it exits first (exec_poll) */
  double read_at, spawned_at, exited_at; /* tracing: the port read that brought its Open, its start, its reaping */
  char program[64];
};
static struct job jobs[JOBS];

static int fast_on;
static uint32_t fast_max_payload, last_open;
static char fast_user[256], fast_home[512], fast_shell[512], fast_path[1024];


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
void exec_input(uint32_t stream, const unsigned char *bytes, size_t n) {
  struct job *j = find_job(stream);
  if (!j) return; /* it ended: its stream is over */
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

/* Whether the job's process group may still hold a process: the program runs, or something holds its outputs. */
static int group_may_live(const struct job *j) {
  return !j->exited || j->out[0] >= 0 || j->out[1] >= 0;
}

/* A job's process group (lodge-spawn's signal_group): also after the program was reaped, while what it started
 * holds its outputs (until then the group's id cannot be taken by another). */
static void signal_job(struct job *j, int sig) {
  if (kill(-j->pid, sig) < 0 && !j->exited) kill(j->pid, sig);
}

/* The host cancelled it (Reset) or the session ended: killed, no more frames; freed once reaped. */
static void job_cancel(struct job *j) {
  if (group_may_live(j)) signal_job(j, SIGKILL);
  input_close(j);
  for (int ch = 0; ch < 2; ch++)
    if (j->out[ch] >= 0) close(j->out[ch]), j->out[ch] = -1;
  j->cancelled = 1;
  if (j->exited) job_free(j);
}

/* From a signal handler: only kill(), on what may still run. */
void exec_kill_all(void) {
  for (int i = 0; i < JOBS; i++)
    if (jobs[i].used && group_may_live(&jobs[i])) kill(-jobs[i].pid, SIGKILL);
}

void exec_drop_all(void) {
  if (tracing && fast_on) fprintf(stderr, "lodge-port: trace fast path off\n");
  for (int i = 0; i < JOBS; i++)
    if (jobs[i].used && !jobs[i].cancelled) job_cancel(&jobs[i]);
  fast_on = 0, last_open = 0;
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
  char *cwd, *user;
  long timeout_ms;
};

/* Whom an exec with a user runs as: what the agent's lookupUser and supplementaryGroups (user-db.ts) find. */
struct fast_user {
  uid_t uid;
  gid_t gid, groups[FAST_GROUPS];
  int ngroups;
  char name[256], home[512], shell[512];
};
static char strings[JSON_MAX];
static char base_env[5][1100];

/* The Open's payload as an exec this relay runs: 1, or 0 (the agent's). */
static int parse_fast(const unsigned char *payload, size_t n, struct fast_request *r) {
  struct json j = {payload, payload + n};
  char *w = strings, *limit = strings + sizeof strings;
  int seen_op = 0, seen_argv = 0, seen_env = 0, seen_cwd = 0, seen_stdin = 0, seen_timeout = 0, seen_user = 0;
  r->argc = 0, r->cwd = NULL, r->user = NULL, r->timeout_ms = 0, r->stdin = 0;
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
    } else if (strcmp(key, "user") == 0 && !seen_user++) {
      r->user = w;
      if (!json_string(&j, &w, limit) || r->user[0] == 0 || strlen(r->user) > 255) return 0;
    } else return 0; /* tty, anything else */
  } while (json_lit(&j, ","));
  if (!json_lit(&j, "}") || !seen_op || !seen_argv) return 0;
  json_space(&j);
  if (j.p != j.end) return 0;
  r->argv[r->argc] = NULL;
  r->env[r->envc] = NULL;
  return 1;
}

/* A whole small file, NUL-terminated in buf; 0 if it cannot be read or is larger than buf. */
static int read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t len = 0;
  ssize_t n = 0;
  while (len < cap - 1 && ((n = read(fd, buf + len, cap - 1 - len)) > 0 || (n < 0 && errno == EINTR))) len += n > 0 ? (size_t)n : 0;
  int whole = len < cap - 1 && n == 0;
  close(fd);
  buf[len] = 0;
  return whole;
}

/* A uid or gid: decimal, below 2^32 - 1 ((uid_t)-1 means "no change" to the set*id calls). */
static int decimal_id(const char *s) {
  if (*s == 0 || strlen(s) > 10) return 0;
  for (const char *c = s; *c; c++)
    if (*c < '0' || *c > '9') return 0;
  return strtoull(s, NULL, 10) < 0xffffffffULL;
}

/* The next line of a user database (at *at, cut in place) split at ':' into f[0..max-1]; 0 at the end. Comments and
 * empty lines are skipped, missing fields are "". */
static int next_row(char **at, char **f, int max) {
  for (;;) {
    char *line = *at;
    if (*line == 0) return 0;
    char *nl = strchr(line, '\n');
    *at = nl ? nl + 1 : line + strlen(line);
    if (nl) *nl = 0;
    if (line[0] == 0 || line[0] == '#') continue;
    for (int i = 0; i < max; i++) {
      f[i] = line;
      char *colon = strchr(line, ':');
      if (colon) *colon = 0;
      line = colon ? colon + 1 : line + strlen(line);
    }
    return 1;
  }
}

static int member_of(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0) return 1;
    p += n + (comma ? 1 : 0);
  }
  return 0;
}

/*
 * "name", "uid", "name:group" or "uid:gid" as the agent resolves them (user-db.ts): the passwd row by name or uid (a uid
 * without one is itself, home /, shell /bin/sh), the group by name or number, and as supplementary groups the primary
 * one and every group that lists the user. 0 when anything is missing or odd: the agent then runs it, or says why not.
 */
static int resolve_user(const char *spec, struct fast_user *u) {
  static char db[USER_DB_MAX];
  char user[256], *group = NULL, *f[7];
  snprintf(user, sizeof user, "%s", spec);
  char *colon = strchr(user, ':');
  if (colon) *colon = 0, group = colon + 1;
  int numeric = decimal_id(user), found = 0;
  if (!read_small("/etc/passwd", db, sizeof db)) return 0;
  for (char *at = db; !found && next_row(&at, f, 7);) {
    if (strcmp(numeric ? f[2] : f[0], user) != 0) continue;
    if (!decimal_id(f[2]) || !decimal_id(f[3]) || strlen(f[0]) >= sizeof u->name) return 0;
    u->uid = (uid_t)strtoul(f[2], NULL, 10), u->gid = (gid_t)strtoul(f[3], NULL, 10);
    snprintf(u->name, sizeof u->name, "%s", f[0]);
    if (snprintf(u->home, sizeof u->home, "%s", f[5][0] ? f[5] : "/") >= (int)sizeof u->home) return 0;
    if (snprintf(u->shell, sizeof u->shell, "%s", f[6][0] ? f[6] : "/bin/sh") >= (int)sizeof u->shell) return 0;
    found = 1;
  }
  if (!found && !numeric) return 0;
  if (!found) {
    u->uid = (uid_t)strtoul(user, NULL, 10), u->gid = (gid_t)u->uid;
    snprintf(u->name, sizeof u->name, "%s", user), strcpy(u->home, "/"), strcpy(u->shell, "/bin/sh");
  }
  if (!read_small("/etc/group", db, sizeof db)) return 0;
  if (group && decimal_id(group)) u->gid = (gid_t)strtoul(group, NULL, 10);
  else if (group) {
    int known = 0;
    for (char *at = db; !known && next_row(&at, f, 4);)
      if (strcmp(f[0], group) == 0) {
        if (!decimal_id(f[2])) return 0;
        u->gid = (gid_t)strtoul(f[2], NULL, 10), known = 1;
      }
    if (!known) return 0;
    read_small("/etc/group", db, sizeof db); /* next_row cut it up */
  }
  u->groups[0] = u->gid, u->ngroups = 1;
  for (char *at = db; next_row(&at, f, 4);) {
    if (!decimal_id(f[2]) || !member_of(f[3], u->name)) continue;
    gid_t g = (gid_t)strtoul(f[2], NULL, 10);
    int seen = 0;
    for (int i = 0; i < u->ngroups; i++) seen |= u->groups[i] == g;
    if (seen) continue;
    if (u->ngroups == FAST_GROUPS) return 0;
    u->groups[u->ngroups++] = g;
  }
  return 1;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static volatile int child_errno;

/* In the vforked child: stdio in place, signals back to default, user and groups, cwd, then exec. Returns errno. */
static int exec_child(int in, int out, int err, const char *cwd, struct fast_request *r, const struct fast_user *u) {
  sigset_t none;
  sigemptyset(&none);
  signal(SIGPIPE, SIG_DFL); /* the one signal this process ignores */
  sigprocmask(SIG_SETMASK, &none, NULL);
  setpgid(0, 0); /* a group of its own, as a shell's job: a kill reaches what it started, which holds its outputs too */
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) return errno;
  if (u && (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)) return errno;
  if (chdir(cwd) < 0) return errno;
  environ = r->env; /* execvp searches the child's PATH, as libuv and lodge-spawn do */
  execvp(r->argv[0], r->argv);
  return errno;
}

/* vfork + execvp as lodge-spawn does; 0, or the errno that kept it from starting (nothing ran). */
static int spawn_job(struct job *jb, struct fast_request *r, const char *cwd, const struct fast_user *u) {
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
      child_errno = exec_child(in, out[1], err[1], cwd, r, u);
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
int exec_open(uint32_t stream, const unsigned char *payload, size_t n) {
  static struct fast_request r;
  struct job *slot = NULL;
  for (int i = 0; i < JOBS && !slot; i++)
    if (!jobs[i].used) slot = &jobs[i];
  static struct fast_user user;
  if (!slot || !parse_fast(payload, n, &r)) return 0;
  if (r.user && !resolve_user(r.user, &user)) return 0;
  if (r.user) { /* the user's HOME, USER, LOGNAME and SHELL, unless the request set them (buildEnv) */
    const char *own[4][2] = {{"HOME", user.home}, {"USER", user.name}, {"LOGNAME", user.name}, {"SHELL", user.shell}};
    for (int i = 0; i < 4; i++)
      if (r.env[i + 1] == base_env[i + 1]) snprintf(base_env[i + 1], sizeof base_env[i + 1], "%s=%s", own[i][0], own[i][1]);
  }
  const char *home = r.user ? user.home : fast_home;
  const char *cwd = r.cwd ? r.cwd : is_dir(home) ? home : "/";
  if (r.cwd && !is_dir(r.cwd)) return 0;
  if (spawn_job(slot, &r, cwd, r.user ? &user : NULL) != 0) return 0;
  slot->stream = stream;
  double now = now_ms();
  slot->deadline = r.timeout_ms ? now + (double)r.timeout_ms : 0;
  slot->quiet_until = now + exec_quiet_ms;
  if (tracing) {
    slot->read_at = port_read_at, slot->spawned_at = now;
    snprintf(slot->program, sizeof slot->program, "%s", r.argv[0]);
  }
  return 1;
}

/* ---- our execs' frames to the host ---- */

/* Started, output within credit, Close per output at its end, Finish after exit and both ends; while the agent is
 * between two frames (the caller checks). Returns 1 if anything went into `up`. */
int exec_pump(void) {
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
      if (!up_frame(KIND_FINISH, 0, j->stream, text, (size_t)n)) continue;
      if (tracing) {
        double done = now_ms();
        fprintf(stderr, "lodge-port: trace exec %s: spawned %.1f → exited %.1f → finished %.1f (total %.1f ms since the port read)\n", j->program,
                j->spawned_at - j->read_at, j->exited_at - j->spawned_at, done - j->exited_at, done - j->read_at);
      }
      job_free(j), made = 1;
    }
  }
  return made;
}

/* Reaps what exited (pidfd readable) and kills what ran out of time. */
void exec_watch(void) {
  double now = now_ms();
  for (int i = 0; i < JOBS; i++) {
    struct job *j = &jobs[i];
    if (!j->used) continue;
    if (j->in_fd >= 0 && j->in_off < j->in_len) input_write(j);
    if (!j->exited && waitpid(j->pid, &j->status, WNOHANG) == j->pid) {
      j->exited = 1;
      if (tracing) j->exited_at = now_ms();
      if (j->cancelled) {
        job_free(j);
        continue;
      }
    }
    /* Until its Finish: a program that exited in time but left a child holding its outputs is not timed out, the
     * child is killed so that they end. */
    if (j->deadline > 0 && now >= j->deadline && !j->cancelled) {
      signal_job(j, SIGKILL);
      if (!j->exited) j->timed_out = 1;
      j->deadline = 0;
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

/* A frame for one of our execs (Window, Close on channel 0, Reset, Control), its payload collected. */
void exec_frame(uint32_t stream, int kind, int flags, const unsigned char *payload, size_t n) {
  struct job *j = find_job(stream);
  if (!j || j->cancelled) return;
  if (kind == KIND_WINDOW && n == 4 && (flags == 1 || flags == 2)) j->credit[flags - 1] += get_be(payload);
  else if (kind == KIND_CLOSE && flags == 0) j->in_end = 1, input_write(j);
  else if (kind == KIND_RESET) job_cancel(j);
  else if (kind == KIND_CONTROL && group_may_live(j)) {
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
    if (signo > 0) signal_job(j, signo);
  }
}

/* Our execs' file descriptors for poll(): each exit (pidfd), stdin while input waits, outputs while `sending` (credit
 * and room to send); returns how many it added, and lowers *timeout to the nearest deadline. */
int exec_poll(struct pollfd *fds, int sending, int *timeout) {
  int n = 0;
  double now = now_ms();
  for (int i = 0; i < JOBS; i++) {
    struct job *j = &jobs[i];
    if (!j->used) continue;
    if (!j->exited) fds[n++] = (struct pollfd){.fd = j->pidfd, .events = POLLIN};
    if (j->in_fd >= 0 && j->in_off < j->in_len) fds[n++] = (struct pollfd){.fd = j->in_fd, .events = POLLOUT};
    /* A new program's outputs wait (the pipes hold 1 MiB) until it exits or exec_quiet_ms pass: most execs are short,
     * and a wake-up at their end-of-file would preempt them mid-exit, then again at the exit (each switch costs the
     * guest's TCG vCPU a TLB refill). Their end then takes one wake-up. */
    int quiet = !j->exited && j->quiet_until > now;
    if (quiet) poll_until(timeout, j->quiet_until, now);
    for (int ch = 0; ch < 2; ch++)
      if (j->out[ch] >= 0 && j->credit[ch] > 0 && sending && !quiet) fds[n++] = (struct pollfd){.fd = j->out[ch], .events = POLLIN};
    if (j->deadline > 0) poll_until(timeout, j->deadline, now);
  }
  return n;
}

/* When the last new exec stops being quiet (exec_poll); 0 when none is (they exited, or exec_quiet_ms passed). */
double exec_quiet_until(void) {
  double now = now_ms(), until = 0;
  for (int i = 0; i < JOBS; i++) {
    struct job *j = &jobs[i];
    if (j->used && !j->cancelled && !j->exited && j->quiet_until > now && j->quiet_until > until) until = j->quiet_until;
  }
  return until;
}

/* FASTEXEC maxPayload user home shell PATH: execs may run here (until the next session) with these defaults. */
void exec_enable(const char *command) {
  unsigned max;
  if (sscanf(command, "FASTEXEC %u %255s %511s %511s %1023s", &max, fast_user, fast_home, fast_shell, fast_path) == 5 && max >= 4096 && max <= MAX_PAYLOAD) {
    fast_max_payload = max, fast_on = 1;
  }
  if (tracing) fprintf(stderr, "lodge-port: trace fast path %s\n", fast_on ? "on" : "refused");
  event("FAST %d", fast_on);
}

/* Whether an Open on `stream` may run here (its payload then comes to exec_open); every Open counts for the next. */
int exec_may_open(uint32_t stream, uint32_t length) {
  int may = fast_on && stream % 2 == 1 && stream > last_open && length <= JSON_MAX;
  if (tracing && !may)
    fprintf(stderr, "lodge-port: trace Open %u to the agent (fast path %s, last Open %u, %u bytes)\n", stream, fast_on ? "on" : "off", last_open, length);
  if (stream > last_open) last_open = stream;
  return may;
}

int exec_owns(uint32_t stream) {
  return find_job(stream) != NULL;
}
