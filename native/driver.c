// meshbench's native load driver: one thread, epoll, non-blocking sockets.
//
//   native/build/driver '<LoadSpec JSON>'      HTTP/1.1 keep-alive (or gRPC when the spec has "grpc")
//   native/build/driver --version              {"driver":"native","version":"…"}
//   native/build/driver --histogram < values   µs values in, {"latencyUs":…,"histogram":…} out (tests)
//
// The contract is harness/load/driverMain.ts's: stdout gets `{"phase":"measure"}` when the
// measured window opens, then exactly one line — the DriverOutcome (harness/load/types.ts:
// LoadOutcome + accounting, + grpc figures for gRPC), or `{"error":"…"}` with exit 1 (2 for a
// bad spec). Diagnostics go to stderr. SIGTERM/SIGINT abort (an error line, exit 1).
//
// Load models (as harness/load/autocannon.ts and grpcDriver.ts, whose accounting this keeps):
// - open: request i is intended at start + i/rate and goes to target i mod T (weights: the
//   i-th slot of schedule.ts's weighted cycle, ported here); it is written at its intended
//   time on a free connection of its target — met by sleeping (epoll_pwait2, timer slack
//   1 ns) until SPIN_NS before it, then polling — or joins that target's backlog, which
//   connections drain oldest first as they free up. Latency runs from the intended time
//   (wrk2: no coordinated omission); how late the write was is the scheduler lateness.
// - closed: every connection (HTTP/2: every stream slot) sends its next request as soon as
//   the previous answer arrives; latency from the write.
// A response counts by its completion time: warm-up, window [start + warm-up, + duration),
// or late; after the window nothing new is written and what is in flight is awaited (≤ grace),
// so that sent = responses + lost, responses = warmup + requests + non2xx + late.
// Every loop is bounded: the run ends by a hard deadline whatever happens.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "driver_json.h"
#include "hist.h"

#define DRIVER_NAME "native"
#define DRIVER_VERSION "1"
#define USER_AGENT "meshbench-native/" DRIVER_VERSION

#define NS_PER_MS 1000000LL
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_GRACE_MS 5000
#define CONNECT_WAIT_MS 5000
#define RECONNECT_DELAY_MS 100
#define SWEEP_MS 50
/** Open model: the last stretch before an intended send is polled, not slept. */
#define SPIN_NS 60000LL
#define READ_CHUNK 65536
#define MAX_EVENTS 256

// ---------------------------------------------------------------------------------------
// Spec

typedef struct {
  char *host;
  int port;
  char *path;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  char *request; // HTTP/1.1: the whole request, built once
  size_t request_len;
  char authority[300];
} target;

typedef struct {
  target *targets;
  int ntargets;
  int open;
  double rate;
  int connections;
  double *weights; // NULL: round robin
  int64_t duration_ms, warmup_ms, timeout_ms;
  // gRPC
  int grpc, grpc_stream, messages_per_stream, streams_per_connection, answer_status;
} spec_t;

static spec_t S;

// ---------------------------------------------------------------------------------------
// Clock

static inline int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

// ---------------------------------------------------------------------------------------
// Weighted spread: a port of harness/load/schedule.ts (apportionWeighted, interleave,
// weightedCycle, connectionTargets), so both drivers send the same requests to the same
// targets in the same order.

static int *apportion(int total, const double *w, int n) {
  double sum = 0;
  int positive = 0;
  for (int k = 0; k < n; k++) sum += w[k], positive += w[k] > 0;
  if (total < positive) return NULL;
  double *quota = malloc(sizeof(double) * n);
  int *counts = malloc(sizeof(int) * n);
  int assigned = 0;
  for (int k = 0; k < n; k++) {
    quota[k] = (total * w[k]) / sum;
    counts[k] = w[k] > 0 ? (floor(quota[k]) < 1 ? 1 : (int)floor(quota[k])) : 0;
    assigned += counts[k];
  }
  while (assigned > total) {
    int worst = -1;
    for (int k = 0; k < n; k++)
      if (counts[k] > 1 && (worst == -1 || counts[k] - quota[k] > counts[worst] - quota[worst])) worst = k;
    counts[worst]--, assigned--;
  }
  while (assigned < total) {
    int best = -1;
    for (int k = 0; k < n; k++)
      if (w[k] > 0 && (best == -1 || quota[k] - counts[k] > quota[best] - counts[best])) best = k;
    counts[best]++, assigned++;
  }
  free(quota);
  return counts;
}

static int *interleave(const int *counts, int n, int *len_out) {
  int len = 0;
  for (int k = 0; k < n; k++) len += counts[k];
  long *current = calloc(n, sizeof(long));
  int *order = malloc(sizeof(int) * (len ? len : 1));
  for (int i = 0; i < len; i++) {
    int best = -1;
    for (int k = 0; k < n; k++) {
      current[k] += counts[k];
      if (counts[k] > 0 && (best == -1 || current[k] > current[best])) best = k;
    }
    current[best] -= len;
    order[i] = best;
  }
  free(current);
  *len_out = len;
  return order;
}

static int *cycle_order;
static int cycle_len;

static void build_cycle(void) {
  if (!S.weights) return;
  double sum = 0, smallest = INFINITY;
  int positive = 0;
  for (int k = 0; k < S.ntargets; k++) {
    sum += S.weights[k];
    if (S.weights[k] > 0) positive++, smallest = S.weights[k] < smallest ? S.weights[k] : smallest;
  }
  smallest /= sum;
  double want = floor(1 / smallest + 0.5); // Math.round
  int len = (int)(want < positive ? positive : want);
  if (len > 100000) len = 100000;
  int *counts = apportion(len, S.weights, S.ntargets);
  cycle_order = interleave(counts, S.ntargets, &cycle_len);
  free(counts);
}

static inline int target_of_request(int64_t index) {
  return cycle_order ? cycle_order[index % cycle_len] : (int)(index % S.ntargets);
}

// ---------------------------------------------------------------------------------------
// Run state

typedef struct conn conn;
typedef struct call call;

enum { C_CLOSED, C_CONNECTING, C_OPEN };

/** HTTP/1.1 response parser state. */
enum { H_STATUS, H_HEADERS, H_BODY, H_CHUNK_SIZE, H_CHUNK_DATA, H_CHUNK_CRLF, H_TRAILERS, H_UNTIL_EOF };

typedef struct {
  int state;
  char line[8192];
  int line_len;
  int status;
  int64_t content_length;
  int chunked, close;
  uint64_t left;
} h1parser;

struct call {
  conn *c;
  int32_t stream_id;
  int64_t origin_ns, sent_ns;
  int http_status, grpc_status, replies;
  uint32_t msg_left, length;
  int prefix_seen;
  int done; // answered or lost: the stream's close only frees it
  size_t body_off;
  call *prev, *next;
};

