/*
 * lodge-spawn: the Lodge agent's resident fork server. Forking a small static process costs far less than
 * forking the whole Node agent (libuv's spawn), so the agent asks this program to start its exec children.
 *
 * Usage: lodge-spawn                serve the agent on stdin/stdout
 *        lodge-spawn --bench N PROG time N fork+exec+wait of PROG (stdio on /dev/null), print p50/p99 in ms
 *
 * Children get anonymous pipes, as with Node's spawn (programs reopen /dev/stdout or /dev/stdin, test -p, tee
 * /dev/stderr). Node cannot receive fds over a socket, so the agent opens its ends through /proc/PID/fd/N of this
 * process (same user: allowed; opening a pipe there never blocks). "n" makes a slot of three pipes (stdin, stdout,
 * stderr) and answers "P SLOT IN OUT ERR", the fds of the agent's ends here (or "P SLOT -ERRNO"). The agent opens
 * them and names the slot in "x"; after the fork this process closes its copies of the child's ends and of stdin, so
 * end-of-file comes when the child and its descendants close theirs (stdout) or when the agent closes its end (stdin).
 * It keeps the read ends of stdout and stderr until the child is reaped, only to tell the agent in "X" whether each
 * is already drained and closed by every writer (then the agent ends that output without waiting for its own EOF).
 *
 * Requests on stdin: u32 little-endian length, then that many bytes of NUL-terminated fields:
 *   n                                                            make a slot
 *   x ID STDIN(0|1) SLOT UID GID GROUPS CWD ARGC ARGV... ENV...  start a child on SLOT (UID "" = as this process;
 *                                                                GROUPS: comma-separated gids, set with setgroups;
 *                                                                STDIN 0: stdin is /dev/null)
 *   k ID SIGNO                                                   signal a child that has not been reaped yet
 * Events on stdout, one line each: "P SLOT ..." slot made, "S ID PID" started, "E ID ERRNO" failed to start,
 * "X ID CODE SIGNO DONE" ended (CODE -1 when killed by SIGNO; DONE bit 1: stdout empty and closed, bit 2: stderr).
 * A slot named in "x" is used up either way. The events of one wake-up go out in one write (an "S" of a program
 * that is already gone arrives with its "X").
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

extern char **environ;

struct child {
  unsigned long id;
  pid_t pid;
  int out, err; /* our copies of the agent's read ends of its stdout and stderr, polled when it is reaped */
};

/* One slot's pipes: the agent's ends (stdin's write end, stdout's and stderr's read ends) and the child's. */
struct slot {
  unsigned long id;
  int agent[3], end[3];
};

static struct child *children;
static size_t nchildren, capchildren;
static struct slot slots[MAX_SLOTS];
static size_t nslots;
static unsigned long next_slot = 1;
/* The fd limit this process was given: raised here (it keeps two fds per child), given back to each child. */
static struct rlimit nofile_given;

static void die(const char *what) {
  fprintf(stderr, "lodge-spawn: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) exit(0); /* the agent is gone */
    buf += n;
    len -= (size_t)n;
  }
}

/* Events wait here until the end of the wake-up: one write (one wake-up of the agent) for all of them. */
static char events[1 << 16];
static size_t nevents;

static void flush_events(void) {
  write_all(1, events, nevents);
  nevents = 0;
}

static void event(const char *fmt, unsigned long id, long a, long b) {
  if (nevents > sizeof events - 128) flush_events();
  nevents += (size_t)snprintf(events + nevents, 128, fmt, id, a, b);
}

static void close_slot(struct slot *s) {
  for (int i = 0; i < 3; i++) {
    if (s->agent[i] >= 0) close(s->agent[i]);
    if (s->end[i] >= 0) close(s->end[i]);
  }
}

