/*
 * lodge-spawn: the Lodge agent's resident fork server. Forking a small static process costs far less than
 * forking the whole Node agent (libuv's spawn), so the agent asks this program to start its exec children.
 *
 * Usage: lodge-spawn                serve the agent on stdin/stdout
 *        lodge-spawn --bench N PROG time N fork+exec+wait of PROG (stdio on /dev/null), print p50/p99 in ms
 *        lodge-spawn --bench-idle MS N PROG   the same, each after MS ms asleep (as a guest is between two execs)
 *
 * Children get anonymous pipes, as with Node's spawn (programs reopen /dev/stdout or /dev/stdin, test -p, tee
 * /dev/stderr). Their stdout and stderr are read here and relayed to the agent over this process's stdout, so an exec
 * costs the agent no pipe of its own to open and watch. Stdin, when an exec wants it, comes from a slot: "n" makes a
 * pipe and answers "P SLOT FD" (the fd of its write end here, or "P SLOT -ERRNO"); Node cannot receive fds over a
 * socket, so the agent opens it through /proc/PID/fd/FD (same user: allowed; opening a pipe there never blocks) and
 * names the slot in "x". After the fork this process holds no write end of the child's pipes: end-of-file comes when
 * the child and its descendants close theirs (outputs) or when the agent closes its end (stdin).
 *
 * Requests on stdin: u32 little-endian length, then that many bytes of NUL-terminated fields:
 *   n                                                            make a stdin slot
 *   x ID STDIN(0|1) SLOT UID GID GROUPS CWD ARGC ARGV... ENV...  start a child (UID "" = as this process; GROUPS:
 *                                                                comma-separated gids, set with setgroups; STDIN 0:
 *                                                                stdin is /dev/null and SLOT is ignored)
 *   k ID SIGNO                                                   signal a child that has not been reaped yet
 *   p ID CH / r ID CH                                            pause / resume reading output CH (1 stdout, 2 stderr)
 * Events on stdout, one line each: "P SLOT ..." slot made, "S ID PID" started, "E ID ERRNO" failed to start,
 * "D ID CH LEN" followed by LEN bytes of output CH, "C ID CH" output CH ended (every writer closed it),
 * "X ID CODE SIGNO" ended (CODE -1 when killed by SIGNO; sent after what the outputs held at the reap, unless paused).
 * A slot named in "x" is used up either way. The events of one wake-up go out in one write, and wait up to HOLD_MS
 * while a program started in that time still runs: a short program's "S", output, "C" and "X" arrive together.
 * The agent is trusted, but every length read from it is still bounded.
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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (16u << 20)
#define MAX_GROUPS 65536
#define MAX_CHILDREN 65536
#define MAX_SLOTS 256
#define F_UID 4 /* fields of "x" from UID on: UID GID GROUPS CWD ARGC ARGV... */
#define CHUNK (65536 - 128) /* output read per wake-up and channel: a record fits in one 64 KiB read of the agent */
#define BURST_READS 16  /* reads of a ready output per wake-up */
#define DRAIN_READS 16  /* reads per output at a reap: a descendant still writing cannot hold the exit back */
#ifndef HOLD_MS /* events wait at most this long for the end of a program started in the meantime */
#define HOLD_MS 10.0
#endif

extern char **environ;

/* A started child until it is reaped and both its outputs ended: the read ends of its stdout and stderr. */
struct child {
  unsigned long id;
  pid_t pid; /* 0 once reaped ("X" sent) */
  pid_t group; /* its process group (its pid): what it started is signalled with it, also after it was reaped */
  int fd[2]; /* -1 once ended ("C" sent) */
  int paused[2];
  double hold; /* until then (or its reap) the events of this wake-up wait: a short program's all go in one write */
};

/* A stdin slot: the pipe's write end (the agent opens it through /proc) and its read end (the child's stdin). */
struct slot {
  unsigned long id;
  int agent, end;
};

