/*
 * lodge-spawn: the Lodge agent's resident fork server. Forking a small static process costs far less than
 * forking the whole Node agent (libuv's spawn), so the agent asks this program to start its exec children.
 *
 * Usage: lodge-spawn SOCKET         serve the agent on stdin/stdout; children's stdio connect to SOCKET
 *        lodge-spawn --bench N PROG time N fork+exec+wait of PROG (stdio on /dev/null), print p50/p99 in ms
 *
 * Requests on stdin: u32 little-endian length, then that many bytes of NUL-terminated fields:
 *   x ID STDIN(0|1) UID GID GROUPS CWD ARGC ARGV... ENV...  start a child (UID "" = as this process;
 *                                                           GROUPS: comma-separated gids, set with setgroups)
 *   k ID SIGNO                                              signal a child that has not been reaped yet
 * Events on stdout, one line each: "S ID PID SLOT" started, "E ID ERRNO SLOT" failed to start, "X ID CODE SIGNO" ended
 * (CODE -1 when killed by SIGNO). Each child's stdin (when asked, else /dev/null), stdout and stderr are unix
 * stream connections to SOCKET. Stdout and stderr come from a small pool connected while idle (headers
 * "P SLOT 1\n", "P SLOT 2\n"; SLOT in the S event says which pair the child got), so the agent's work of accepting
 * them is off the exec's path; with the pool empty, and for stdin, they are connected per child with "ID CH\n"
 * (SLOT 0).
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (16u << 20)
#define MAX_GROUPS 65536
#define MAX_CHILDREN 65536
#define POOL 2
/* Quiet time after which the pool is refilled: not while a child starts or the agent handles its end. */
#define REFILL_IDLE_MS 20

extern char **environ;

struct child {
  unsigned long id;
  pid_t pid;
};

static struct child *children;
static size_t nchildren, capchildren;
static const char *socket_path;
static struct { unsigned long slot; int out, err; } pool[POOL];
static int pool_n;
static unsigned long next_slot = 1;

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

static void event(const char *fmt, unsigned long id, long a, long b) {
  char line[96];
  int n = snprintf(line, sizeof line, fmt, id, a, b);
  write_all(1, line, (size_t)n);
}

/* One stdio connection to the agent, announced by its header ("ID CH", or "P SLOT CH" with pooled); -1 with errno set on failure. */
static int connect_stdio(unsigned long id, int ch, int pooled) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, socket_path, sizeof addr.sun_path - 1);
  char header[48];
  int n = snprintf(header, sizeof header, pooled ? "P %lu %d\n" : "%lu %d\n", id, ch);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || write(fd, header, (size_t)n) != n) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* Connects stdout/stderr pairs until the pool is full (or the agent's socket refuses: retried at the next idle). */
static void refill(void) {
  while (pool_n < POOL) {
    unsigned long slot = next_slot;
    int out = connect_stdio(slot, 1, 1);
    int err = out < 0 ? -1 : connect_stdio(slot, 2, 1);
    if (err < 0) {
      if (out >= 0) close(out);
      return;
    }
    next_slot++;
    pool[pool_n].slot = slot;
    pool[pool_n].out = out;
    pool[pool_n].err = err;
    pool_n++;
  }
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
  if (f[3][0] != '\0') {
    static gid_t groups[MAX_GROUPS];
    int n = parse_groups(f[5], groups);
    if (setgroups((size_t)n, groups) < 0 || setgid((gid_t)strtoul(f[4], NULL, 10)) < 0 || setuid((uid_t)strtoul(f[3], NULL, 10)) < 0) return errno;
  }
  if (chdir(f[6]) < 0) return errno;
  environ = envp; /* execvp searches the child's PATH, as libuv does */
  execvp(argv[0], argv);
  return errno;
}

static void start_child(char **f, size_t count) {
  unsigned long id = strtoul(f[1], NULL, 10);
  size_t argc = count >= 8 ? strtoul(f[7], NULL, 10) : 0;
  if (count < 8 || argc < 1 || argc > count - 8) {
    event("E %lu %ld\n", id, EINVAL, 0);
    return;
  }
  size_t envc = count - 8 - argc;
  char **argv = calloc(argc + 1, sizeof *argv), **envp = calloc(envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + 8, argc * sizeof *argv);
  memcpy(envp, f + 8 + argc, envc * sizeof *envp);

  int fds[3] = {-1, -1, -1}, pipefd[2] = {-1, -1}, e = 0;
  unsigned long slot = 0;
  fds[0] = f[2][0] == '1' ? connect_stdio(id, 0, 0) : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fds[0] >= 0 && pool_n > 0) {
    pool_n--;
    slot = pool[pool_n].slot;
    fds[1] = pool[pool_n].out;
    fds[2] = pool[pool_n].err;
  }
  if (fds[0] < 0 || (fds[1] < 0 && (fds[1] = connect_stdio(id, 1, 0)) < 0) || (fds[2] < 0 && (fds[2] = connect_stdio(id, 2, 0)) < 0) || pipe2(pipefd, O_CLOEXEC) < 0) e = errno;
  pid_t pid = -1;
  if (e == 0) {
    pid = fork();
    if (pid == 0) {
      int code = exec_child(fds[0], fds[1], fds[2], f, argv, envp);
      while (write(pipefd[1], &code, sizeof code) < 0 && errno == EINTR) {}
      _exit(127);
    }
    if (pid < 0) e = errno;
  }
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0) close(fds[i]);
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
    /* A pooled pair handed to a failed child is closed with it: SLOT tells the agent to drop its end. */
    event("E %lu %ld %ld\n", id, e, (long)slot);
    return;
  }
  if (nchildren == capchildren) {
    capchildren = capchildren ? capchildren * 2 : 16;
    if (capchildren > MAX_CHILDREN || !(children = realloc(children, capchildren * sizeof *children))) die("too many children");
  }
  children[nchildren++] = (struct child){id, pid};
  event("S %lu %ld %ld\n", id, pid, (long)slot);
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
      if (WIFEXITED(status)) event("X %lu %ld %ld\n", children[i].id, WEXITSTATUS(status), 0);
      else event("X %lu %ld %ld\n", children[i].id, -1, WTERMSIG(status));
      children[i] = children[--nchildren];
      break;
    }
  }
}

static void handle(char *buf, uint32_t len) {
  size_t count;
  char **f = split_fields(buf, len, &count);
  if (count >= 1 && strcmp(f[0], "x") == 0 && count >= 2) start_child(f, count);
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
  if (argc != 2 || strlen(argv[1]) >= sizeof((struct sockaddr_un *)0)->sun_path) {
    fprintf(stderr, "usage: lodge-spawn SOCKET | lodge-spawn --bench N PROGRAM [ARGS...]\n");
    return 2;
  }
  socket_path = argv[1];
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);

  static char head[4];
  size_t have = 0;
  uint32_t need = 0;
  char *body = NULL;
  refill();
  for (;;) {
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    int ready = poll(p, 2, pool_n < POOL ? REFILL_IDLE_MS : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (ready == 0) {
      refill();
      continue;
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