struct conn {
  int id, fd, target, state;
  int failed_once;    // open model waits for connections that neither opened nor failed
  int64_t reconnect_at;
  int out_armed;
  uint8_t *wbuf;
  size_t wlen, woff, wcap;
  // HTTP/1.1
  int in_flight;
  int64_t origin_ns, sent_ns;
  int64_t index;
  h1parser p;
  conn *free_next;
  int in_free;
  // HTTP/2
  nghttp2_session *h2;
  int ready, goaway, dying, ncalls;
  call *calls_head, *calls_tail;
};

typedef struct {
  int64_t *v;
  size_t head, tail, cap;
} queue;

static struct {
  int ep;
  conn *conns;
  conn **by_target_h2; // per target: list of its conns (gRPC roomFor)
  int *by_target_n;
  int64_t now;
  int64_t start_ns, window_start, window_end, grace_end, hard_deadline;
  int measure_started, stopping, finished;
  double cpu_at_start, driver_cpu_ms;
  int have_cpu;
  // open model
  double interval_ns;
  int64_t total, first_measured, next_due, sent_indices;
  queue *backlog;
  conn **free_head, **free_tail; // HTTP/1.1: FIFO of free connections per target
  int64_t pending_reconnects;
  // accounting
  int64_t sent, responses, warmup_responses, late_responses, lost, unsent, max_backlog, in_flight;
  int64_t ok, not_ok, window_completions, socket_errors, timeouts, connections_opened;
  // gRPC
  int64_t resets, window_replies;
  mb_hist latency, lateness;
} R;

static volatile sig_atomic_t aborted_by;
static int sched_fifo; // running SCHED_FIFO (open model, when permitted)
/**
 * Open model: after a write, poll (rather than sleep in epoll) for this long, so an answer
 * that comes back within it is read without a wake-up from idle — in a VM tens of µs that
 * would count as latency though they are the driver's own. 0 turns it off
 * (MESHBENCH_DRIVER_RECV_SPIN_US).
 */
static int64_t recv_spin_ns = 300000;
static int64_t last_send_ns;

typedef struct {
  char key[24];
  int64_t count;
} status_count;
static status_count statuses[64];
static int nstatuses;

static void count_status(const char *key) {
  for (int i = 0; i < nstatuses; i++)
    if (!strcmp(statuses[i].key, key)) {
      statuses[i].count++;
      return;
    }
  if (nstatuses < 64) {
    snprintf(statuses[nstatuses].key, sizeof statuses[nstatuses].key, "%s", key);
    statuses[nstatuses++].count = 1;
  }
}

static inline int64_t intended_ns(int64_t index) { return R.start_ns + (int64_t)llround((double)index * R.interval_ns); }

/** The smallest index whose intended time (relative to the start) is ≥ rel_ns − 1 ns (schedule.ts's epsilon). */
static int64_t first_index_at_or_after(int64_t rel_ns) {
  double t = (double)rel_ns - 1.0;
  if (t <= 0) return 0;
  int64_t i = (int64_t)ceil(t / R.interval_ns);
  while (i > 0 && (double)(i - 1) * R.interval_ns >= t) i--;
  while ((double)i * R.interval_ns < t) i++;
  return i;
}

static inline int in_window_or_later(void) { return R.now >= R.window_start && !R.finished; }

// ---------------------------------------------------------------------------------------
// Queues (per-target backlog of request indices, oldest first)

static void q_push(queue *q, int64_t v) {
  if (q->tail == q->cap) {
    if (q->head > 0) {
      memmove(q->v, q->v + q->head, (q->tail - q->head) * sizeof(int64_t));
      q->tail -= q->head, q->head = 0;
    }
    if (q->tail == q->cap) {
      q->cap = q->cap ? q->cap * 2 : 64;
      q->v = realloc(q->v, q->cap * sizeof(int64_t));
    }
  }
  q->v[q->tail++] = v;
}
static inline int q_empty(const queue *q) { return q->head == q->tail; }
static inline int64_t q_pop(queue *q) {
  int64_t v = q->v[q->head++];
  if (q->head == q->tail) q->head = q->tail = 0;
  return v;
}

// ---------------------------------------------------------------------------------------
// Sockets

static void arm_out(conn *c, int on) {
  if (c->fd < 0 || c->out_armed == on) return;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(R.ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->out_armed = on;
}

static void conn_fail(conn *c, int count_error);

/** A diagnostic line on stderr (the harness shows its tail when a cell fails); at most 20 a run. */
static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...) {
  static int printed;
  if (printed >= 20) return;
  if (++printed == 20) {
    fputs("meshbench-native: (further diagnostics suppressed)\n", stderr);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  fputs("meshbench-native: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
static void on_connected(conn *c);
static void release_h1(conn *c);
static void h2_fill(conn *c);

static void conn_open(conn *c) {
  c->reconnect_at = 0;
  if (R.finished || R.stopping) return;
  const target *t = &S.targets[c->target];
  int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "socket: %s\n", strerror(errno));
    c->failed_once = 1;
    c->reconnect_at = R.now + RECONNECT_DELAY_MS * NS_PER_MS;
    R.pending_reconnects++;
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = C_CONNECTING;
  c->out_armed = 1;
  c->wlen = c->woff = 0;
  memset(&c->p, 0, sizeof c->p);
  R.connections_opened++;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(R.ep, EPOLL_CTL_ADD, fd, &ev);
  if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 && errno != EINPROGRESS) {
    conn_fail(c, 1);
  }
}

/** Writes what is buffered; 0 when all is out, 1 when the socket is full, -1 on error. */
static int conn_flush(conn *c) {
  while (c->woff < c->wlen) {
    ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        arm_out(c, 1);
        return 1;
      }
      if (errno == EINTR) continue;
      return -1;
    }
    c->woff += (size_t)n;
  }
  c->wlen = c->woff = 0;
  arm_out(c, 0);
  return 0;
}

static void conn_buffer(conn *c, const void *p, size_t n) {
  if (c->wlen + n > c->wcap) {
    size_t cap = c->wcap ? c->wcap : 4096;
    while (cap < c->wlen + n) cap *= 2;
    c->wbuf = realloc(c->wbuf, cap);
    c->wcap = cap;
  }
  memcpy(c->wbuf + c->wlen, p, n);
  c->wlen += n;
}

// ---------------------------------------------------------------------------------------
// Response accounting (shared by HTTP/1.1 and gRPC)

/** A response completed at R.now: by window, with its latency from origin. */
static void account_response(int64_t origin_ns, int ok, const char *status_key, int replies) {
  R.in_flight--;
  R.responses++;
  if (R.now < R.window_start) {
    R.warmup_responses++;
  } else if (R.now < R.window_end) {
    R.window_completions++;
    int64_t us = (R.now - origin_ns + 500) / 1000;
    mb_hist_record(&R.latency, us < 1 ? 1 : (uint64_t)us);
    if (ok) R.ok++;
    else R.not_ok++;
    if (status_key) count_status(status_key);
    R.window_replies += replies;
  } else {
    R.late_responses++;
  }
}