static struct child *children;
static size_t nchildren, capchildren;
static struct slot slots[MAX_SLOTS];
static size_t nslots;
static unsigned long next_slot = 1;
/* The fd limit this process was given: raised here (it keeps two fds per child), given back to each child. */
static struct rlimit nofile_given;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Our programs end with us, killed (as on the host's cancel): their streams are over, and nobody would own them. */
static void kill_all(void) {
  for (size_t i = 0; i < nchildren; i++) kill(-children[i].group, SIGKILL);
}

/* The agent is gone (end-of-file, or a write it can no longer take). */
static void agent_gone(void) {
  kill_all();
  exit(0);
}

static void die(const char *what) {
  fprintf(stderr, "lodge-spawn: %s: %s\n", what, strerror(errno));
  kill_all();
  exit(1);
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) agent_gone();
    buf += n;
    len -= (size_t)n;
  }
}

/* Events wait here until the end of the wake-up: one write (one wake-up of the agent) for all of them. */
static char events[1 << 18];
static size_t nevents;
/* When the oldest event still here was made: none waits longer than HOLD_MS. */
static double pending_since;

static void flush_events(void) {
  write_all(1, events, nevents);
  nevents = 0;
}

static void pending(void) {
  if (nevents == 0) pending_since = now_ms();
}

static void event(const char *fmt, unsigned long id, long a, long b) {
  if (nevents > sizeof events - 128) flush_events();
  pending();
  nevents += (size_t)snprintf(events + nevents, 128, fmt, id, a, b);
}

/* One read of output CH (0 stdout, 1 stderr): "D" with the bytes, or "C" at its end. Returns the read's result. */
static ssize_t relay(struct child *c, int ch) {
  if (nevents + CHUNK + 64 > sizeof events) flush_events();
  pending();
  char *head = events + nevents;
  ssize_t n;
  while ((n = read(c->fd[ch], head + 48, CHUNK)) < 0 && errno == EINTR) {}
  if (n < 0 && errno == EAGAIN) return n;
  if (n > 0) {
    int h = snprintf(head, 48, "D %lu %d %zd\n", c->id, ch + 1, n);
    memmove(head + h, head + 48, (size_t)n);
    nevents += (size_t)h + (size_t)n;
    return n;
  }
  close(c->fd[ch]); /* end-of-file (or a read error: the output is over either way) */
  c->fd[ch] = -1;
  event("C %lu %ld\n", c->id, ch + 1, 0);
  return 0;
}

static void close_slot(struct slot *s) {
  if (s->agent >= 0) close(s->agent);
  if (s->end >= 0) close(s->end);
}

/* "n": a pipe, close-on-exec here; the child gets its read end by dup2 and the agent opens the write end through /proc. */
static void make_slot(void) {
  unsigned long id = next_slot++;
  int p[2];
  if (nslots == MAX_SLOTS) event("P %lu -%ld\n", id, EMFILE, 0);
  else if (pipe2(p, O_CLOEXEC) < 0) event("P %lu -%ld\n", id, errno, 0);
  else {
    slots[nslots++] = (struct slot){id, p[1], p[0]};
    event("P %lu %ld\n", id, p[1], 0);
  }
}

/* Takes the slot out of the table (the caller closes it); NULL when unknown. */
static int take_slot(unsigned long id, struct slot *out) {
  for (size_t i = 0; i < nslots; i++)
    if (slots[i].id == id) {
      *out = slots[i];
      slots[i] = slots[--nslots];
      return 1;
    }
  return 0;
}

/* The NUL-terminated fields of a request (bytes after the last NUL are ignored). */
static char **split_fields(char *buf, uint32_t len, size_t *count) {
  size_t n = 0;
  for (uint32_t i = 0; i < len; i++) n += buf[i] == '\0';
  char **fields = calloc(n + 1, sizeof *fields);
  if (!fields) die("calloc");
  size_t k = 0;
  for (uint32_t start = 0, i = 0; i < len; i++)
    if (buf[i] == '\0') {
      fields[k++] = buf + start;
      start = i + 1;
    }
  *count = n;
  return fields;
}

static int parse_groups(const char *text, gid_t *out) {
  int n = 0;
  for (const char *p = text; *p && n < MAX_GROUPS;) {
    char *end;
    out[n++] = (gid_t)strtoul(p, &end, 10);
    if (*end != ',') break;
    p = end + 1;
  }
  return n;
}