/* "n": three pipes, close-on-exec here; the child gets its ends by dup2 and the agent opens its own through /proc. */
static void make_slot(void) {
  unsigned long id = next_slot++;
  struct slot s = {id, {-1, -1, -1}, {-1, -1, -1}};
  int e = nslots == MAX_SLOTS ? EMFILE : 0;
  for (int i = 0; i < 3 && e == 0; i++) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) e = errno;
    else {
      s.agent[i] = i == 0 ? p[1] : p[0];
      s.end[i] = i == 0 ? p[0] : p[1];
    }
  }
  if (nevents > sizeof events - 128) flush_events();
  if (e != 0) {
    close_slot(&s);
    nevents += (size_t)snprintf(events + nevents, 128, "P %lu -%d\n", id, e);
  } else {
    slots[nslots++] = s;
    nevents += (size_t)snprintf(events + nevents, 128, "P %lu %d %d %d\n", id, s.agent[0], s.agent[1], s.agent[2]);
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

/* In the child: stdio in place, signals back to default, user and groups, cwd, then exec. Returns errno. */
static int exec_child(int in, int out, int err, char **f, char **argv, char **envp) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
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

static void start_child(char **f, size_t count) {
  unsigned long id = strtoul(f[1], NULL, 10);
  struct slot slot;
  if (count < F_UID + 5 || !take_slot(strtoul(f[3], NULL, 10), &slot)) {
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

  int in = f[2][0] == '1' ? slot.end[0] : open("/dev/null", O_RDONLY | O_CLOEXEC), pipefd[2] = {-1, -1}, e = 0;
  if (in < 0 || pipe2(pipefd, O_CLOEXEC) < 0) e = errno;
  pid_t pid = -1;
  if (e == 0) {
    pid = fork();
    if (pid == 0) {
      int code = exec_child(in, slot.end[1], slot.end[2], f, argv, envp);
      while (write(pipefd[1], &code, sizeof code) < 0 && errno == EINTR) {}
      _exit(127);
    }
    if (pid < 0) e = errno;
  }
  /* From here only the child (and what it starts) and the agent hold the pipes: their end-of-file is theirs. Read
   * ends kept here change neither (a reader does not hold a pipe open for writers); they go when the child is reaped. */
  if (in >= 0 && in != slot.end[0]) close(in);
  int out = slot.agent[1], err = slot.agent[2];
  if (pid > 0) slot.agent[1] = slot.agent[2] = -1;
  close_slot(&slot);
  if (pipefd[1] >= 0) close(pipefd[1]);
  if (pid > 0) {
    int code = 0;
    ssize_t n;
    while ((n = read(pipefd[0], &code, sizeof code)) < 0 && errno == EINTR) {}
    if (n == (ssize_t)sizeof code) {
      e = code;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
  }
  if (pipefd[0] >= 0) close(pipefd[0]);
  free(argv);
  free(envp);
  if (e != 0) {
    if (pid > 0) close(out), close(err);
    event("E %lu %ld\n", id, e, 0);
    return;
  }
  if (nchildren == capchildren) {
    capchildren = capchildren ? capchildren * 2 : 16;
    if (capchildren > MAX_CHILDREN || !(children = realloc(children, capchildren * sizeof *children))) die("too many children");
  }
  children[nchildren++] = (struct child){id, pid, out, err};
  event("S %lu %ld\n", id, pid, 0);
}

/* Bit 1 stdout, bit 2 stderr: the pipe is empty and no writer is left (hang-up without data). */
static long drained(const struct child *c) {
  struct pollfd p[2] = {{.fd = c->out, .events = POLLIN}, {.fd = c->err, .events = POLLIN}};
  long done = 0;
  if (poll(p, 2, 0) >= 0)
    for (int i = 0; i < 2; i++)
      if ((p[i].revents & POLLHUP) && !(p[i].revents & POLLIN)) done |= 1L << i;
  return done;
}

static void signal_child(char **f, size_t count) {
  if (count < 3) return;
  unsigned long id = strtoul(f[1], NULL, 10);
  int signo = (int)strtol(f[2], NULL, 10);
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].id == id) kill(children[i].pid, signo);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < nchildren; i++) {
      if (children[i].pid != pid) continue;
      long done = drained(&children[i]);
      close(children[i].out);
      close(children[i].err);
      if (WIFEXITED(status)) event("X %lu %ld %ld", children[i].id, WEXITSTATUS(status), 0);
      else event("X %lu %ld %ld", children[i].id, -1, WTERMSIG(status));
      event(" %lu\n", (unsigned long)done, 0, 0);
      children[i] = children[--nchildren];
      break;
    }
  }
}

static void handle(char *buf, uint32_t len) {
  size_t count;
  char **f = split_fields(buf, len, &count);
  if (count >= 1 && strcmp(f[0], "n") == 0) make_slot();
  else if (count >= 1 && strcmp(f[0], "x") == 0 && count >= 2) {
    start_child(f, count);
    reap(); /* a program already gone: its "X" goes out with its "S" */
  }
  else if (count >= 1 && strcmp(f[0], "k") == 0) signal_child(f, count);
  free(f);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The floor of this spawner's way: fork, exec and wait of one program with stdio on /dev/null. */
static int bench(int runs, char **argv) {
  if (runs < 1 || runs > 100000) return 2;
  double *t = calloc((size_t)runs, sizeof *t);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (!t || null < 0) die("bench");
  for (int i = 0; i <= runs; i++) {
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
  if (argc >= 4 && strcmp(argv[1], "--bench") == 0) return bench(atoi(argv[2]), argv + 3);
  if (argc != 1) {
    fprintf(stderr, "usage: lodge-spawn | lodge-spawn --bench N PROGRAM [ARGS...]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  /* Two fds per running child are kept here: allow as many as the hard limit does. */
  if (getrlimit(RLIMIT_NOFILE, &nofile_given) == 0 && nofile_given.rlim_cur < nofile_given.rlim_max) {
    struct rlimit raised = {nofile_given.rlim_max, nofile_given.rlim_max};
    setrlimit(RLIMIT_NOFILE, &raised);
  }

  static char head[4];
  size_t have = 0;
  uint32_t need = 0;
  char *body = NULL;
  for (;;) {
    if (nevents > 0) flush_events();
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    int ready = poll(p, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0) {}
      reap();
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = body ? read(0, body + have, need - have) : read(0, head + have, sizeof head - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0; /* the agent closed our stdin: it is gone */
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