static void account_lost(int count_error) {
  R.in_flight--;
  R.lost++;
  if (count_error && in_window_or_later()) R.socket_errors++;
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1

static void h1_send(conn *c, int64_t origin_ns, int64_t index) {
  const target *t = &S.targets[c->target];
  c->in_flight = 1;
  c->origin_ns = origin_ns;
  c->index = index;
  R.in_flight++;
  R.sent++;
  c->sent_ns = mono_ns();
  last_send_ns = c->sent_ns;
  ssize_t n = send(c->fd, t->request, t->request_len, MSG_NOSIGNAL);
  if (n == (ssize_t)t->request_len) return;
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    conn_fail(c, 1);
    return;
  }
  if (n < 0) n = 0;
  conn_buffer(c, t->request + n, t->request_len - (size_t)n);
  if (conn_flush(c) < 0) conn_fail(c, 1);
}

static void h1_response_done(conn *c) {
  int status = c->p.status;
  int close_after = c->p.close;
  memset(&c->p, 0, sizeof c->p);
  if (!c->in_flight) return; // an answer nobody asked for: ignore
  c->in_flight = 0;
  char key[8];
  snprintf(key, sizeof key, "%d", status);
  account_response(c->origin_ns, status >= 200 && status < 300, NULL, 0);
  if (close_after) {
    // The server ends keep-alive: not an error; a new connection takes over.
    epoll_ctl(R.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    conn_open(c);
    return;
  }
  if (!S.open) {
    if (!R.stopping) h1_send(c, R.now, -1);
  } else {
    release_h1(c);
  }
}

static int ieq_prefix(const char *line, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0;
}

/** Feeds received bytes to the parser; -1 on a protocol error. */
static int h1_feed(conn *c, const char *data, size_t n) {
  h1parser *p = &c->p;
  size_t i = 0;
  while (i < n) {
    if (c->fd < 0) return 0; // closed by a callee (Connection: close)
    if (p->state == H_BODY || p->state == H_CHUNK_DATA) {
      size_t take = n - i < p->left ? n - i : (size_t)p->left;
      p->left -= take;
      i += take;
      if (p->left == 0) {
        if (p->state == H_BODY) h1_response_done(c);
        else p->state = H_CHUNK_CRLF;
      }
      continue;
    }
    if (p->state == H_UNTIL_EOF) return 0; // the body is whatever comes until the close
    // line-based states
    char ch = data[i++];
    if (ch != '\n') {
      if (p->line_len >= (int)sizeof p->line - 1) return -1;
      p->line[p->line_len++] = ch;
      continue;
    }
    if (p->line_len > 0 && p->line[p->line_len - 1] == '\r') p->line_len--;
    p->line[p->line_len] = 0;
    char *line = p->line;
    p->line_len = 0;
    switch (p->state) {
      case H_STATUS:
        if (strncmp(line, "HTTP/1.", 7) || strlen(line) < 12) return -1;
        p->status = atoi(line + 9);
        p->content_length = -1;
        p->chunked = 0;
        p->close = line[7] == '0'; // HTTP/1.0: closes unless told otherwise
        p->state = H_HEADERS;
        break;
      case H_HEADERS:
        if (*line == 0) {
          if (p->status >= 100 && p->status < 200) {
            p->state = H_STATUS;
          } else if (p->status == 204 || p->status == 304) {
            h1_response_done(c);
          } else if (p->chunked) {
            p->state = H_CHUNK_SIZE;
          } else if (p->content_length >= 0) {
            p->left = (uint64_t)p->content_length;
            p->state = H_BODY;
            if (p->left == 0) h1_response_done(c);
          } else {
            p->state = H_UNTIL_EOF;
            p->close = 1;
          }
        } else if (ieq_prefix(line, "content-length:")) {
          p->content_length = strtoll(line + 15, NULL, 10);
        } else if (ieq_prefix(line, "transfer-encoding:")) {
          if (strcasestr(line + 18, "chunked")) p->chunked = 1;
        } else if (ieq_prefix(line, "connection:")) {
          if (strcasestr(line + 11, "close")) p->close = 1;
          else if (strcasestr(line + 11, "keep-alive")) p->close = 0;
        }
        break;
      case H_CHUNK_SIZE: {
        char *end;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line) return -1;
        if (size == 0) p->state = H_TRAILERS;
        else p->left = size, p->state = H_CHUNK_DATA;
        break;
      }
      case H_CHUNK_CRLF:
        p->state = H_CHUNK_SIZE;
        break;
      case H_TRAILERS:
        if (*line == 0) h1_response_done(c);
        break;
    }
  }
  return 0;
}

/** Open model: a free connection takes its target's oldest due request, or joins the free list. */
static void release_h1(conn *c) {
  queue *q = &R.backlog[c->target];
  if (!R.stopping && !q_empty(q)) {
    int64_t index = q_pop(q);
    R.sent_indices++;
    h1_send(c, intended_ns(index), index);
    return;
  }
  if (c->in_free) return;
  c->in_free = 1;
  c->free_next = NULL;
  if (R.free_tail[c->target]) R.free_tail[c->target]->free_next = c;
  else R.free_head[c->target] = c;
  R.free_tail[c->target] = c;
}