/* The signals this process ignores (given by the agent, and SIGPIPE): the only ones a child would keep ignoring. */
static int ignored[NSIG], nignored;

static void find_ignored(void) {
  for (int s = 1; s < NSIG; s++) {
    struct sigaction old;
    if (sigaction(s, NULL, &old) == 0 && old.sa_handler == SIG_IGN) ignored[nignored++] = s;
  }
}

/* In the child: stdio in place, signals back to default, user and groups, cwd, then exec. Returns errno. */
static int exec_child(int in, int out, int err, char **f, char **argv, char **envp) {
  sigset_t none;
  sigemptyset(&none);
  for (int i = 0; i < nignored; i++) signal(ignored[i], SIG_DFL); /* handlers reset at exec by themselves */
  sigprocmask(SIG_SETMASK, &none, NULL);
  setpgid(0, 0); /* a group of its own, as a shell's job: a kill reaches what it started, which holds its outputs too */
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) return errno;
  setrlimit(RLIMIT_NOFILE, &nofile_given);
  if (f[F_UID][0] != '\0') {
    static gid_t groups[MAX_GROUPS];
    int n = parse_groups(f[F_UID + 2], groups);
    if (setgroups((size_t)n, groups) < 0 || setgid((gid_t)strtoul(f[F_UID + 1], NULL, 10)) < 0 || setuid((uid_t)strtoul(f[F_UID], NULL, 10)) < 0) return errno;
  }
  if (chdir(f[F_UID + 3]) < 0) return errno;
  environ = envp; /* execvp searches the child's PATH, as libuv does */
  execvp(argv[0], argv);
  return errno;
}

/* Written by a vforked child that could not exec (shared memory until it execs or exits). */
static volatile int child_errno;

static void close_fds(int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]), fds[i] = -1;
}

static void start_child(char **f, size_t count) {
  unsigned long id = strtoul(f[1], NULL, 10);
  int want_stdin = count > 2 && f[2][0] == '1';
  struct slot slot = {0, -1, -1};
  if (count < F_UID + 5 || (want_stdin && !take_slot(strtoul(f[3], NULL, 10), &slot))) {
    event("E %lu %ld\n", id, EINVAL, 0);
    return;
  }
  size_t argc = strtoul(f[F_UID + 4], NULL, 10), first = F_UID + 5;
  if (argc < 1 || argc > count - first) {
    close_slot(&slot);
    event("E %lu %ld\n", id, EINVAL, 0);
    return;
  }
  size_t envc = count - first - argc;
  char **argv = calloc(argc + 1, sizeof *argv), **envp = calloc(envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + first, argc * sizeof *argv);
  memcpy(envp, f + first + argc, envc * sizeof *envp);

  /* out[0], err[0]: our read ends; out[1], err[1]: the child's. */
  int in = want_stdin ? slot.end : open("/dev/null", O_RDONLY | O_CLOEXEC), out[2] = {-1, -1}, err[2] = {-1, -1}, e = 0;
  if (in < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) e = errno;
  pid_t pid = -1;
  if (e == 0) {
    /* vfork: no copy of this process's page tables and no copy-on-write faults after (dear under TCG); this process
     * waits until the child has exec'd or given up, and the child's errno comes back through shared memory. */
    char **own_environ = environ;
    child_errno = 0;
    pid = vfork();
    if (pid == 0) {
      child_errno = exec_child(in, out[1], err[1], f, argv, envp);
      _exit(127);
    }
    environ = own_environ; /* the child set it for execvp in the memory it shared with us */
    if (pid < 0) e = errno;
    else if (child_errno != 0) {
      e = child_errno;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
  }
  /* From here only the child (and what it starts) and the agent hold write ends: their end-of-file is theirs. */
  if (in >= 0 && in != slot.end) close(in);
  close_slot(&slot);
  close_fds(&out[1], 1);
  close_fds(&err[1], 1);
  free(argv);
  free(envp);
  if (e != 0) {
    close_fds(&out[0], 1);
    close_fds(&err[0], 1);
    event("E %lu %ld\n", id, e, 0);
    return;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK); /* our read ends only: the child's write ends are files of their own */
  /* A writer of bulk output fills up to 1 MiB before it waits: fewer switches between it, this process and the agent. */
  fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  if (nchildren == capchildren) {
    capchildren = capchildren ? capchildren * 2 : 16;
    if (capchildren > MAX_CHILDREN || !(children = realloc(children, capchildren * sizeof *children))) die("too many children");
  }
  children[nchildren++] = (struct child){id, pid, pid, {out[0], err[0]}, {0, 0}, now_ms() + HOLD_MS};
  event("S %lu %ld\n", id, pid, 0);
}

static struct child *find_child(char **f, size_t count) {
  if (count < 3) return NULL;
  unsigned long id = strtoul(f[1], NULL, 10);
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].id == id) return &children[i];
  return NULL;
}

