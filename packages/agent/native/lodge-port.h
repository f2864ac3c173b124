/* What lodge-port.c (the relay) and port-exec.c (its execs) share: the frame format, the buffer to the port, helpers. */
#ifndef LODGE_PORT_H
#define LODGE_PORT_H
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define UP_CAP (512 * 1024)    /* → port */
#define PUMP_HIGH (128 * 1024) /* sources and execs fill `up` to here: the agent's own frames wait at most this much */
#define FRAME_HEADER 12
#define KIND_HELLO 1
#define KIND_HELLO_ACK 2
#define KIND_OPEN 3
#define KIND_CONTROL 4
#define KIND_DATA 5
#define KIND_WINDOW 6
#define KIND_CLOSE 7
#define KIND_FINISH 8
#define KIND_RESET 9
#define MAX_PAYLOAD (256 * 1024)
#define JSON_MAX (64 * 1024) /* BASE_PAYLOAD: JSON frames stay under it */
#define JOBS 16
#define EXEC_POLL_MAX (4 * JOBS)

/* Bytes for the port: [up_off, up_len) is unsent; add frames only while the agent is between two of its own. */
extern unsigned char up[UP_CAP];
extern size_t up_off, up_len;

void die(const char *what);
/* ms on CLOCK_MONOTONIC */
double now_ms(void);
/* Lowers poll()'s *timeout (-1: none) to reach `until` (ms, as now_ms). */
void poll_until(int *timeout, double until, double now);
uint32_t get_be(const unsigned char *at);
void put_frame_header(unsigned char *at, int kind, int flags, uint32_t stream, uint32_t length);
/* Room for `n` more bytes at the end of `up` (what is unsent moves to the front); 0 when there is none. */
int up_room(size_t n);
/* Frames of the relay's own into `up`, only while the agent is between two of its frames; 0 when there is no room. */
int up_frame(int kind, int flags, uint32_t stream, const void *payload, size_t n);
int up_window(uint32_t stream, int channel, uint32_t credit);
/* An event record for the agent (see lodge-port.c's header). */
void event(const char *format, ...);

/* port-exec.c */
void exec_enable(const char *command);
int exec_may_open(uint32_t stream, uint32_t length);
int exec_open(uint32_t stream, const unsigned char *payload, size_t n);
int exec_owns(uint32_t stream);
void exec_frame(uint32_t stream, int kind, int flags, const unsigned char *payload, size_t n);
void exec_input(uint32_t stream, const unsigned char *bytes, size_t n);
void exec_drop_all(void);
/* For a signal handler: kills each exec that may still run, with its process group; nothing else. */
void exec_kill_all(void);
int exec_pump(void);
void exec_watch(void);
int exec_poll(struct pollfd *fds, int sending, int *timeout);
double exec_quiet_until(void);
extern double exec_quiet_ms;
/* Per-exec timing lines on stderr, as the agent's (LODGE_AGENT_TRACE=1 or /run/lodge/trace at start); when the port
 * read that brought the current frames began (set only while tracing). */
extern int tracing;
extern double port_read_at;
#endif