static conn *free_pop_h1(int k) {
  conn *c;
  while ((c = R.free_head[k])) {
    R.free_head[k] = c->free_next;
    if (!R.free_head[k]) R.free_tail[k] = NULL;
    c->in_free = 0;
    if (c->state == C_OPEN && !c->in_flight) return c;
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------
// gRPC over HTTP/2 (libnghttp2 client sessions)

static uint8_t grpc_body[32];
static size_t grpc_body_len;
static nghttp2_session_callbacks *h2_callbacks;
static int expected_replies;

static call *call_new(conn *c) {
  call *k = calloc(1, sizeof *k);
  k->c = c;
  k->grpc_status = -1;
  k->prev = c->calls_tail;
  if (c->calls_tail) c->calls_tail->next = k;
  else c->calls_head = k;
  c->calls_tail = k;
  return k;
}

static void call_free(call *k) {
  conn *c = k->c;
  if (k->prev) k->prev->next = k->next;
  else c->calls_head = k->next;
  if (k->next) k->next->prev = k->prev;
  else c->calls_tail = k->prev;
  free(k);
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags, nghttp2_data_source *src, void *ud) {
  call *k = src->ptr;
  size_t left = grpc_body_len - k->body_off;
  size_t n = left < len ? left : len;
  memcpy(buf, grpc_body + k->body_off, n);
  k->body_off += n;
  if (k->body_off == grpc_body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static nghttp2_nv *grpc_headers; // per target, 7 fields each

static int h2_can_send(const conn *c) {
  if (!c->h2 || !c->ready || c->goaway || c->dying || c->state != C_OPEN) return 0;
  if (c->ncalls >= S.streams_per_connection) return 0;
  uint32_t remote_max = nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return (uint32_t)c->ncalls < remote_max;
}

static void h2_send(conn *c, int64_t origin_ns) {
  call *k = call_new(c);
  k->origin_ns = origin_ns;
  k->sent_ns = mono_ns();
  last_send_ns = k->sent_ns;
  nghttp2_data_provider body = {.source.ptr = k, .read_callback = h2_read_body};
  int32_t sid = nghttp2_submit_request(c->h2, NULL, grpc_headers + 7 * c->target, 7, &body, k);
  if (sid < 0) {
    // Out of stream ids (2^31 per connection): the connection is done; the call is lost.
    fprintf(stderr, "nghttp2_submit_request: %s\n", nghttp2_strerror(sid));
    call_free(k);
    R.sent++;
    R.in_flight++;
    account_lost(1);
    c->goaway = 1;
    return;
  }
  k->stream_id = sid;
  c->ncalls++;
  R.in_flight++;
  R.sent++;
}

static const char *classify(const call *k, char *buf, size_t n) {
  if (k->grpc_status == 0) {
    if (k->http_status != 200) snprintf(buf, n, "http-%d", k->http_status);
    else if (k->replies == expected_replies) snprintf(buf, n, "0");
    else snprintf(buf, n, "replies-%d", k->replies);
  } else if (k->grpc_status > 0) {
    snprintf(buf, n, "%d", k->grpc_status);
  } else {
    snprintf(buf, n, "http-%d", k->http_status);
  }
  return buf;
}

static void call_complete(call *k) {
  if (k->done) return;
  k->done = 1;
  k->c->ncalls--;
  char key[24];
  classify(k, key, sizeof key);
  account_response(k->origin_ns, !strcmp(key, "0"), key, k->replies);
}

/** A call that ends without an answer. reset: the server reset it (RST_STREAM, GOAWAY). */
static void call_lose(call *k, int reset) {
  if (k->done) return;
  k->done = 1;
  k->c->ncalls--;
  if (reset) R.resets++;
  account_lost(1);
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen, uint8_t flags, void *ud) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  call *k = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (!k || k->done) return 0;
  char v[16];
  size_t n = valuelen < sizeof v - 1 ? valuelen : sizeof v - 1;
  memcpy(v, value, n);
  v[n] = 0;
  if (namelen == 7 && !memcmp(name, ":status", 7)) k->http_status = atoi(v);
  else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) k->grpc_status = atoi(v);
  return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud) {
  call *k = nghttp2_session_get_stream_user_data(s, sid);
  if (!k || k->done) return 0;
  // Complete gRPC messages: a 5-byte prefix (flag, u32 length), then the body.
  size_t off = 0;
  while (off < len) {
    if (k->msg_left > 0) {
      size_t take = len - off < k->msg_left ? len - off : k->msg_left;
      k->msg_left -= (uint32_t)take;
      off += take;
      if (k->msg_left == 0) k->replies++;
      continue;
    }
    if (k->prefix_seen > 0) k->length = k->length * 256 + data[off];
    off++;
    if (++k->prefix_seen == 5) {
      k->prefix_seen = 0;
      k->msg_left = k->length;
      k->length = 0;
      if (k->msg_left == 0) k->replies++;
    }
  }
  return 0;
}

static int h2_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
  conn *c = ud;
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c->ready = 1;
      break;
    case NGHTTP2_GOAWAY:
      c->goaway = 1;
      break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        call *k = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (k) call_complete(k);
      }
      break;
  }
  return 0;
}

static int h2_on_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud) {
  conn *c = ud;
  call *k = nghttp2_session_get_stream_user_data(s, sid);
  if (!k || c->dying) return 0;
  if (!k->done) call_lose(k, 1);
  call_free(k);
  return 0;
}

static void h2_setup_callbacks(void) {
  nghttp2_session_callbacks_new(&h2_callbacks);
  nghttp2_session_callbacks_set_on_header_callback(h2_callbacks, h2_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2_callbacks, h2_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(h2_callbacks, h2_on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(h2_callbacks, h2_on_close);
}

/**
 * Serializes what nghttp2 has to send and writes it in one send() (nghttp2 hands out one frame
 * at a time: a write per frame would cost the server a read per frame); what the socket does
 * not take stays in the write buffer.
 */
static int h2_flush(conn *c) {
  if (c->woff < c->wlen) {
    int r = conn_flush(c);
    if (r != 0) return r;
  }
  for (int batches = 0; batches < 64; batches++) {
    int more = 0;
    for (int frames = 0; frames < 4096; frames++) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(c->h2, &data);
      if (n < 0) return -1;
      if (n == 0) break;
      conn_buffer(c, data, (size_t)n);
      if (c->wlen >= 256 * 1024) {
        more = 1;
        break;
      }
    }
    if (c->wlen == 0) break;
    int r = conn_flush(c);
    if (r != 0 || !more) return r;
  }
  arm_out(c, 0);
  return 0;
}

static nghttp2_option *h2_option;

static void h2_start(conn *c) {
  if (!h2_option) {
    // The driver reads :status, grpc-status and the DATA itself; nghttp2's HTTP messaging
    // checks of every header field would be work on the hot path for nothing.
    nghttp2_option_new(&h2_option);
    nghttp2_option_set_no_http_messaging(h2_option, 1);
  }
  nghttp2_session_client_new2(&c->h2, h2_callbacks, c, h2_option);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24},
  };
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
  nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 1 << 30);
  c->ready = c->goaway = c->dying = 0;
  c->ncalls = 0;
  if (h2_flush(c) < 0) conn_fail(c, 1);
}

/** Writes what this connection may carry now: closed model up to its limit, open model its target's backlog. */
static void h2_fill(conn *c) {
  if (R.stopping || !c->h2) return;
  if (!S.open) {
    for (int i = 0; i < S.streams_per_connection && h2_can_send(c); i++) h2_send(c, mono_ns());
  } else {
    queue *q = &R.backlog[c->target];
    while (!q_empty(q) && h2_can_send(c)) {
      int64_t index = q_pop(q);
      R.sent_indices++;
      h2_send(c, intended_ns(index));
    }
  }
}

/** The connection of target k with the fewest calls in flight that can take one more. */
static conn *h2_room_for(int k) {
  conn *best = NULL;
  for (int i = 0; i < R.by_target_n[k]; i++) {
    conn *c = R.by_target_h2[k * S.connections + i];
    if ((!best || c->ncalls < best->ncalls) && h2_can_send(c)) best = c;
  }
  return best;
}

static void h2_drop_session(conn *c) {
  if (!c->h2) return;
  c->dying = 1;
  for (call *k = c->calls_head, *next; k; k = next) {
    next = k->next;
    if (!k->done) call_lose(k, 0);
    call_free(k);
  }
  nghttp2_session_del(c->h2);
  c->h2 = NULL;
  c->ready = 0;
}

// ---------------------------------------------------------------------------------------
// Connection life cycle