/* The program's whole group (what it started holds its outputs too), as a terminal's Ctrl-C or timeout(1) does. */
static void signal_group(struct child *c, int sig) {
  if (kill(-c->group, sig) < 0 && c->pid > 0) kill(c->pid, sig);
}

static void signal_child(char **f, size_t count) {
  struct child *c = find_child(f, count);
  if (c) signal_group(c, (int)strtol(f[2], NULL, 10));
}

/* "p"/"r": the agent holds back output CH while its host has no credit for it; a child writing more then blocks. */
static void pause_output(char **f, size_t count, int paused) {
  struct child *c = find_child(f, count);
  long ch = count >= 3 ? strtol(f[2], NULL, 10) : 0;
  if (c && (ch == 1 || ch == 2)) c->paused[ch - 1] = paused;
}

/* "X" after what the outputs hold now (their "C" too when every writer is gone): one write for a short program. */
static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->pid != pid) continue;
      for (int ch = 0; ch < 2; ch++)
        for (int k = 0; k < DRAIN_READS && c->fd[ch] >= 0 && !c->paused[ch] && relay(c, ch) > 0; k++) {}
      c->pid = 0;
      if (WIFEXITED(status)) event("X %lu %ld %ld\n", c->id, WEXITSTATUS(status), 0);
      else event("X %lu %ld %ld\n", c->id, -1, WTERMSIG(status));
      break;
    }
  }
}

/* Forgets the children that are reaped and whose outputs both ended. */
static void sweep(void) {
  for (size_t i = 0; i < nchildren;) {
    struct child *c = &children[i];
    if (c->pid == 0 && c->fd[0] < 0 && c->fd[1] < 0) children[i] = children[--nchildren];
    else i++;
  }
}

static void handle(char *buf, uint32_t len) {
  size_t count;
  char **f = split_fields(buf, len, &count);
  if (count >= 1 && strcmp(f[0], "n") == 0) make_slot();
  else if (count >= 2 && strcmp(f[0], "x") == 0) {
    start_child(f, count);
    reap(); /* a program already gone: its "X" goes out with its "S" */
  }
  else if (count >= 1 && strcmp(f[0], "k") == 0) signal_child(f, count);
  else if (count >= 1 && strcmp(f[0], "p") == 0) pause_output(f, count, 1);
  else if (count >= 1 && strcmp(f[0], "r") == 0) pause_output(f, count, 0);
  free(f);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The floor of this spawner's way: fork, exec and wait of one program with stdio on /dev/null; each after `idle_ms`
 * asleep when that is not 0 (a spawn right after another finds the vCPU and its caches warm, an exec never does). */
static int bench(int runs, int idle_ms, char **argv) {
  if (runs < 1 || runs > 100000 || idle_ms < 0 || idle_ms > 10000) return 2;
  double *t = calloc((size_t)runs, sizeof *t);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (!t || null < 0) die("bench");
  for (int i = 0; i <= runs; i++) {
    if (idle_ms > 0) usleep((useconds_t)idle_ms * 1000);
    double start = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      dup2(null, 0), dup2(null, 1), dup2(null, 2);
      execvp(argv[0], argv);
      _exit(127);
    }
    if (pid < 0 || waitpid(pid, NULL, 0) < 0) die("bench fork");
    if (i > 0) t[i - 1] = now_ms() - start; /* the first run warms the caches */
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  printf("{\"p50\":%.3f,\"p99\":%.3f}\n", t[runs / 2], t[runs * 99 / 100 < runs ? runs * 99 / 100 : runs - 1]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "--bench") == 0) return bench(atoi(argv[2]), 0, argv + 3);
  if (argc >= 5 && strcmp(argv[1], "--bench-idle") == 0) return bench(atoi(argv[3]), atoi(argv[2]), argv + 4);
  if (argc != 1) {
    fprintf(stderr, "usage: lodge-spawn | lodge-spawn --bench N PROGRAM [ARGS...] | lodge-spawn --bench-idle MS N PROGRAM [ARGS...]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  find_ignored();
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETPIPE_SZ, 1 << 20); /* a wake-up's output records go in one write (if the pipe to the agent allows) */
  /* Two fds per running child are kept here: allow as many as the hard limit does. */
  if (getrlimit(RLIMIT_NOFILE, &nofile_given) == 0 && nofile_given.rlim_cur < nofile_given.rlim_max) {
    struct rlimit raised = {nofile_given.rlim_max, nofile_given.rlim_max};
    setrlimit(RLIMIT_NOFILE, &raised);
  }

  static char head[4];
  size_t have = 0;
  uint32_t need = 0;
  char *body = NULL;
  struct pollfd *p = NULL;
  size_t capp = 0;
  for (;;) {
    sweep();
    /* Held while a program started less than HOLD_MS ago runs: its start, output and end then reach the agent in one
     * write (one wake-up of the agent, one writev of frames to the host), not three. */
    int timeout = -1;
    if (nevents > 0) {
      double now = now_ms(), left = HOLD_MS - (now - pending_since);
      int holding = 0;
      for (size_t i = 0; i < nchildren && !holding; i++) holding = children[i].pid > 0 && children[i].hold > now;
      if (!holding || left <= 0) flush_events();
      else timeout = (int)left + 1;
    }
    if (capp < 2 + 2 * nchildren) {
      capp = 2 + 2 * capchildren;
      if (!(p = realloc(p, capp * sizeof *p))) die("realloc");
    }
    p[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    p[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
    /* The outputs being read: entry 2 + 2i + ch is child i's output ch (fd -1, skipped by poll, when ended or paused). */
    for (size_t i = 0; i < nchildren; i++)
      for (int ch = 0; ch < 2; ch++) {
        struct child *c = &children[i];
        p[2 + 2 * i + (size_t)ch] = (struct pollfd){.fd = c->paused[ch] ? -1 : c->fd[ch], .events = POLLIN};
      }
    int ready = poll(p, 2 + 2 * nchildren, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    size_t polled = nchildren;
    for (size_t i = 0; i < polled; i++)
      for (int ch = 0; ch < 2; ch++)
        if (p[2 + 2 * i + (size_t)ch].fd >= 0 && (p[2 + 2 * i + (size_t)ch].revents & (POLLIN | POLLHUP | POLLERR)))
          /* A few reads while full ones come: fewer wake-ups of this process and of the agent for bulk output. */
          for (int k = 0; k < BURST_READS && children[i].fd[ch] >= 0 && !children[i].paused[ch] && relay(&children[i], ch) == CHUNK; k++) {}
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0) {}
      reap();
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = body ? read(0, body + have, need - have) : read(0, head + have, sizeof head - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) agent_gone(); /* the agent closed our stdin */
    have += (size_t)n;
    if (!body && have == sizeof head) {
      need = (uint32_t)(unsigned char)head[0] | (uint32_t)(unsigned char)head[1] << 8 | (uint32_t)(unsigned char)head[2] << 16 | (uint32_t)(unsigned char)head[3] << 24;
      if (need == 0 || need > MAX_REQUEST) {
        fprintf(stderr, "lodge-spawn: request of %u bytes refused\n", need);
        return 1;
      }
      if (!(body = malloc(need))) die("malloc");
      have = 0;
    } else if (body && have == need) {
      handle(body, need);
      free(body);
      body = NULL;
      have = 0;
    }
  }
}