/** The connection failed or was closed under a request: its request is lost; it is re-opened. */
static void conn_fail(conn *c, int count_error) {
  int was_open = c->state == C_OPEN;
  if (count_error && c->in_flight) diag("connection to %s lost with a request in flight", S.targets[c->target].authority);
  if (count_error && in_window_or_later()) R.socket_errors++;
  if (c->in_flight) {
    c->in_flight = 0;
    account_lost(0); // counted once above, as autocannon's connError
  }
  h2_drop_session(c);
  if (c->fd >= 0) {
    epoll_ctl(R.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = C_CLOSED;
  c->failed_once = 1;
  c->wlen = c->woff = 0;
  if (R.finished || R.stopping) return;
  // A connection the server dropped is re-opened at once; one that failed to connect after 100 ms.
  c->reconnect_at = R.now + (was_open && !S.grpc ? 0 : RECONNECT_DELAY_MS * NS_PER_MS);
  R.pending_reconnects++;
}

static void on_connected(conn *c) {
  c->state = C_OPEN;
  arm_out(c, 0); // armed for the connect only; writes arm it again when the socket is full
  if (S.grpc) {
    h2_start(c);
    return;
  }
  if (!S.open) {
    if (!R.stopping) h1_send(c, mono_ns(), -1);
  } else if (R.start_ns) {
    release_h1(c);
  }
}

static char rbuf[READ_CHUNK];

static void on_readable(conn *c) {
  for (int rounds = 0; rounds < 64 && c->fd >= 0; rounds++) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    R.now = mono_ns();
    if (n > 0) {
      if (S.grpc) {
        ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)rbuf, (size_t)n);
        if (r < 0) {
          fprintf(stderr, "HTTP/2 from %s: %s\n", S.targets[c->target].authority, nghttp2_strerror((int)r));
          conn_fail(c, 1);
          return;
        }
        h2_fill(c);
        if (h2_flush(c) < 0) {
          conn_fail(c, 1);
          return;
        }
      } else if (h1_feed(c, rbuf, (size_t)n) < 0) {
        fprintf(stderr, "HTTP/1.1 from %s: cannot parse the response\n", S.targets[c->target].authority);
        conn_fail(c, 1);
        return;
      }
      if ((size_t)n < sizeof rbuf) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    // EOF or error
    if (n == 0 && !S.grpc && c->p.state == H_UNTIL_EOF && c->in_flight) {
      c->p.close = 1;
      h1_response_done(c); // the body ended with the connection; it re-opens
      return;
    }
    conn_fail(c, n < 0 || c->in_flight || (S.grpc && c->ncalls > 0));
    return;
  }
}

static void on_event(conn *c, uint32_t events) {
  R.now = mono_ns();
  if (c->state == C_CONNECTING) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) {
        diag("connect to %s: %s", S.targets[c->target].authority, strerror(err));
        conn_fail(c, 1);
        return;
      }
      on_connected(c);
      if (c->fd < 0) return;
    }
  }
  if (events & EPOLLOUT && c->state == C_OPEN) {
    int r = S.grpc ? h2_flush(c) : conn_flush(c);
    if (r < 0) {
      conn_fail(c, 1);
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP) && c->fd >= 0) on_readable(c);
}

// ---------------------------------------------------------------------------------------
// Open-model scheduler

static void schedule_due(void) {
  int64_t now = mono_ns();
  while (R.next_due < R.total) {
    int64_t intended = intended_ns(R.next_due);
    if (intended > now) break;
    int64_t index = R.next_due++;
    int k = target_of_request(index);
    queue *q = &R.backlog[k];
    // A target with a backlog sends its oldest first: a due request goes out now only when
    // its target has none and a connection is free; else it joins the backlog.
    conn *c = NULL;
    if (q_empty(q)) c = S.grpc ? h2_room_for(k) : free_pop_h1(k);
    if (!c) {
      q_push(q, index);
      continue;
    }
    R.sent_indices++;
    if (index >= R.first_measured) {
      int64_t late_us = (mono_ns() - intended + 500) / 1000;
      mb_hist_record(&R.lateness, late_us < 1 ? 1 : (uint64_t)late_us);
    }
    if (S.grpc) {
      h2_send(c, intended);
      if (h2_flush(c) < 0) conn_fail(c, 1);
    } else {
      h1_send(c, intended, index);
    }
    now = mono_ns();
  }
  int64_t backlog = R.next_due - R.sent_indices;
  if (backlog > R.max_backlog) R.max_backlog = backlog;
}

// ---------------------------------------------------------------------------------------
// Timeouts and reconnects

static void sweep(void) {
  int64_t oldest_allowed = R.now - S.timeout_ms * NS_PER_MS;
  for (int i = 0; i < S.connections; i++) {
    conn *c = &R.conns[i];
    if (c->state == C_CLOSED && c->reconnect_at && c->reconnect_at <= R.now) {
      R.pending_reconnects--;
      conn_open(c);
      continue;
    }
    if (S.grpc) {
      int cancelled = 0;
      for (call *k = c->calls_head; k; k = k->next) {
        if (k->done) continue;
        if (k->sent_ns > oldest_allowed) break;
        R.timeouts++;
        call_lose(k, 0);
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, k->stream_id, NGHTTP2_CANCEL);
        cancelled = 1;
      }
      if (cancelled && h2_flush(c) < 0) conn_fail(c, 1);
    } else if (c->in_flight && c->sent_ns <= oldest_allowed) {
      R.timeouts++;
      conn_fail(c, 1);
    } else if (c->state == C_CONNECTING && c->sent_ns == 0 && 0) {
      // (connect timeouts: the kernel's SYN retries bound them)
    }
  }
}

static void reconnect_due(void) {
  if (R.pending_reconnects <= 0) return;
  for (int i = 0; i < S.connections; i++) {
    conn *c = &R.conns[i];
    if (c->state == C_CLOSED && c->reconnect_at && c->reconnect_at <= R.now) {
      R.pending_reconnects--;
      conn_open(c);
    }
  }
}

static int64_t next_reconnect(void) {
  int64_t t = INT64_MAX;
  if (R.pending_reconnects <= 0) return t;
  for (int i = 0; i < S.connections; i++)
    if (R.conns[i].state == C_CLOSED && R.conns[i].reconnect_at && R.conns[i].reconnect_at < t) t = R.conns[i].reconnect_at;
  return t;
}

// ---------------------------------------------------------------------------------------
// The run

static void on_signal(int sig) { aborted_by = sig; }

static void print_line(const char *s) {
  fputs(s, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void fail_json(const char *msg) {
  sbuf b = {0};
  sb_printf(&b, "{\"error\":");
  sb_jstr(&b, msg);
  sb_printf(&b, "}");
  print_line(b.s);
}

/** Waits for events until `until` (ns), or just polls when until ≤ now. */
static void wait_events(int64_t until) {
  struct epoll_event events[MAX_EVENTS];
  int64_t now = mono_ns();
  struct timespec ts = {0, 0};
  if (until > now) {
    int64_t d = until - now;
    ts.tv_sec = d / 1000000000LL;
    ts.tv_nsec = d % 1000000000LL;
  }
  int n = epoll_pwait2(R.ep, events, MAX_EVENTS, &ts, NULL);
  for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events);
  R.now = mono_ns();
}

static int all_connected(void) {
  for (int i = 0; i < S.connections; i++) {
    conn *c = &R.conns[i];
    int up = S.grpc ? (c->h2 && c->ready) : c->state == C_OPEN;
    if (!up && !c->failed_once) return 0;
  }
  return 1;
}

static void summary_json(sbuf *b, const mb_hist *h) {
  if (h->total == 0) {
    sb_printf(b, "{\"p50\":0,\"p90\":0,\"p99\":0,\"p999\":0,\"max\":0,\"min\":0,\"mean\":0,\"count\":0}");
    return;
  }
  sb_printf(b, "{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu,\"min\":%llu,\"mean\":%.1f,\"count\":%llu}",
            (unsigned long long)mb_hist_percentile(h, 50), (unsigned long long)mb_hist_percentile(h, 90),
            (unsigned long long)mb_hist_percentile(h, 99), (unsigned long long)mb_hist_percentile(h, 99.9),
            (unsigned long long)h->max, (unsigned long long)h->min, floor(mb_hist_mean(h) * 10 + 0.5) / 10,
            (unsigned long long)h->total);
}

static const char *driver_version(void) {
  static char v[64];
  snprintf(v, sizeof v, "meshbench-native/%s nghttp2/%s", DRIVER_VERSION, nghttp2_version(0)->version_str);
  return v;
}

static void print_outcome(void) {
  double measured_s = S.duration_ms / 1000.0;
  double achieved = R.window_completions / measured_s;
  sbuf b = {0};
  sb_printf(&b, "{\"driver\":\"%s\",\"driverVersion\":\"%s\",\"model\":\"%s\"", DRIVER_NAME, driver_version(), S.open ? "open" : "closed");
  if (S.open) sb_printf(&b, ",\"requestedRps\":%.17g", S.rate);
  sb_printf(&b, ",\"achievedRps\":%.1f,\"requests\":%lld,\"non2xx\":%lld,\"socketErrors\":%lld,\"connections\":%d,\"measuredMs\":%lld",
            floor(achieved * 10 + 0.5) / 10, (long long)R.ok, (long long)R.not_ok, (long long)R.socket_errors, S.connections,
            (long long)S.duration_ms);
  sb_printf(&b, ",\"saturated\":%s,\"latencyUs\":", S.open && achieved < 0.95 * S.rate ? "true" : "false");
  summary_json(&b, &R.latency);
  char *hist = mb_hist_encode_base64(&R.latency);
  sb_printf(&b, ",\"histogram\":\"%s\"", hist);
  free(hist);
  sb_printf(&b, ",\"accounting\":{\"sent\":%lld,\"responses\":%lld,\"warmupResponses\":%lld,\"lateResponses\":%lld,\"lost\":%lld,"
               "\"unsent\":%lld,\"maxBacklog\":%lld,\"timeouts\":%lld,\"connectionsOpened\":%lld",
            (long long)R.sent, (long long)R.responses, (long long)R.warmup_responses, (long long)R.late_responses, (long long)R.lost,
            (long long)R.unsent, (long long)R.max_backlog, (long long)R.timeouts, (long long)R.connections_opened);
  if (S.open) {
    sb_printf(&b, ",\"schedulerLatenessUs\":");
    summary_json(&b, &R.lateness);
  }
  sb_printf(&b, ",\"scheduling\":\"%s\",\"processes\":1", sched_fifo ? "fifo" : "other");
  if (R.have_cpu) sb_printf(&b, ",\"driverCpuMs\":%.1f", R.driver_cpu_ms);
  sb_printf(&b, "}");
  if (S.grpc) {
    sb_printf(&b, ",\"grpc\":{\"method\":\"%s\",\"messagesPerStream\":%d,\"streamsPerConnection\":%d,\"statuses\":{",
              S.grpc_stream ? "stream" : "unary", S.messages_per_stream, S.streams_per_connection);
    for (int i = 0; i < nstatuses; i++) sb_printf(&b, "%s\"%s\":%lld", i ? "," : "", statuses[i].key, (long long)statuses[i].count);
    sb_printf(&b, "},\"replies\":%lld,\"connectionsOpened\":%lld,\"resets\":%lld,\"timeouts\":%lld}", (long long)R.window_replies,
              (long long)R.connections_opened, (long long)R.resets, (long long)R.timeouts);
  }
  sb_printf(&b, "}");
  print_line(b.s);
  free(b.s);
}

static int run(void) {
  R.ep = epoll_create1(EPOLL_CLOEXEC);
  R.conns = calloc(S.connections, sizeof(conn));
  R.backlog = calloc(S.ntargets, sizeof(queue));
  R.free_head = calloc(S.ntargets, sizeof(conn *));
  R.free_tail = calloc(S.ntargets, sizeof(conn *));
  R.by_target_h2 = calloc((size_t)S.ntargets * S.connections, sizeof(conn *));
  R.by_target_n = calloc(S.ntargets, sizeof(int));
  mb_hist_init(&R.latency);
  mb_hist_init(&R.lateness);
  R.window_start = R.window_end = INT64_MAX;
  if (S.grpc) h2_setup_callbacks();

  // Connections by weight (schedule.ts connectionTargets).
  int *targets_of_conn;
  if (S.weights) {
    int *counts = apportion(S.connections, S.weights, S.ntargets);
    int len;
    targets_of_conn = interleave(counts, S.ntargets, &len);
    free(counts);
  } else {
    targets_of_conn = malloc(sizeof(int) * S.connections);
    for (int j = 0; j < S.connections; j++) targets_of_conn[j] = j % S.ntargets;
  }
  int64_t created = mono_ns();
  R.now = created;
  R.hard_deadline = created + (CONNECT_WAIT_MS + S.warmup_ms + S.duration_ms + MAX_GRACE_MS + 5000) * NS_PER_MS;
  for (int j = 0; j < S.connections; j++) {
    conn *c = &R.conns[j];
    c->id = j;
    c->fd = -1;
    c->target = targets_of_conn[j];
    R.by_target_h2[c->target * S.connections + R.by_target_n[c->target]++] = c;
    conn_open(c);
  }
  free(targets_of_conn);

  if (S.open) {
    int64_t wait_until = mono_ns() + CONNECT_WAIT_MS * NS_PER_MS;
    for (int rounds = 0; !all_connected() && R.now < wait_until && !aborted_by && rounds < 100000; rounds++) {
      wait_events(wait_until < R.now + 10 * NS_PER_MS ? wait_until : R.now + 10 * NS_PER_MS);
      reconnect_due();
    }
    if (aborted_by) return -1;
    R.start_ns = mono_ns();
    R.interval_ns = 1e9 / S.rate;
    R.total = first_index_at_or_after((S.warmup_ms + S.duration_ms) * NS_PER_MS);
    R.first_measured = first_index_at_or_after(S.warmup_ms * NS_PER_MS);
    if (!S.grpc)
      for (int j = 0; j < S.connections; j++)
        if (R.conns[j].state == C_OPEN && !R.conns[j].in_flight) release_h1(&R.conns[j]);
  } else {
    R.start_ns = created;
    if (S.grpc)
      for (int j = 0; j < S.connections; j++) h2_fill(&R.conns[j]);
  }
  R.window_start = R.start_ns + S.warmup_ms * NS_PER_MS;
  R.window_end = R.window_start + S.duration_ms * NS_PER_MS;
  int64_t next_sweep = mono_ns() + SWEEP_MS * NS_PER_MS;

  for (;;) {
    if (aborted_by) return -1;
    R.now = mono_ns();
    if (R.now >= R.hard_deadline) {
      fprintf(stderr, "hard deadline reached with %lld requests in flight\n", (long long)R.in_flight);
      break;
    }
    if (S.open && !R.stopping) schedule_due();
    R.now = mono_ns();
    if (!R.measure_started && R.now >= R.window_start) {
      R.measure_started = 1;
      R.cpu_at_start = cpu_ms();
      print_line("{\"phase\":\"measure\"}");
    }
    if (!R.stopping && R.now >= R.window_end) {
      if (R.measure_started) {
        R.driver_cpu_ms = floor((cpu_ms() - R.cpu_at_start) * 10 + 0.5) / 10;
        R.have_cpu = 1;
      }
      R.stopping = 1;
      if (S.open) R.unsent = R.total - R.sent_indices;
      int64_t grace = S.timeout_ms < MAX_GRACE_MS ? S.timeout_ms : MAX_GRACE_MS;
      R.grace_end = R.now + grace * NS_PER_MS;
    }
    if (R.stopping && (R.in_flight <= 0 || R.now >= R.grace_end)) break;
    if (R.now >= next_sweep) {
      sweep();
      next_sweep = R.now + SWEEP_MS * NS_PER_MS;
    }
    reconnect_due();
    // Next wake-up: the next intended send (polled for its last SPIN_NS), a window edge, a sweep.
    int64_t until = next_sweep;
    if (!R.measure_started && R.window_start < until) until = R.window_start;
    if (!R.stopping && R.window_end < until) until = R.window_end;
    if (R.stopping && R.grace_end < until) until = R.grace_end;
    int64_t rc = next_reconnect();
    if (rc < until) until = rc;
    if (S.open && !R.stopping && R.next_due < R.total) {
      // Polled for its last SPIN_NS, unless it will join a backlog anyway (saturated: no free connection).
      int backlogged = !q_empty(&R.backlog[target_of_request(R.next_due)]);
      int64_t send_at = intended_ns(R.next_due) - (backlogged ? 0 : SPIN_NS);
      if (send_at < until) until = send_at;
    }
    // An answer due soon after a write is polled for, not slept for.
    if (S.open && R.in_flight > 0 && R.now - last_send_ns < recv_spin_ns) until = R.now;
    wait_events(until);
  }
  // Done: whatever is still in flight is lost.
  R.finished = 1;
  for (int j = 0; j < S.connections; j++) {
    conn *c = &R.conns[j];
    if (c->in_flight) {
      c->in_flight = 0;
      account_lost(0);
    }
    h2_drop_session(c);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// Spec parsing (the harness checked it already: harness/load/spec.ts; this re-checks what
// the driver relies on)

static char spec_error[512];

static int num_field(const jval *o, const char *key, double *out, int required) {
  const jval *v = jget(o, key);
  if (!v) {
    if (required) snprintf(spec_error, sizeof spec_error, "%s: missing", key);
    return !required;
  }
  if (v->type != JNUM) {
    snprintf(spec_error, sizeof spec_error, "%s: must be a number", key);
    return 0;
  }
  *out = v->num;
  return 1;
}

static int parse_spec(const char *text) {
  const char *err;
  jval *root = jparse(text, &err);
  if (!root || root->type != JOBJ) {
    snprintf(spec_error, sizeof spec_error, "LoadSpec is not a JSON object: %s", root ? "not an object" : err);
    return 0;
  }
  const jval *targets = jget(root, "targets");
  S.ntargets = jlen(targets);
  if (S.ntargets == 0) {
    snprintf(spec_error, sizeof spec_error, "targets: must be a non-empty array of {host, port, path?}");
    return 0;
  }
  S.targets = calloc(S.ntargets, sizeof(target));
  int i = 0;
  for (const jval *t = targets->child; t; t = t->next, i++) {
    const jval *host = jget(t, "host"), *port = jget(t, "port"), *path = jget(t, "path");
    if (!host || host->type != JSTR || !port || port->type != JNUM || port->num < 1 || port->num > 65535) {
      snprintf(spec_error, sizeof spec_error, "targets[%d]: needs host and port 1-65535", i);
      return 0;
    }
    target *tg = &S.targets[i];
    tg->host = host->str;
    tg->port = (int)port->num;
    tg->path = path && path->type == JSTR ? path->str : "/";
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", tg->port);
    int rc = getaddrinfo(tg->host, portstr, &hints, &res);
    if (rc != 0) {
      snprintf(spec_error, sizeof spec_error, "targets[%d].host: %s: %s", i, tg->host, gai_strerror(rc));
      return 0;
    }
    memcpy(&tg->addr, res->ai_addr, res->ai_addrlen);
    tg->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    int v6 = strchr(tg->host, ':') != NULL;
    snprintf(tg->authority, sizeof tg->authority, v6 ? "[%s]:%d" : "%s:%d", tg->host, tg->port);
    sbuf req = {0};
    sb_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n\r\n", tg->path, tg->authority, USER_AGENT);
    tg->request = req.s;
    tg->request_len = req.len;
  }
  const jval *model = jget(root, "model");
  if (!model || model->type != JSTR || (strcmp(model->str, "open") && strcmp(model->str, "closed"))) {
    snprintf(spec_error, sizeof spec_error, "model: must be \"open\" or \"closed\"");
    return 0;
  }
  S.open = !strcmp(model->str, "open");
  double d;
  if (S.open) {
    if (!num_field(root, "rate", &S.rate, 1) || !(S.rate > 0)) {
      snprintf(spec_error, sizeof spec_error, "rate: open model needs a positive rate (requests/s)");
      return 0;
    }
  }
  if (!num_field(root, "connections", &d, 1) || d < 1 || d != floor(d) || d > 100000) {
    snprintf(spec_error, sizeof spec_error, "connections: must be a positive integer");
    return 0;
  }
  S.connections = (int)d;
  if (!num_field(root, "durationMs", &d, 1) || d < 1) {
    snprintf(spec_error, sizeof spec_error, "durationMs: must be a positive integer");
    return 0;
  }
  S.duration_ms = (int64_t)d;
  d = -1;
  if (!num_field(root, "warmupMs", &d, 1) || d < 0) {
    snprintf(spec_error, sizeof spec_error, "warmupMs: must be an integer >= 0");
    return 0;
  }
  S.warmup_ms = (int64_t)d;
  d = DEFAULT_TIMEOUT_MS;
  if (!num_field(root, "timeoutMs", &d, 0) || d < 1) {
    snprintf(spec_error, sizeof spec_error, "timeoutMs: must be a positive integer");
    return 0;
  }
  S.timeout_ms = (int64_t)d;
  const jval *weights = jget(root, "weights");
  if (weights) {
    if (jlen(weights) != S.ntargets) {
      snprintf(spec_error, sizeof spec_error, "weights: must be one number >= 0 per target (%d)", S.ntargets);
      return 0;
    }
    S.weights = calloc(S.ntargets, sizeof(double));
    int k = 0, positive = 0;
    for (const jval *w = weights->child; w; w = w->next, k++) {
      if (w->type != JNUM || !(w->num >= 0) || !isfinite(w->num)) {
        snprintf(spec_error, sizeof spec_error, "weights[%d]: must be a number >= 0", k);
        return 0;
      }
      S.weights[k] = w->num;
      positive += w->num > 0;
    }
    if (!positive) {
      snprintf(spec_error, sizeof spec_error, "weights: at least one weight must be positive");
      return 0;
    }
    if (S.connections < positive) {
      snprintf(spec_error, sizeof spec_error, "connections: must be at least one per target (%d), got %d", positive, S.connections);
      return 0;
    }
  } else if (S.connections < S.ntargets) {
    snprintf(spec_error, sizeof spec_error, "connections: must be at least one per target (%d), got %d", S.ntargets, S.connections);
    return 0;
  }
  const jval *grpc = jget(root, "grpc");
  if (grpc) {
    const jval *method = jget(grpc, "method");
    if (!method || method->type != JSTR || (strcmp(method->str, "unary") && strcmp(method->str, "stream"))) {
      snprintf(spec_error, sizeof spec_error, "grpc.method: must be \"unary\" or \"stream\"");
      return 0;
    }
    S.grpc = 1;
    S.grpc_stream = !strcmp(method->str, "stream");
    d = 1;
    if (!num_field(grpc, "messagesPerStream", &d, 0) || d < 1 || d > 10000) {
      snprintf(spec_error, sizeof spec_error, "grpc.messagesPerStream: must be an integer 1-10000");
      return 0;
    }
    S.messages_per_stream = (int)d;
    d = 1;
    if (!num_field(grpc, "streamsPerConnection", &d, 0) || d < 1 || d > 100) {
      snprintf(spec_error, sizeof spec_error, "grpc.streamsPerConnection: must be an integer 1-100");
      return 0;
    }
    S.streams_per_connection = (int)d;
    d = 0;
    if (!num_field(grpc, "answerStatus", &d, 0) || d < 0 || d > 16) {
      snprintf(spec_error, sizeof spec_error, "grpc.answerStatus: must be a grpc-status 0-16");
      return 0;
    }
    S.answer_status = (int)d;
  } else {
    S.streams_per_connection = 1;
  }
  return 1;
}

/** BenchRequest{messages (1), status (2)} as protobuf, in its 5-byte gRPC frame; the headers per target. */
static void build_grpc_request(void) {
  uint8_t msg[24];
  size_t n = 0;
  unsigned fields[2] = {S.grpc_stream ? (unsigned)S.messages_per_stream : 0, (unsigned)S.answer_status};
  for (int f = 0; f < 2; f++) {
    if (!fields[f]) continue;
    msg[n++] = (uint8_t)((f + 1) * 8); // field number, wire type varint
    unsigned v = fields[f];
    while (v >= 0x80) msg[n++] = (uint8_t)((v & 0x7f) | 0x80), v >>= 7;
    msg[n++] = (uint8_t)v;
  }
  grpc_body[0] = 0;
  grpc_body[1] = (uint8_t)(n >> 24), grpc_body[2] = (uint8_t)(n >> 16), grpc_body[3] = (uint8_t)(n >> 8), grpc_body[4] = (uint8_t)n;
  memcpy(grpc_body + 5, msg, n);
  grpc_body_len = 5 + n;
  expected_replies = S.grpc_stream ? S.messages_per_stream : 1;
  grpc_headers = calloc((size_t)S.ntargets * 7, sizeof(nghttp2_nv));
  static const char *path_unary = "/meshbench.v1.Bench/Unary", *path_stream = "/meshbench.v1.Bench/Stream";
  for (int k = 0; k < S.ntargets; k++) {
    const char *fields_nv[7][2] = {
        {":method", "POST"}, {":scheme", "http"}, {":path", S.grpc_stream ? path_stream : path_unary}, {":authority", S.targets[k].authority},
        {"content-type", "application/grpc"}, {"te", "trailers"}, {"user-agent", USER_AGENT},
    };
    for (int f = 0; f < 7; f++) {
      nghttp2_nv *nv = &grpc_headers[k * 7 + f];
      nv->name = (uint8_t *)fields_nv[f][0];
      nv->namelen = strlen(fields_nv[f][0]);
      nv->value = (uint8_t *)fields_nv[f][1];
      nv->valuelen = strlen(fields_nv[f][1]);
      nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    }
  }
}

/** --histogram: µs values on stdin (whitespace-separated), the summary and encoding out. */
static int histogram_selftest(void) {
  static mb_hist h;
  mb_hist_init(&h);
  unsigned long long v;
  for (long i = 0; i < 100000000 && scanf("%llu", &v) == 1; i++) mb_hist_record(&h, v);
  sbuf b = {0};
  sb_printf(&b, "{\"latencyUs\":");
  summary_json(&b, &h);
  char *enc = mb_hist_encode_base64(&h);
  sb_printf(&b, ",\"histogram\":\"%s\"}", enc);
  print_line(b.s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("{\"driver\":\"%s\",\"version\":\"%s\"}\n", DRIVER_NAME, driver_version());
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "--histogram")) return histogram_selftest();
  if (argc != 2) {
    fail_json("usage: driver '<LoadSpec JSON>' | --version | --histogram");
    return 2;
  }
  if (!parse_spec(argv[1])) {
    char msg[600];
    snprintf(msg, sizeof msg, "LoadSpec: %s", spec_error);
    fail_json(msg);
    return 2;
  }
  if (S.grpc) build_grpc_request();
  build_cycle();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  // Wake-ups on time: the default 50 µs of timer slack would be 50 µs of scheduler lateness.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  // Open model: a real-time priority where the driver may take one (root on the local
  // platform), so a process that shares the driver's CPU cannot delay an intended send by a
  // time slice. The closed model stays SCHED_OTHER: it runs its CPU flat out, and the
  // kernel's RT throttling (95 %) would cut it into 50 ms pauses. MESHBENCH_DRIVER_SCHED=other
  // turns it off.
  const char *spin_env = getenv("MESHBENCH_DRIVER_RECV_SPIN_US");
  if (spin_env) recv_spin_ns = strtoll(spin_env, NULL, 10) * 1000;
  // At most 30 % of the driver's CPU in this polling (and never enough for RT throttling).
  if (S.open && recv_spin_ns > 0.3e9 / S.rate) recv_spin_ns = (int64_t)(0.3e9 / S.rate);
  const char *sched_env = getenv("MESHBENCH_DRIVER_SCHED");
  if (S.open && !(sched_env && !strcmp(sched_env, "other"))) {
    struct sched_param sp = {.sched_priority = 10};
    sched_fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
  }
  if (run() < 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "load aborted: driver got signal %d", (int)aborted_by);
    fail_json(msg);
    return 1;
  }
  print_outcome();
  return 0;
}
