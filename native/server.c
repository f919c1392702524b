// meshbench's native workload server: the drop-in for harness/workload/httpServer.ts and
// harness/workload/grpcServer.ts, quieter than either (no event-loop stalls, no GC, a delay
// met to a few µs).
//
//   build/server --host H --port P --response-bytes N --delay-us D [--max-connections C]
//                [--wake-early-us W] [--delay-mode M (accepted, ignored)]
//                [--upstream IPV4:PORT [--upstream-connections N]]   (one hop of a chain: see "upstream")
//   build/server --version      → {"name":"meshbench-native-server","version":…,"nghttp2":…}
//
// Prints one JSON line `{"ready":true,"pid":…,"port":…}` on stdout once listening (port 0
// picks a free one), then nothing else on stdout; logs go to stderr. SIGTERM/SIGINT close it
// (exit 0). One thread, epoll, non-blocking sockets, level-triggered.
//
// One port speaks both protocols: a connection whose first bytes are the HTTP/2 client
// preface ("PRI * HTTP/2.0…", h2c with prior knowledge, as grpc-js and the gRPC drivers
// connect) is handed to libnghttp2's server session and serves meshbench.v1.Bench
// (meshbench.proto); any other connection is HTTP/1.1.
//
// HTTP/1.1: keep-alive, no idle timeout, pipelining (answers in order), every request → 200
// with a prebuilt body of exactly N bytes after the delay. Control paths, as httpServer.ts:
//   GET /_meshbench/stats[?reset=1]  → {requests, peers: {"ip": count}, delay: {…}, …}, no delay,
//                                      not counted
//   GET /_meshbench/status/NNN       → status NNN (200–599), same body and delay; counted
// gRPC, as grpcServer.ts: Unary → one BenchReply of N payload bytes; Stream → `messages`
// replies (0 counts as 1); the delay once per call, before the first reply; a request with
// a non-zero `status` ends its call with that grpc-status (trailers only) after the delay;
// Stats → the gRPC counters as JSON, not counted. Calls are counted (calls, statuses,
// peers, replies) when their delay ends, by method when they arrive, as grpcServer.ts does.
//
// The delay: every delayed answer is an item in one min-heap of deadlines (CLOCK_MONOTONIC,
// ns); one timerfd is armed at the earliest deadline minus the expected wake-up lateness
// ("wake early", measured at start and re-estimated from the last 128 wake-ups), and the
// last µs before the deadline are spun. Many concurrent delayed requests each keep their
// own deadline: none waits for another. The delay error (answer time − deadline) goes into a
// 1-µs histogram (0–20 ms, then one overflow bucket) reported in the stats.
//
// Bounds: request head ≤ 16 KiB (431), body ≤ 1 MiB (413), ≤ 1024 pipelined requests per
// connection before reading pauses, output buffer ≤ 4 MiB before reading pauses, gRPC
// request messages ≤ 64 KiB per stream (RESOURCE_EXHAUSTED), ≤ 1000 concurrent streams
// per connection, --max-connections (default 16384; more are accepted and closed at once).
// Malformed HTTP/1.1 → 400 and close; an HTTP/2 protocol error → GOAWAY and close.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#define SERVER_NAME "meshbench-native-server"
#define SERVER_VERSION "0.1.0"

#define MAX_HEAD_BYTES (16 * 1024)
#define MAX_BODY_BYTES (1024 * 1024)
#define MAX_PIPELINE 1024
#define MAX_OUT_BYTES (4 * 1024 * 1024)
#define READ_CHUNK (64 * 1024)
#define GRPC_MAX_REQUEST_BYTES (64 * 1024)
#define H2_MAX_STREAMS 1000
#define MAX_PEERS 4096
#define DELAY_HIST_LIMIT_US 20000
#define WAKE_SAMPLES 128

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN 24

#define UNARY_PATH "/meshbench.v1.Bench/Unary"
#define STREAM_PATH "/meshbench.v1.Bench/Stream"
#define STATS_PATH "/meshbench.v1.Bench/Stats"

// ---------------------------------------------------------------- small helpers

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("server: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    logf_("out of memory (%zu bytes)", n);
    abort();
  }
  return p;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) {
    logf_("out of memory");
    abort();
  }
  return p;
}

/** A growable byte buffer (output buffers, JSON). */
struct buf {
  char *data;
  size_t len, off, cap;
};

static void buf_reserve(struct buf *b, size_t extra) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + extra <= b->cap) return;
  if (b->off > 0) {
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + extra <= b->cap) return;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) {
    logf_("out of memory");
    abort();
  }
  b->data = p;
  b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    buf_put(b, tmp, (size_t)n);
    return;
  }
  buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static size_t buf_pending(const struct buf *b) { return b->len - b->off; }

static void buf_free(struct buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

// ---------------------------------------------------------------- statistics

/** Delay error histogram: 1 µs buckets up to 20 ms, then one overflow bucket. */
struct delay_hist {
  uint32_t buckets[DELAY_HIST_LIMIT_US + 1];
  uint64_t count;
  double sum_us;
  uint64_t max_us, min_us;
};

static void delay_hist_record(struct delay_hist *h, int64_t error_ns) {
  uint64_t us = error_ns <= 0 ? 0 : (uint64_t)((error_ns + 500) / 1000);
  h->buckets[us < DELAY_HIST_LIMIT_US ? us : DELAY_HIST_LIMIT_US]++;
  if (h->count == 0 || us < h->min_us) h->min_us = us;
  if (us > h->max_us) h->max_us = us;
  h->count++;
  h->sum_us += error_ns <= 0 ? 0 : (double)error_ns / 1000.0;
}

static uint64_t delay_hist_at(const struct delay_hist *h, double p) {
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (uint32_t us = 0; us <= DELAY_HIST_LIMIT_US; us++) {
    seen += h->buckets[us];
    if (seen >= rank) return us == DELAY_HIST_LIMIT_US ? h->max_us : us;
  }
  return h->max_us;
}

static void delay_hist_json(struct buf *b, const struct delay_hist *h) {
  if (h->count == 0) {
    // No samples: no percentiles (not zeros posing as measurements).
    buf_printf(b, "{\"count\":0}");
    return;
  }
  buf_printf(b,
             "{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
             ",\"max\":%" PRIu64 ",\"min\":%" PRIu64 ",\"mean\":%.1f}",
             h->count, delay_hist_at(h, 50), delay_hist_at(h, 90), delay_hist_at(h, 99), delay_hist_at(h, 99.9), h->max_us,
             h->min_us, h->sum_us / (double)h->count);
}

/** Remote addresses seen, each a slot; per protocol counts over the same slots. */
struct peers {
  char addr[MAX_PEERS][INET6_ADDRSTRLEN];
  int n;
};

struct status_count {
  uint32_t status;
  uint64_t count;
};

struct http_stats {
  uint64_t requests;
  uint64_t peer_requests[MAX_PEERS];
  struct delay_hist delay;
};

struct grpc_stats {
  uint64_t calls, unary, stream, replies;
  struct status_count statuses[64];
  int nstatuses;
  uint64_t other_statuses;
  uint64_t peer_calls[MAX_PEERS];
  struct delay_hist delay;
};

// ---------------------------------------------------------------- state

enum conn_kind { CONN_UNKNOWN, CONN_H1, CONN_H2 };
enum h1_state { H1_HEAD, H1_BODY, H1_CHUNK_SIZE, H1_CHUNK_DATA, H1_CHUNK_CRLF, H1_TRAILERS };
enum item_kind { ITEM_H1, ITEM_H1_STATS, ITEM_GRPC };

struct conn;
struct stream;

/** One answer waiting for its deadline (in the heap) or, HTTP/1.1, for its turn to be written. */
struct item {
  uint64_t due_ns;
  size_t heap_index; // SIZE_MAX when not in the heap
  enum item_kind kind;
  struct conn *conn; // NULL once the connection is gone (the item still fires: counts, delay error)
  struct item *next; // the connection's answers in request order (HTTP/1.1)
  bool ready;        // its deadline has passed
  bool delayed;      // it went through the heap (its delay error is recorded)
  // HTTP/1.1
  uint16_t status;
  bool head_only, close_after, keep_alive_header;
  char *body; // stats JSON (owned)
  size_t body_len;
  // gRPC
  struct stream *stream; // NULL once the stream is gone
  int peer;              // the caller's peer slot (counted when the delay ends)
  uint32_t messages, grpc_status;
};

struct stream {
  int32_t id;
  struct conn *conn;
  struct stream *prev, *next;
  int path; // 0 unknown, 1 unary, 2 stream, 3 stats
  uint8_t *req;
  size_t req_len;
  bool req_too_big, dispatched;
  struct item *item;
  // the response body: resp (resp_len bytes) repeated until resp_total bytes are sent
  const uint8_t *resp;
  uint8_t *resp_owned;
  size_t resp_len;
  uint64_t resp_total, resp_sent;
};

struct conn {
  int fd;
  enum conn_kind kind;
  int peer;
  uint32_t events;
  bool closed, peer_eof, closing, read_paused, in_recv, in_parse;
  struct conn *next_dead;
  char *in;
  size_t in_len;
  struct buf out;
  // HTTP/1.1
  enum h1_state h1;
  uint64_t body_left, body_seen;
  struct item *q_head, *q_tail;
  int q_len;
  // HTTP/2
  nghttp2_session *h2;
  struct stream *streams;
};

static struct {
  int epfd, lfd, tfd, sfd, reserve_fd;
  uint64_t delay_ns;
  double delay_us;
  size_t response_bytes;
  int max_connections;
  // prebuilt answers
  char *body;
  char *h1_ok_head[3]; // keep-alive default, "Connection: close", "Connection: keep-alive"
  size_t h1_ok_head_len[3];
  uint8_t *grpc_reply; // framed BenchReply
  size_t grpc_reply_len;
  // the delay
  struct item **heap;
  size_t heap_len, heap_cap;
  uint64_t armed_ns;
  uint64_t wake_early_ns, wake_early_fixed_ns;
  uint64_t wake_lateness_ns[WAKE_SAMPLES];
  unsigned wake_samples;
  uint64_t calibrated_early_ns;
  // counters
  struct peers peers;
  struct http_stats http;
  struct grpc_stats grpc;
  uint64_t accepted, refused, open_conns, h2_conns, bad_requests;
  struct conn *dead;
  nghttp2_session_callbacks *h2_callbacks;
  nghttp2_option *h2_option;
  bool stopping;
} S;

// ---------------------------------------------------------------- peers

static int peer_slot(const struct sockaddr_storage *ss) {
  char a[INET6_ADDRSTRLEN] = "unknown";
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof a);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof a);
    else inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
  }
  for (int i = 0; i < S.peers.n; i++)
    if (strcmp(S.peers.addr[i], a) == 0) return i;
  if (S.peers.n < MAX_PEERS - 1) {
    snprintf(S.peers.addr[S.peers.n], INET6_ADDRSTRLEN, "%s", a);
    return S.peers.n++;
  }
  // The table is full: the last slot counts every further address.
  snprintf(S.peers.addr[MAX_PEERS - 1], INET6_ADDRSTRLEN, "other");
  S.peers.n = MAX_PEERS;
  return MAX_PEERS - 1;
}

static void peers_json(struct buf *b, const uint64_t *counts) {
  buf_put(b, "{", 1);
  bool first = true;
  for (int i = 0; i < S.peers.n; i++) {
    if (counts[i] == 0) continue;
    buf_printf(b, "%s\"%s\":%" PRIu64, first ? "" : ",", S.peers.addr[i], counts[i]);
    first = false;
  }
  buf_put(b, "}", 1);
}

static void delay_details_json(struct buf *b, const struct delay_hist *h) {
  buf_printf(b, "{\"delayUs\":%.15g,\"mode\":\"timerfd\"", S.delay_us);
  if (S.delay_ns > 0)
    buf_printf(b, ",\"wakeEarlyUs\":%.1f,\"calibratedWakeEarlyUs\":%.1f", S.wake_early_ns / 1000.0, S.calibrated_early_ns / 1000.0);
  buf_printf(b, ",\"errorUs\":");
  delay_hist_json(b, h);
  buf_put(b, "}", 1);
}

static void server_json(struct buf *b) {
  buf_printf(b,
             ",\"server\":{\"name\":\"" SERVER_NAME "\",\"version\":\"" SERVER_VERSION "\",\"nghttp2\":\"%s\"}"
             ",\"connections\":{\"open\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"h2\":%" PRIu64
             "},\"badRequests\":%" PRIu64,
             nghttp2_version(0)->version_str, S.open_conns, S.accepted, S.refused, S.h2_conns, S.bad_requests);
}

static void upstream_json(struct buf *b, bool reset);

/** /_meshbench/stats: the HTTP/1.1 counters (httpServer.ts's shape, plus what this server adds). */
static char *http_stats_json(bool reset, size_t *len) {
  struct buf b = {0};
  buf_printf(&b, "{\"requests\":%" PRIu64 ",\"peers\":", S.http.requests);
  peers_json(&b, S.http.peer_requests);
  buf_printf(&b, ",\"delay\":");
  delay_details_json(&b, &S.http.delay);
  upstream_json(&b, reset);
  server_json(&b);
  buf_put(&b, "}", 1);
  if (reset) memset(&S.http, 0, sizeof S.http);
  *len = b.len;
  return b.data;
}

/** The Stats method: the gRPC counters (grpcServer.ts's shape, plus what this server adds). */
static char *grpc_stats_json(bool reset, size_t *len) {
  struct buf b = {0};
  buf_printf(&b, "{\"calls\":%" PRIu64 ",\"methods\":{\"unary\":%" PRIu64 ",\"stream\":%" PRIu64 "},\"statuses\":{", S.grpc.calls,
             S.grpc.unary, S.grpc.stream);
  for (int i = 0; i < S.grpc.nstatuses; i++)
    buf_printf(&b, "%s\"%u\":%" PRIu64, i ? "," : "", S.grpc.statuses[i].status, S.grpc.statuses[i].count);
  if (S.grpc.other_statuses) buf_printf(&b, "%s\"other\":%" PRIu64, S.grpc.nstatuses ? "," : "", S.grpc.other_statuses);
  buf_printf(&b, "},\"replies\":%" PRIu64 ",\"peers\":", S.grpc.replies);
  peers_json(&b, S.grpc.peer_calls);
  buf_printf(&b, ",\"delay\":");
  delay_details_json(&b, &S.grpc.delay);
  server_json(&b);
  buf_put(&b, "}", 1);
  if (reset) memset(&S.grpc, 0, sizeof S.grpc);
  *len = b.len;
  return b.data;
}

static void grpc_count_status(uint32_t status) {
  for (int i = 0; i < S.grpc.nstatuses; i++)
    if (S.grpc.statuses[i].status == status) {
      S.grpc.statuses[i].count++;
      return;
    }
  if (S.grpc.nstatuses < (int)(sizeof S.grpc.statuses / sizeof S.grpc.statuses[0])) {
    S.grpc.statuses[S.grpc.nstatuses++] = (struct status_count){status, 1};
    return;
  }
  S.grpc.other_statuses++;
}

// ---------------------------------------------------------------- the deadline heap

static void heap_swap(size_t a, size_t b) {
  struct item *t = S.heap[a];
  S.heap[a] = S.heap[b];
  S.heap[b] = t;
  S.heap[a]->heap_index = a;
  S.heap[b]->heap_index = b;
}

static void heap_push(struct item *it) {
  if (S.heap_len == S.heap_cap) {
    S.heap_cap = S.heap_cap ? S.heap_cap * 2 : 1024;
    struct item **h = realloc(S.heap, S.heap_cap * sizeof *h);
    if (!h) abort();
    S.heap = h;
  }
  size_t i = S.heap_len++;
  S.heap[i] = it;
  it->heap_index = i;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (S.heap[parent]->due_ns <= S.heap[i]->due_ns) break;
    heap_swap(i, parent);
    i = parent;
  }
}

static struct item *heap_pop(void) {
  struct item *top = S.heap[0];
  S.heap_len--;
  if (S.heap_len > 0) {
    S.heap[0] = S.heap[S.heap_len];
    S.heap[0]->heap_index = 0;
    size_t i = 0;
    for (;;) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < S.heap_len && S.heap[l]->due_ns < S.heap[m]->due_ns) m = l;
      if (r < S.heap_len && S.heap[r]->due_ns < S.heap[m]->due_ns) m = r;
      if (m == i) break;
      heap_swap(i, m);
      i = m;
    }
  }
  top->heap_index = SIZE_MAX;
  return top;
}

// ---------------------------------------------------------------- connections

static void conn_close(struct conn *c);
static void conn_update_events(struct conn *c);
static void h1_flush_queue(struct conn *c);
static void h1_parse(struct conn *c);
static bool h2_send(struct conn *c);
static void grpc_answer(struct item *it);
static bool parse_number(const char *s, double *out);
static bool up_forwarding(void);
static void up_forward(struct item *it, const char *target, size_t target_len);

static void item_free(struct item *it) {
  free(it->body);
  free(it);
}

/** Writes what the output buffer holds; false when the connection failed (and is closed). */
static bool conn_write_out(struct conn *c) {
  while (buf_pending(&c->out) > 0) {
    ssize_t n = send(c->fd, c->out.data + c->out.off, buf_pending(&c->out), MSG_NOSIGNAL);
    if (n > 0) {
      c->out.off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    conn_close(c);
    return false;
  }
  if (buf_pending(&c->out) == 0) c->out.off = c->out.len = 0;
  return true;
}

/** Sends the iovecs, directly when nothing waits before them, the rest through the buffer. */
static bool conn_send(struct conn *c, struct iovec *iov, int iovcnt) {
  if (buf_pending(&c->out) == 0) {
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
    ssize_t n;
    do n = writev(c->fd, iov, iovcnt);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      conn_close(c);
      return false;
    }
    size_t sent = n > 0 ? (size_t)n : 0;
    if (sent == total) return true;
    for (int i = 0; i < iovcnt; i++) {
      if (sent >= iov[i].iov_len) {
        sent -= iov[i].iov_len;
        continue;
      }
      buf_put(&c->out, (char *)iov[i].iov_base + sent, iov[i].iov_len - sent);
      sent = 0;
    }
  } else {
    for (int i = 0; i < iovcnt; i++) buf_put(&c->out, iov[i].iov_base, iov[i].iov_len);
  }
  conn_update_events(c);
  return true;
}

static void conn_update_events(struct conn *c) {
  if (c->closed) return;
  bool backlog = buf_pending(&c->out) > MAX_OUT_BYTES || c->q_len >= MAX_PIPELINE;
  c->read_paused = backlog;
  uint32_t ev = 0;
  if (!c->peer_eof && !c->closing && !backlog) ev |= EPOLLIN;
  if (buf_pending(&c->out) > 0) ev |= EPOLLOUT;
  if (ev == c->events) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(S.epfd, EPOLL_CTL_MOD, c->fd, &e) == 0) c->events = ev;
}

/** Closes the socket now; the struct is freed after the current event (S.dead). */
static void conn_close(struct conn *c) {
  if (c->closed) return;
  c->closed = true;
  epoll_ctl(S.epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  S.open_conns--;
  // Answers still waiting for their deadline keep their place in the heap (they still count
  // and record their delay error when it passes, as the Node servers do); the rest go.
  for (struct item *it = c->q_head, *next; it; it = next) {
    next = it->next;
    it->next = NULL;
    it->conn = NULL;
    if (it->heap_index == SIZE_MAX) item_free(it);
  }
  c->q_head = c->q_tail = NULL;
  c->q_len = 0;
  // The session first: should it ever report its streams closed, they are still ours to free.
  if (c->h2) {
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
  }
  for (struct stream *st = c->streams, *next; st; st = next) {
    next = st->next;
    if (st->item) st->item->stream = NULL;
    free(st->req);
    free(st->resp_owned);
    free(st);
  }
  c->streams = NULL;
  c->next_dead = S.dead;
  S.dead = c;
}

static void free_dead(void) {
  while (S.dead) {
    struct conn *c = S.dead;
    S.dead = c->next_dead;
    free(c->in);
    buf_free(&c->out);
    free(c);
  }
}

/** After output drained: close a connection that asked for it, resume reading. */
static void conn_after_write(struct conn *c) {
  if (c->closed) return;
  if (buf_pending(&c->out) == 0) {
    if (c->kind == CONN_H1 && (c->closing || c->peer_eof) && c->q_len == 0) {
      conn_close(c);
      return;
    }
    if (c->kind == CONN_H2 && c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
      conn_close(c);
      return;
    }
  }
  bool was_paused = c->read_paused;
  conn_update_events(c);
  if (was_paused && !c->read_paused) {
    if (c->kind == CONN_H1) h1_parse(c);
    else if (c->kind == CONN_H2) h2_send(c);
  }
}

// ---------------------------------------------------------------- the delay: firing items

static void item_fire(struct item *it, uint64_t now) {
  it->ready = true;
  if (it->delayed) {
    int64_t error = (int64_t)(now - it->due_ns);
    delay_hist_record(it->kind == ITEM_GRPC ? &S.grpc.delay : &S.http.delay, error);
  }
  if (it->kind == ITEM_GRPC) {
    grpc_answer(it);
    return;
  }
  if (it->conn == NULL) {
    item_free(it);
    return;
  }
  h1_flush_queue(it->conn);
}

static void record_wake(uint64_t lateness_ns) {
  S.wake_lateness_ns[S.wake_samples++ % WAKE_SAMPLES] = lateness_ns;
  if (S.wake_early_fixed_ns || S.wake_samples % WAKE_SAMPLES != 0) return;
  // Every 128 wake-ups: wake early by the 90th percentile of their lateness (+5 µs), within 10–300 µs.
  uint64_t sorted[WAKE_SAMPLES];
  memcpy(sorted, S.wake_lateness_ns, sizeof sorted);
  for (int i = 1; i < WAKE_SAMPLES; i++) {
    uint64_t v = sorted[i];
    int j = i - 1;
    while (j >= 0 && sorted[j] > v) {
      sorted[j + 1] = sorted[j];
      j--;
    }
    sorted[j + 1] = v;
  }
  uint64_t early = sorted[WAKE_SAMPLES * 9 / 10] + 5000;
  if (early < 10000) early = 10000;
  if (early > 300000) early = 300000;
  S.wake_early_ns = early;
}

static void arm_timer(uint64_t at_ns) {
  if (S.armed_ns == at_ns) return;
  struct itimerspec its = {0};
  if (at_ns) {
    its.it_value.tv_sec = (time_t)(at_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000ull);
  }
  timerfd_settime(S.tfd, TFD_TIMER_ABSTIME, &its, NULL);
  S.armed_ns = at_ns;
}

/** Answers every item whose deadline has passed; spins through the last µs of a near one. */
static void fire_due(void) {
  while (S.heap_len > 0) {
    uint64_t now = now_ns();
    struct item *top = S.heap[0];
    if (top->due_ns <= now) {
      heap_pop();
      item_fire(top, now);
      continue;
    }
    if (top->due_ns - now <= S.wake_early_ns) {
      while ((now = now_ns()) < top->due_ns) __builtin_ia32_pause();
      continue;
    }
    arm_timer(top->due_ns - S.wake_early_ns);
    return;
  }
  arm_timer(0);
}

static void on_timer(void) {
  uint64_t expirations;
  // EAGAIN: re-armed since it fired (a settime clears the expiration), nothing to record.
  if (read(S.tfd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) return;
  if (S.armed_ns) {
    uint64_t now = now_ns();
    record_wake(now > S.armed_ns ? now - S.armed_ns : 0);
    S.armed_ns = 0; // fired: a re-arm at the same time must reach the kernel
  }
}

/** Queues `it` for `delay` (none: ready at once). */
static void schedule(struct item *it, bool delay) {
  it->heap_index = SIZE_MAX;
  if (!delay || S.delay_ns == 0) {
    it->ready = true;
    return;
  }
  it->delayed = true;
  it->due_ns = now_ns() + S.delay_ns;
  heap_push(it);
}

/** Start-up: the lateness of a timerfd wake-up on this host (p90 of 30 sleeps of 300 µs, +5 µs). */
static void calibrate_wake(void) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) return;
  uint64_t late[30];
  for (int i = 0; i < 30; i++) {
    uint64_t at = now_ns() + 300000;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(at / 1000000000ull), .tv_nsec = (long)(at % 1000000000ull)}};
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
    uint64_t x;
    if (read(fd, &x, sizeof x) < 0) break;
    uint64_t now = now_ns();
    late[i] = now > at ? now - at : 0;
  }
  close(fd);
  for (int i = 1; i < 30; i++)
    for (int j = i; j > 0 && late[j - 1] > late[j]; j--) {
      uint64_t t = late[j];
      late[j] = late[j - 1];
      late[j - 1] = t;
    }
  uint64_t early = late[27] + 5000;
  if (early < 10000) early = 10000;
  if (early > 300000) early = 300000;
  S.calibrated_early_ns = early;
  S.wake_early_ns = S.wake_early_fixed_ns ? S.wake_early_fixed_ns : early;
}

// ---------------------------------------------------------------- HTTP/1.1

static const char *reason_phrase(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return status < 300 ? "Success" : status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error";
  }
}

/** Writes the ready answers at the head of the connection's queue, in request order. */
static void h1_flush_queue(struct conn *c) {
  // A client that does not read: at most MAX_OUT_BYTES wait in memory, the rest once it drains.
  while (!c->closed && c->q_head && c->q_head->ready && buf_pending(&c->out) <= MAX_OUT_BYTES) {
    struct item *it = c->q_head;
    c->q_head = it->next;
    if (!c->q_head) c->q_tail = NULL;
    c->q_len--;
    struct iovec iov[2];
    char head[256];
    int hv = it->close_after ? 1 : it->keep_alive_header ? 2 : 0;
    bool ok;
    if (it->kind == ITEM_H1_STATS) {
      int n = snprintf(head, sizeof head,
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", it->body_len,
                       hv == 1 ? "Connection: close\r\n" : hv == 2 ? "Connection: keep-alive\r\n" : "");
      iov[0] = (struct iovec){head, (size_t)n};
      iov[1] = (struct iovec){it->body, it->head_only ? 0 : it->body_len};
      ok = conn_send(c, iov, 2);
    } else if (it->status == 200) {
      iov[0] = (struct iovec){S.h1_ok_head[hv], S.h1_ok_head_len[hv]};
      iov[1] = (struct iovec){S.body, it->head_only ? 0 : S.response_bytes};
      ok = conn_send(c, iov, 2);
    } else {
      int n = snprintf(head, sizeof head,
                       "HTTP/1.1 %u %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu\r\n%s\r\n",
                       it->status, reason_phrase(it->status), S.response_bytes,
                       hv == 1 ? "Connection: close\r\n" : hv == 2 ? "Connection: keep-alive\r\n" : "");
      iov[0] = (struct iovec){head, (size_t)n};
      iov[1] = (struct iovec){S.body, it->head_only ? 0 : S.response_bytes};
      ok = conn_send(c, iov, 2);
    }
    bool close_after = it->close_after;
    item_free(it);
    if (!ok) return;
    if (close_after) {
      c->closing = true;
      // Whatever was pipelined after a "Connection: close" request is not answered.
      for (struct item *rest = c->q_head, *next; rest; rest = next) {
        next = rest->next;
        rest->next = NULL;
        rest->conn = NULL;
        if (rest->heap_index == SIZE_MAX) item_free(rest);
      }
      c->q_head = c->q_tail = NULL;
      c->q_len = 0;
    }
  }
  if (!c->closed) conn_after_write(c);
}

static void h1_enqueue(struct conn *c, struct item *it) {
  it->conn = c;
  it->next = NULL;
  if (c->q_tail) c->q_tail->next = it;
  else c->q_head = it;
  c->q_tail = it;
  c->q_len++;
}

/** An answer the server gives without the request being counted (malformed input): then close. */
static void h1_reject(struct conn *c, int status) {
  S.bad_requests++;
  char msg[160];
  int n = snprintf(msg, sizeof msg, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, reason_phrase(status));
  c->closing = true;
  c->in_len = 0;
  // Answers already queued go first; the rejection is written once they are.
  if (c->q_len == 0) {
    struct iovec iov = {msg, (size_t)n};
    if (!conn_send(c, &iov, 1)) return;
    conn_after_write(c);
  } else {
    // Rare (malformed input pipelined behind good requests): drop the queued answers.
    for (struct item *it = c->q_head, *next; it; it = next) {
      next = it->next;
      it->next = NULL;
      it->conn = NULL;
      if (it->heap_index == SIZE_MAX) item_free(it);
    }
    c->q_head = c->q_tail = NULL;
    c->q_len = 0;
    struct iovec iov = {msg, (size_t)n};
    if (!conn_send(c, &iov, 1)) return;
    conn_after_write(c);
  }
}

static bool is_tchar(unsigned char ch) {
  if (ch >= '0' && ch <= '9') return true;
  if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') return true;
  return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool header_has_token(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token);
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < n && v[i] != ',') i++;
    size_t end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (end - start == tl && strncasecmp(v + start, token, tl) == 0) return true;
  }
  return false;
}

/** One request head (request line + headers, `len` bytes ending in CRLFCRLF): dispatch it. */
static bool h1_request(struct conn *c, char *p, size_t len) {
  char *end = p + len;
  char *line_end = memmem(p, len, "\r\n", 2);
  // request line: METHOD SP TARGET SP HTTP/1.x
  char *sp1 = memchr(p, ' ', (size_t)(line_end - p));
  if (!sp1 || sp1 == p) return false;
  for (char *q = p; q < sp1; q++)
    if (!is_tchar((unsigned char)*q)) return false;
  char *target = sp1 + 1;
  char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
  if (!sp2 || sp2 == target) return false;
  for (char *q = target; q < sp2; q++)
    if ((unsigned char)*q <= 0x20 || (unsigned char)*q == 0x7f) return false;
  size_t vlen = (size_t)(line_end - sp2 - 1);
  if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1')) return false;
  bool http10 = sp2[8] == '0';
  size_t method_len = (size_t)(sp1 - p);
  size_t target_len = (size_t)(sp2 - target);
  bool head_only = method_len == 4 && memcmp(p, "HEAD", 4) == 0;

  // headers
  bool have_cl = false, chunked = false, conn_close_hdr = false, conn_keep_alive = false, have_te = false;
  uint64_t cl = 0;
  char *h = line_end + 2;
  while (h < end - 2) {
    char *e = memmem(h, (size_t)(end - h), "\r\n", 2);
    if (!e || e == h) break;
    if (*h == ' ' || *h == '\t') return false; // obsolete line folding
    char *colon = memchr(h, ':', (size_t)(e - h));
    if (!colon || colon == h) return false;
    for (char *q = h; q < colon; q++)
      if (!is_tchar((unsigned char)*q)) return false;
    char *v = colon + 1;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    char *ve = e;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    for (char *q = v; q < ve; q++)
      if (((unsigned char)*q < 0x20 && *q != '\t') || (unsigned char)*q == 0x7f) return false;
    size_t nl = (size_t)(colon - h), vl = (size_t)(ve - v);
    if (nl == 14 && strncasecmp(h, "content-length", 14) == 0) {
      if (vl == 0 || vl > 18) return false;
      uint64_t x = 0;
      for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
      }
      if (have_cl && x != cl) return false;
      have_cl = true;
      cl = x;
    } else if (nl == 17 && strncasecmp(h, "transfer-encoding", 17) == 0) {
      have_te = true;
      if (!(vl == 7 && strncasecmp(v, "chunked", 7) == 0)) {
        c->in_len = 0;
        h1_reject(c, 501);
        return true;
      }
      chunked = true;
    } else if (nl == 10 && strncasecmp(h, "connection", 10) == 0) {
      if (header_has_token(v, vl, "close")) conn_close_hdr = true;
      if (header_has_token(v, vl, "keep-alive")) conn_keep_alive = true;
    }
    h = e + 2;
  }
  if (have_te && have_cl) return false; // ambiguous framing (request smuggling)
  if (have_cl && cl > MAX_BODY_BYTES) {
    h1_reject(c, 413);
    return true;
  }

  bool close_after = conn_close_hdr || (http10 && !conn_keep_alive);
  struct item *it = xcalloc(1, sizeof *it);
  it->kind = ITEM_H1;
  it->status = 200;
  it->head_only = head_only;
  it->close_after = close_after;
  it->keep_alive_header = http10 && !close_after;
  bool delay = true;
  static const char stats_path[] = "/_meshbench/stats";
  static const char status_path[] = "/_meshbench/status/";
  if (target_len >= sizeof stats_path - 1 && memcmp(target, stats_path, sizeof stats_path - 1) == 0 &&
      (target_len == sizeof stats_path - 1 || target[sizeof stats_path - 1] == '?')) {
    bool reset = memmem(target, target_len, "reset=1", 7) != NULL;
    it->kind = ITEM_H1_STATS;
    it->body = http_stats_json(reset, &it->body_len);
    delay = false;
  } else {
    if (target_len == sizeof status_path - 1 + 3 && memcmp(target, status_path, sizeof status_path - 1) == 0) {
      const char *d = target + sizeof status_path - 1;
      if (d[0] >= '0' && d[0] <= '9' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9') {
        int status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
        // 1xx answers carry no body and cannot end a request: asked for, they read as 400.
        it->status = (uint16_t)(status >= 200 && status <= 599 ? status : 400);
      }
    }
    S.http.requests++;
    S.http.peer_requests[c->peer]++;
  }
  h1_enqueue(c, it);
  if (chunked) {
    c->h1 = H1_CHUNK_SIZE;
    c->body_seen = 0;
  } else if (have_cl && cl > 0) {
    c->h1 = H1_BODY;
    c->body_left = cl;
  }
  if (close_after) c->closing = true; // nothing after this request is read
  if (delay && up_forwarding()) {
    up_forward(it, target, target_len); // answered when the next service has answered
    return true;
  }
  schedule(it, delay);
  if (it->ready) h1_flush_queue(c);
  return true;
}

/** Parses what the input buffer holds: heads, bodies (discarded), chunked bodies. */
static void h1_parse(struct conn *c) {
  // Answers written while parsing may resume reading (conn_after_write): the loop below goes on.
  if (c->in_parse) return;
  c->in_parse = true;
  size_t off = 0;
  while (!c->closed && off < c->in_len) {
    char *p = c->in + off;
    size_t avail = c->in_len - off;
    if (c->h1 == H1_BODY || c->h1 == H1_CHUNK_DATA) {
      size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
      off += take;
      c->body_left -= take;
      if (c->body_left == 0) c->h1 = c->h1 == H1_BODY ? H1_HEAD : H1_CHUNK_CRLF;
      continue;
    }
    if (c->h1 == H1_CHUNK_CRLF) {
      if (avail < 2) break;
      if (p[0] != '\r' || p[1] != '\n') {
        h1_reject(c, 400);
        goto rejected;
      }
      off += 2;
      c->h1 = H1_CHUNK_SIZE;
      continue;
    }
    if (c->h1 == H1_CHUNK_SIZE || c->h1 == H1_TRAILERS) {
      char *e = memmem(p, avail, "\r\n", 2);
      if (!e) {
        if (avail > 4096) h1_reject(c, 400);
        break;
      }
      size_t ll = (size_t)(e - p);
      off += ll + 2;
      if (c->h1 == H1_TRAILERS) {
        if (ll == 0) c->h1 = H1_HEAD;
        continue;
      }
      uint64_t size = 0;
      size_t i = 0;
      for (; i < ll && i < 16; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f' ? (ch | 0x20) - 'a' + 10 : -1;
        if (d < 0) break;
        size = size * 16 + (uint64_t)d;
      }
      if (i == 0 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t')) {
        h1_reject(c, 400);
        goto rejected;
      }
      c->body_seen += size;
      if (c->body_seen > MAX_BODY_BYTES) {
        h1_reject(c, 413);
        goto rejected;
      }
      if (size == 0) c->h1 = H1_TRAILERS;
      else {
        c->h1 = H1_CHUNK_DATA;
        c->body_left = size;
      }
      continue;
    }
    // H1_HEAD
    if (c->closing || c->read_paused || c->q_len >= MAX_PIPELINE) break;
    if (avail >= 2 && p[0] == '\r' && p[1] == '\n') { // an empty line between requests
      off += 2;
      continue;
    }
    char *e = memmem(p, avail, "\r\n\r\n", 4);
    if (!e) {
      if (avail > MAX_HEAD_BYTES) h1_reject(c, 431);
      break;
    }
    size_t head_len = (size_t)(e - p) + 4;
    if (head_len > MAX_HEAD_BYTES) {
      h1_reject(c, 431);
      goto rejected;
    }
    off += head_len;
    if (!h1_request(c, p, head_len)) {
      h1_reject(c, 400);
      goto rejected;
    }
  }
  c->in_parse = false;
  if (c->closed) return;
  goto consumed;
rejected: // h1_reject emptied the input
  c->in_parse = false;
  return;
consumed:
  if (off > 0) {
    if (off >= c->in_len) c->in_len = 0;
    else {
      memmove(c->in, c->in + off, c->in_len - off);
      c->in_len -= off;
    }
  }
  conn_update_events(c);
}

// ---------------------------------------------------------------- gRPC over HTTP/2 (libnghttp2)

#define NV(name, value) {(uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value), NGHTTP2_NV_FLAG_NONE}

/** Serializes what the session has to send into the output buffer and writes it. */
static bool h2_send(struct conn *c) {
  while (!c->closed && c->h2 && buf_pending(&c->out) < MAX_OUT_BYTES) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) {
      logf_("HTTP/2 send: %s", nghttp2_strerror((int)n));
      conn_close(c);
      return false;
    }
    if (n == 0) break;
    buf_put(&c->out, data, (size_t)n);
    if (buf_pending(&c->out) >= 64 * 1024 && !conn_write_out(c)) return false;
  }
  if (c->closed) return false;
  if (!conn_write_out(c)) return false;
  if (buf_pending(&c->out) == 0 && c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
    conn_close(c);
    return false;
  }
  conn_update_events(c);
  return true;
}

static ssize_t h2_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *out, size_t length, uint32_t *flags,
                            nghttp2_data_source *source, void *user_data) {
  struct stream *st = source->ptr;
  uint64_t left = st->resp_total - st->resp_sent;
  size_t n = 0;
  while (n < length && left > 0) {
    size_t pos = (size_t)(st->resp_sent % st->resp_len);
    size_t chunk = st->resp_len - pos;
    if (chunk > length - n) chunk = length - n;
    if (chunk > left) chunk = (size_t)left;
    memcpy(out + n, st->resp + pos, chunk);
    n += chunk;
    st->resp_sent += chunk;
    left -= chunk;
  }
  if (left == 0) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    nghttp2_nv trailers[] = {NV("grpc-status", "0")};
    if (nghttp2_submit_trailer(session, stream_id, trailers, 1) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  }
  return (ssize_t)n;
}

/** 200 + application/grpc, then `total` bytes of `msg` repeated, then grpc-status 0. */
static void grpc_respond_ok(struct stream *st, const uint8_t *msg, size_t msg_len, uint64_t total) {
  st->resp = msg;
  st->resp_len = msg_len;
  st->resp_total = total;
  st->resp_sent = 0;
  nghttp2_nv headers[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
  nghttp2_data_provider provider = {.source.ptr = st, .read_callback = h2_read_body};
  nghttp2_submit_response(st->conn->h2, st->id, headers, 2, &provider);
}

/** A call that ends with `status` and no reply: one HEADERS frame (trailers-only). */
static void grpc_respond_status(struct stream *st, uint32_t status, const char *message) {
  char code[16];
  snprintf(code, sizeof code, "%u", status);
  nghttp2_nv headers[] = {NV(":status", "200"), NV("content-type", "application/grpc"), NV("grpc-status", code),
                          NV("grpc-message", message)};
  nghttp2_submit_response(st->conn->h2, st->id, headers, 4, NULL);
}


/** The delay of a Unary/Stream call ended (or it had none): count it, answer it if it is still there. */
static void grpc_answer(struct item *it) {
  struct stream *st = it->stream;
  uint32_t status = it->grpc_status;
  S.grpc.calls++;
  grpc_count_status(status);
  S.grpc.peer_calls[it->peer]++;
  if (status == 0) S.grpc.replies += it->messages;
  if (st == NULL) {
    free(it);
    return;
  }
  st->item = NULL;
  struct conn *c = st->conn;
  if (status != 0) {
    char message[64];
    snprintf(message, sizeof message, "meshbench: status %u asked for", status);
    grpc_respond_status(st, status, message);
  } else {
    grpc_respond_ok(st, S.grpc_reply, S.grpc_reply_len, (uint64_t)it->messages * S.grpc_reply_len);
  }
  free(it);
  // Inside nghttp2_session_mem_recv (no delay) the caller sends once the input is consumed.
  if (!c->in_recv) h2_send(c);
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *value) {
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (*p >= end) return false;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      *value = v;
      return true;
    }
  }
  return false;
}

/** Decodes the varint fields 1 and 2 of a message (BenchRequest, StatsRequest); skips others. */
static bool pb_decode(const uint8_t *p, size_t n, uint64_t *field1, uint64_t *field2) {
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t key, v;
    if (!pb_varint(&p, end, &key)) return false;
    uint64_t field = key >> 3;
    switch (key & 7) {
    case 0:
      if (!pb_varint(&p, end, &v)) return false;
      if (field == 1) *field1 = v;
      else if (field == 2) *field2 = v;
      break;
    case 1:
      if (end - p < 8) return false;
      p += 8;
      break;
    case 2:
      if (!pb_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
      p += v;
      break;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      break;
    default:
      return false;
    }
    if (field == 0) return false;
  }
  return true;
}

/** A request stream ended: decode its one message and answer (Stats) or schedule the answer. */
static void grpc_dispatch(struct stream *st) {
  struct conn *c = st->conn;
  if (st->path == 0) {
    grpc_respond_status(st, 12, "meshbench: unknown method");
    return;
  }
  if (st->req_too_big) {
    grpc_respond_status(st, 8, "meshbench: request message too large");
    return;
  }
  if (st->req_len < 5) {
    grpc_respond_status(st, 13, "meshbench: no request message");
    return;
  }
  if (st->req[0] != 0) {
    grpc_respond_status(st, 12, "meshbench: compressed messages are not supported");
    return;
  }
  uint32_t mlen = (uint32_t)st->req[1] << 24 | (uint32_t)st->req[2] << 16 | (uint32_t)st->req[3] << 8 | st->req[4];
  uint64_t f1 = 0, f2 = 0;
  if ((uint64_t)mlen + 5 > st->req_len || !pb_decode(st->req + 5, mlen, &f1, &f2)) {
    grpc_respond_status(st, 13, "meshbench: malformed request message");
    return;
  }
  if (st->path == 3) {
    size_t jlen;
    char *json = grpc_stats_json(f1 != 0, &jlen);
    // StatsReply { string json = 1; } in one gRPC frame
    uint8_t varint[10];
    size_t vl = 0;
    for (uint64_t v = jlen; ; v >>= 7) {
      varint[vl++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
      if (v < 0x80) break;
    }
    size_t msg_len = jlen ? 1 + vl + jlen : 0;
    uint8_t *frame = xmalloc(5 + msg_len);
    frame[0] = 0;
    frame[1] = (uint8_t)(msg_len >> 24);
    frame[2] = (uint8_t)(msg_len >> 16);
    frame[3] = (uint8_t)(msg_len >> 8);
    frame[4] = (uint8_t)msg_len;
    if (jlen) {
      frame[5] = 0x0a;
      memcpy(frame + 6, varint, vl);
      memcpy(frame + 6 + vl, json, jlen);
    }
    free(json);
    free(st->resp_owned);
    st->resp_owned = frame;
    grpc_respond_ok(st, frame, 5 + msg_len, 5 + msg_len);
    return;
  }
  if (st->path == 1) S.grpc.unary++;
  else S.grpc.stream++;
  struct item *it = xcalloc(1, sizeof *it);
  it->kind = ITEM_GRPC;
  it->stream = st;
  it->peer = c->peer;
  it->messages = st->path == 1 ? 1 : (f1 == 0 ? 1 : (uint32_t)f1);
  it->grpc_status = (uint32_t)f2;
  st->item = it;
  schedule(it, true);
  if (it->ready) grpc_answer(it);
}

static int h2_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  struct conn *c = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  struct stream *st = xcalloc(1, sizeof *st);
  st->id = frame->hd.stream_id;
  st->conn = c;
  st->next = c->streams;
  if (c->streams) c->streams->prev = st;
  c->streams = st;
  nghttp2_session_set_stream_user_data(session, st->id, st);
  return 0;
}

static int h2_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  struct stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!st || namelen != 5 || memcmp(name, ":path", 5) != 0) return 0;
  if (valuelen == sizeof UNARY_PATH - 1 && memcmp(value, UNARY_PATH, valuelen) == 0) st->path = 1;
  else if (valuelen == sizeof STREAM_PATH - 1 && memcmp(value, STREAM_PATH, valuelen) == 0) st->path = 2;
  else if (valuelen == sizeof STATS_PATH - 1 && memcmp(value, STATS_PATH, valuelen) == 0) st->path = 3;
  return 0;
}

static int h2_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
                            void *user_data) {
  struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!st || st->req_too_big) return 0;
  if (st->req_len + len > GRPC_MAX_REQUEST_BYTES) {
    st->req_too_big = true;
    free(st->req);
    st->req = NULL;
    st->req_len = 0;
    return 0;
  }
  uint8_t *p = realloc(st->req, st->req_len + len);
  if (!p) abort();
  memcpy(p + st->req_len, data, len);
  st->req = p;
  st->req_len += len;
  return 0;
}

static int h2_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    struct stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st && !st->dispatched) {
      st->dispatched = true;
      grpc_dispatch(st);
    }
  }
  return 0;
}

static int h2_on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
  struct conn *c = user_data;
  struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!st) return 0;
  if (st->prev) st->prev->next = st->next;
  else c->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  // A call cancelled during its delay still counts when the delay ends (as grpc-js's server does).
  if (st->item) st->item->stream = NULL;
  free(st->req);
  free(st->resp_owned);
  free(st);
  return 0;
}

static void h2_start(struct conn *c) {
  c->kind = CONN_H2;
  S.h2_conns++;
  if (nghttp2_session_server_new2(&c->h2, S.h2_callbacks, c, S.h2_option) != 0) {
    conn_close(c);
    return;
  }
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS}};
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, 1);
}

static void h2_recv(struct conn *c) {
  c->in_recv = true;
  ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)c->in, c->in_len);
  c->in_recv = false;
  c->in_len = 0;
  if (r < 0) {
    // Protocol error: nghttp2 queued a GOAWAY where it could; send it, then close.
    S.bad_requests++;
    h2_send(c);
    conn_close(c);
    return;
  }
  h2_send(c);
}

// ---------------------------------------------------------------- upstream: one hop of a chain
//
// --upstream HOST:PORT makes this server one service of a chain: every counted HTTP/1.1
// request (not /_meshbench/stats) is sent on to HOST:PORT with the same target, as a client
// of the next service — through whatever the pod's network does with the connection (a
// sidecar's outbound capture, the socket LB's connect4 rewrite, the node's DNAT) — and is
// answered with the upstream's status once the upstream's answer is complete, then after
// --delay-us if any (a chain gives its delay to its last service only). gRPC calls are
// answered here, not forwarded.
//
// The pool lives on the same epoll loop: one request at a time per connection (no
// pipelining), keep-alive, the most recently used idle connection first, a new one while
// fewer than --upstream-connections (default 64) are open, else the request waits its turn
// (FIFO). A failure (refused, reset, a cut or malformed answer) answers 502 and counts an
// error; a reused connection that dies before any byte of its answer (the upstream closed it
// while idle) is retried once on a fresh one. Answers: Content-Length, none (1xx/204/304),
// or until close; chunked answers are refused (502): nothing on a meshbench path sends them.
#define UPSTREAM_PENDING (SIZE_MAX - 1) // heap_index of an item waiting for its upstream answer
#define UP_MAX_CONNECTIONS 1024
#define UP_IN_CAP (32 * 1024)

enum up_state { UP_FREE, UP_CONNECTING, UP_IDLE, UP_BUSY };

struct up_conn {
  int fd;
  enum up_state state;
  uint32_t events;
  struct item *item; // the request in flight
  uint64_t served;   // answers completed on this connection
  uint64_t last_used_ns;
  struct buf out;
  char *in;
  size_t in_len;
  bool head_done, until_close, close_after;
  uint64_t body_left;
  uint16_t status;
};

static struct {
  bool enabled;
  char target[96]; // HOST:PORT as given (Host header, stats)
  struct sockaddr_in addr;
  int max;
  struct up_conn *pool;
  int open;
  struct item **wait; // FIFO ring
  size_t wait_head, wait_len, wait_cap;
  uint64_t requests, responses, errors, retries, opened;
} U;

static void up_pump(void);

static bool up_forwarding(void) { return U.enabled; }

static bool up_owns(void *p) {
  return U.pool && (struct up_conn *)p >= U.pool && (struct up_conn *)p < U.pool + U.max;
}

static void up_wait_push(struct item *it, bool front) {
  if (U.wait_len == U.wait_cap) {
    size_t cap = U.wait_cap ? U.wait_cap * 2 : 256;
    struct item **w = xmalloc(cap * sizeof *w);
    for (size_t i = 0; i < U.wait_len; i++) w[i] = U.wait[(U.wait_head + i) % U.wait_cap];
    free(U.wait);
    U.wait = w;
    U.wait_cap = cap;
    U.wait_head = 0;
  }
  if (front) {
    U.wait_head = (U.wait_head + U.wait_cap - 1) % U.wait_cap;
    U.wait[U.wait_head] = it;
  } else {
    U.wait[(U.wait_head + U.wait_len) % U.wait_cap] = it;
  }
  U.wait_len++;
}

static struct item *up_wait_pop(void) {
  struct item *it = U.wait[U.wait_head];
  U.wait_head = (U.wait_head + 1) % U.wait_cap;
  U.wait_len--;
  return it;
}

/** The upstream answered (or failed, status 502): the item takes that status, then the local delay. */
static void up_deliver(struct item *it, uint16_t status) {
  it->status = status;
  free(it->body); // the forwarded target, kept there while the item waited
  it->body = NULL;
  it->body_len = 0;
  if (it->conn == NULL) { // the client went away meanwhile
    item_free(it);
    return;
  }
  struct conn *c = it->conn;
  schedule(it, true);
  if (it->ready) h1_flush_queue(c);
}

static void up_update_events(struct up_conn *u) {
  uint32_t ev = EPOLLIN;
  if (u->state == UP_CONNECTING || buf_pending(&u->out) > 0) ev |= EPOLLOUT;
  if (ev == u->events) return;
  struct epoll_event e = {.events = ev, .data.ptr = u};
  if (epoll_ctl(S.epfd, EPOLL_CTL_MOD, u->fd, &e) == 0) u->events = ev;
}

static void up_close(struct up_conn *u) {
  if (u->state == UP_FREE) return;
  epoll_ctl(S.epfd, EPOLL_CTL_DEL, u->fd, NULL);
  close(u->fd);
  u->state = UP_FREE;
  u->fd = -1;
  u->out.off = u->out.len = 0;
  u->in_len = 0;
  U.open--;
}

/** The connection failed: its request is retried (a reused connection, nothing answered yet) or answered 502. */
static void up_fail(struct up_conn *u) {
  struct item *it = u->item;
  bool retry = it && u->served > 0 && !u->head_done && u->in_len == 0;
  u->item = NULL;
  up_close(u);
  if (it) {
    if (retry) {
      U.retries++;
      up_wait_push(it, true);
    } else {
      U.errors++;
      up_deliver(it, 502);
    }
  }
  up_pump();
}

static bool up_flush(struct up_conn *u) {
  while (buf_pending(&u->out) > 0) {
    ssize_t n = send(u->fd, u->out.data + u->out.off, buf_pending(&u->out), MSG_NOSIGNAL);
    if (n > 0) {
      u->out.off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    up_fail(u);
    return false;
  }
  if (buf_pending(&u->out) == 0) u->out.off = u->out.len = 0;
  up_update_events(u);
  return true;
}

/** Puts the item's request on the connection (written now, or once it is connected). */
static void up_start(struct up_conn *u, struct item *it) {
  u->item = it;
  u->head_done = u->until_close = u->close_after = false;
  u->body_left = 0;
  u->status = 0;
  buf_printf(&u->out, "GET %.*s HTTP/1.1\r\nHost: %s\r\n\r\n", (int)it->body_len, it->body, U.target);
  if (u->state == UP_CONNECTING) {
    up_update_events(u);
    return;
  }
  u->state = UP_BUSY;
  up_flush(u);
}

static struct up_conn *up_open(void) {
  struct up_conn *u = NULL;
  for (int i = 0; i < U.max && !u; i++)
    if (U.pool[i].state == UP_FREE) u = &U.pool[i];
  if (!u) return NULL;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = connect(fd, (struct sockaddr *)&U.addr, sizeof U.addr);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return NULL;
  }
  struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = u};
  if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
    close(fd);
    return NULL;
  }
  u->fd = fd;
  u->events = EPOLLIN | EPOLLOUT;
  u->state = rc == 0 ? UP_IDLE : UP_CONNECTING;
  u->served = 0;
  u->in_len = 0;
  if (!u->in) u->in = xmalloc(UP_IN_CAP);
  U.open++;
  U.opened++;
  return u;
}

/** Hands waiting requests to idle connections, opening new ones up to the limit. */
static void up_pump(void) {
  static bool pumping;
  if (pumping) return; // a failure inside re-enters: the loop below goes on
  pumping = true;
  while (U.wait_len > 0) {
    struct item *it = U.wait[U.wait_head];
    if (it->conn == NULL) { // the client is gone: nothing to forward
      up_wait_pop();
      item_free(it);
      continue;
    }
    struct up_conn *u = NULL;
    for (int i = 0; i < U.max; i++)
      if (U.pool[i].state == UP_IDLE && (!u || U.pool[i].last_used_ns > u->last_used_ns)) u = &U.pool[i];
    if (!u && U.open < U.max) {
      u = up_open();
      if (!u) {
        up_wait_pop();
        U.errors++;
        logf_("upstream %s: cannot connect: %s", U.target, strerror(errno));
        up_deliver(it, 502);
        continue;
      }
    }
    if (!u) break; // every connection busy: the request waits for the next free one
    up_wait_pop();
    up_start(u, it);
  }
  pumping = false;
}

/** A counted request goes on to the next service; its answer waits for the upstream's. */
static void up_forward(struct item *it, const char *target, size_t target_len) {
  U.requests++;
  it->body = xmalloc(target_len);
  memcpy(it->body, target, target_len);
  it->body_len = target_len;
  it->heap_index = UPSTREAM_PENDING; // kept alive by conn_close until the upstream answers
  it->ready = false;
  up_wait_push(it, false);
  up_pump();
}

static void up_complete(struct up_conn *u) {
  struct item *it = u->item;
  u->item = NULL;
  u->served++;
  u->last_used_ns = now_ns();
  U.responses++;
  bool close_after = u->close_after;
  if (close_after) up_close(u);
  else u->state = UP_IDLE;
  if (it) up_deliver(it, u->status);
  up_pump();
}

/** Parses the answer in u->in; false when the connection failed (and was handled). */
static bool up_parse(struct up_conn *u, bool eof) {
  size_t off = 0;
  for (;;) {
    if (!u->head_done) {
      char *e = u->in_len - off >= 4 ? memmem(u->in + off, u->in_len - off, "\r\n\r\n", 4) : NULL;
      if (!e) {
        if (u->in_len - off > MAX_HEAD_BYTES || eof) goto bad;
        break;
      }
      char *p = u->in + off;
      size_t head_len = (size_t)(e - p) + 4;
      if (head_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') goto bad;
      int status = 0;
      for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') goto bad;
        status = status * 10 + (p[i] - '0');
      }
      bool have_cl = false, http10 = p[7] == '0';
      uint64_t cl = 0;
      u->close_after = http10;
      char *h = memmem(p, head_len, "\r\n", 2) + 2;
      while (h < e) {
        char *le = memmem(h, (size_t)(e + 2 - h), "\r\n", 2);
        char *colon = memchr(h, ':', (size_t)(le - h));
        if (colon) {
          char *v = colon + 1;
          while (v < le && (*v == ' ' || *v == '\t')) v++;
          size_t nl = (size_t)(colon - h), vl = (size_t)(le - v);
          if (nl == 14 && strncasecmp(h, "content-length", 14) == 0) {
            have_cl = true;
            cl = strtoull(v, NULL, 10);
          } else if (nl == 17 && strncasecmp(h, "transfer-encoding", 17) == 0) {
            goto bad; // chunked: not sent on any meshbench path (see above)
          } else if (nl == 10 && strncasecmp(h, "connection", 10) == 0) {
            if (header_has_token(v, vl, "close")) u->close_after = true;
            if (header_has_token(v, vl, "keep-alive")) u->close_after = false;
          }
        }
        h = le + 2;
      }
      off += head_len;
      if (status >= 100 && status < 200) continue; // an interim answer: the real one follows
      u->status = (uint16_t)status;
      u->head_done = true;
      if (status == 204 || status == 304) u->body_left = 0;
      else if (have_cl) u->body_left = cl;
      else u->until_close = true;
    }
    size_t avail = u->in_len - off;
    if (u->until_close) {
      off = u->in_len;
      if (!eof) break;
      u->close_after = true;
      u->in_len = 0;
      up_complete(u);
      return false; // closed
    }
    size_t take = avail < u->body_left ? avail : (size_t)u->body_left;
    off += take;
    u->body_left -= take;
    if (u->body_left > 0) {
      if (eof) goto bad;
      break;
    }
    // complete: anything after it would be an answer nobody asked for
    u->in_len = 0;
    off = 0;
    bool closes = u->close_after || eof;
    u->close_after = closes;
    up_complete(u);
    return !closes;
  }
  if (off > 0) {
    memmove(u->in, u->in + off, u->in_len - off);
    u->in_len -= off;
  }
  return true;
bad:
  if (u->item) logf_("upstream %s: %s answer", U.target, eof ? "a cut" : "a malformed");
  up_fail(u);
  return false;
}

static void up_event(struct up_conn *u, uint32_t events) {
  if (u->state == UP_FREE) return;
  if (u->state == UP_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && !(events & EPOLLERR)) {
      u->state = u->item ? UP_BUSY : UP_IDLE;
    } else if (err != 0 || (events & EPOLLERR)) {
      logf_("upstream %s: connect: %s", U.target, strerror(err ? err : ECONNREFUSED));
      up_fail(u);
      return;
    } else {
      return;
    }
  }
  if ((events & EPOLLOUT) && !up_flush(u)) return;
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  for (;;) {
    if (u->in_len >= UP_IN_CAP) {
      up_fail(u);
      return;
    }
    ssize_t n = recv(u->fd, u->in + u->in_len, UP_IN_CAP - u->in_len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      up_fail(u);
      return;
    }
    if (n == 0) {
      if (!u->item) { // an idle connection the upstream closed
        up_close(u);
        up_pump();
        return;
      }
      up_parse(u, true);
      return;
    }
    u->in_len += (size_t)n;
    if (!u->item) { // bytes nobody asked for
      up_fail(u);
      return;
    }
    if (!up_parse(u, false)) return;
    if (u->state != UP_BUSY) return;
  }
}

static void upstream_json(struct buf *b, bool reset) {
  if (!U.enabled) return;
  buf_printf(b,
             ",\"upstream\":{\"target\":\"%s\",\"requests\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"errors\":%" PRIu64
             ",\"retries\":%" PRIu64 ",\"connectionsOpened\":%" PRIu64 ",\"open\":%d,\"waiting\":%zu}",
             U.target, U.requests, U.responses, U.errors, U.retries, U.opened, U.open, U.wait_len);
  if (reset) U.requests = U.responses = U.errors = U.retries = 0;
}

/** --upstream HOST:PORT (numeric IPv4: the service VIP of the next hop). */
static bool upstream_setup(const char *spec, int max) {
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || strlen(spec) >= sizeof U.target) return false;
  char host[64];
  size_t hl = (size_t)(colon - spec);
  if (hl >= sizeof host) return false;
  memcpy(host, spec, hl);
  host[hl] = 0;
  double port;
  if (!parse_number(colon + 1, &port) || port != floor(port) || port < 1 || port > 65535) return false;
  memset(&U.addr, 0, sizeof U.addr);
  U.addr.sin_family = AF_INET;
  U.addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &U.addr.sin_addr) != 1) return false;
  snprintf(U.target, sizeof U.target, "%s", spec);
  U.max = max;
  U.pool = xcalloc((size_t)max, sizeof *U.pool);
  for (int i = 0; i < max; i++) U.pool[i].fd = -1;
  U.enabled = true;
  return true;
}

// ---------------------------------------------------------------- sockets and the loop

#define IN_CAP (32 * 1024)

static void conn_read(struct conn *c) {
  if (c->closed) return;
  if (c->in_len >= IN_CAP) {
    conn_update_events(c);
    return;
  }
  ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) conn_close(c);
    return;
  }
  if (n == 0) {
    c->peer_eof = true;
    // HTTP/1.1: answers still owed are written before the close; HTTP/2 clients do not half-close.
    if (c->kind != CONN_H1 || (c->q_len == 0 && buf_pending(&c->out) == 0)) conn_close(c);
    else conn_update_events(c);
    return;
  }
  c->in_len += (size_t)n;
  if (c->kind == CONN_UNKNOWN) {
    size_t cmp = c->in_len < H2_PREFACE_LEN ? c->in_len : H2_PREFACE_LEN;
    if (memcmp(c->in, H2_PREFACE, cmp) == 0) {
      if (c->in_len < H2_PREFACE_LEN) return;
      h2_start(c);
      if (c->closed) return;
    } else {
      c->kind = CONN_H1;
    }
  }
  if (c->kind == CONN_H1) h1_parse(c);
  else h2_recv(c);
}

static void on_conn_event(struct conn *c, uint32_t events) {
  if (c->closed) return;
  if ((events & EPOLLERR) || ((events & EPOLLHUP) && c->peer_eof)) {
    conn_close(c);
    return;
  }
  if (events & EPOLLOUT) {
    if (!conn_write_out(c)) return;
    if (c->kind == CONN_H2 && !h2_send(c)) return;
    if (c->kind == CONN_H1) h1_flush_queue(c); // answers held back while the buffer was full
    else conn_after_write(c);
    if (c->closed) return;
  }
  if (events & (EPOLLIN | EPOLLHUP)) conn_read(c);
}

static void on_accept(void) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(S.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if ((errno == EMFILE || errno == ENFILE) && S.reserve_fd >= 0) {
        // Out of descriptors: accept with the reserve and close at once, so the client hears no.
        close(S.reserve_fd);
        int x = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (x >= 0) close(x);
        S.refused++;
        S.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      logf_("accept: %s", strerror(errno));
      return;
    }
    S.accepted++;
    if (S.open_conns >= (uint64_t)S.max_connections) {
      S.refused++;
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->peer = peer_slot(&ss);
    c->in = xmalloc(IN_CAP);
    c->events = EPOLLIN;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
      close(fd);
      free(c->in);
      free(c);
      continue;
    }
    S.open_conns++;
  }
}

static int listen_on(const char *host, int port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) {
    logf_("--host %s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
    logf_("listen on %s:%d: %s", host, port, strerror(errno));
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void prebuild(void) {
  S.body = xmalloc(S.response_bytes);
  memset(S.body, 'x', S.response_bytes);
  static const char *const extra[3] = {"", "Connection: close\r\n", "Connection: keep-alive\r\n"};
  for (int i = 0; i < 3; i++) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu\r\n%s\r\n",
                     S.response_bytes, extra[i]);
    S.h1_ok_head[i] = xmalloc((size_t)n);
    memcpy(S.h1_ok_head[i], head, (size_t)n);
    S.h1_ok_head_len[i] = (size_t)n;
  }
  // BenchReply { bytes payload = 1; } framed: flag 0, u32 length, the message
  size_t n = S.response_bytes;
  uint8_t varint[10];
  size_t vl = 0;
  for (uint64_t v = n; ; v >>= 7) {
    varint[vl++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
    if (v < 0x80) break;
  }
  size_t msg_len = n ? 1 + vl + n : 0; // proto3: an empty payload is not written
  S.grpc_reply_len = 5 + msg_len;
  S.grpc_reply = xmalloc(S.grpc_reply_len);
  S.grpc_reply[0] = 0;
  S.grpc_reply[1] = (uint8_t)(msg_len >> 24);
  S.grpc_reply[2] = (uint8_t)(msg_len >> 16);
  S.grpc_reply[3] = (uint8_t)(msg_len >> 8);
  S.grpc_reply[4] = (uint8_t)msg_len;
  if (n) {
    S.grpc_reply[5] = 0x0a;
    memcpy(S.grpc_reply + 6, varint, vl);
    memset(S.grpc_reply + 6 + vl, 'x', n);
  }
}

static void h2_setup(void) {
  nghttp2_session_callbacks_new(&S.h2_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(S.h2_callbacks, h2_on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(S.h2_callbacks, h2_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(S.h2_callbacks, h2_on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(S.h2_callbacks, h2_on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(S.h2_callbacks, h2_on_stream_close);
  nghttp2_option_new(&S.h2_option);
  // Bounded: headers of one request at most 16 KiB (compressed or not).
  nghttp2_option_set_max_send_header_block_length(S.h2_option, 16 * 1024);
  nghttp2_option_set_max_deflate_dynamic_table_size(S.h2_option, 4096);
}

static bool parse_number(const char *s, double *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v)) return false;
  *out = v;
  return true;
}

static void usage(FILE *f) {
  fputs("usage: server --host H --port P --response-bytes N --delay-us D [--max-connections C] [--wake-early-us W]\n"
        "              [--upstream IPV4:PORT [--upstream-connections N]]\n"
        "       server --version\n",
        f);
}

int main(int argc, char **argv) {
  const char *host = "0.0.0.0";
  const char *port_s = "8080", *bytes_s = "1024", *delay_s = "0", *mode_s = "worker", *maxc_s = "16384", *early_s = NULL;
  const char *upstream_s = NULL, *upconn_s = "64";
  static const struct option opts[] = {
      {"host", required_argument, 0, 'h'},           {"port", required_argument, 0, 'p'},
      {"response-bytes", required_argument, 0, 'b'}, {"delay-us", required_argument, 0, 'd'},
      {"delay-mode", required_argument, 0, 'm'},     {"max-connections", required_argument, 0, 'c'},
      {"wake-early-us", required_argument, 0, 'w'},  {"version", no_argument, 0, 'V'},
      {"upstream", required_argument, 0, 'u'},      {"upstream-connections", required_argument, 0, 'n'},
      {"help", no_argument, 0, '?'},                 {0, 0, 0, 0},
  };
  opterr = 0;
  for (;;) {
    int o = getopt_long_only(argc, argv, "", opts, NULL);
    if (o == -1) break;
    switch (o) {
    case 'h': host = optarg; break;
    case 'p': port_s = optarg; break;
    case 'b': bytes_s = optarg; break;
    case 'd': delay_s = optarg; break;
    case 'm': mode_s = optarg; break;
    case 'c': maxc_s = optarg; break;
    case 'w': early_s = optarg; break;
    case 'u': upstream_s = optarg; break;
    case 'n': upconn_s = optarg; break;
    case 'V':
      printf("{\"name\":\"" SERVER_NAME "\",\"version\":\"" SERVER_VERSION "\",\"nghttp2\":\"%s\"}\n", nghttp2_version(0)->version_str);
      return 0;
    default:
      logf_("unknown or incomplete option %s", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    logf_("unexpected argument %s", argv[optind]);
    return 2;
  }
  double port, bytes, delay, maxc, early = 0;
  int problems = 0;
  if (!parse_number(port_s, &port) || port != floor(port) || port < 0 || port > 65535)
    problems++, logf_("--port: must be 0–65535, got %s", port_s);
  if (!parse_number(bytes_s, &bytes) || bytes != floor(bytes) || bytes < 0 || bytes > 256.0 * 1024 * 1024)
    problems++, logf_("--response-bytes: must be an integer 0–268435456, got %s", bytes_s);
  if (!parse_number(delay_s, &delay) || delay < 0 || delay > 60e6) problems++, logf_("--delay-us: must be 0–60000000, got %s", delay_s);
  if (strcmp(mode_s, "worker") && strcmp(mode_s, "timer") && strcmp(mode_s, "spin"))
    problems++, logf_("--delay-mode: worker, timer or spin, got %s", mode_s);
  if (!parse_number(maxc_s, &maxc) || maxc != floor(maxc) || maxc < 1 || maxc > 1e6)
    problems++, logf_("--max-connections: must be an integer 1–1000000, got %s", maxc_s);
  if (early_s && (!parse_number(early_s, &early) || early < 0 || early > 10000))
    problems++, logf_("--wake-early-us: must be 0–10000, got %s", early_s);
  double upconn = 0;
  if (!parse_number(upconn_s, &upconn) || upconn != floor(upconn) || upconn < 1 || upconn > UP_MAX_CONNECTIONS)
    problems++, logf_("--upstream-connections: must be an integer 1–%d, got %s", UP_MAX_CONNECTIONS, upconn_s);
  else if (upstream_s && !upstream_setup(upstream_s, (int)upconn))
    problems++, logf_("--upstream: must be IPV4:PORT (the next service's VIP), got %s", upstream_s);
  if (problems) return 2;

  S.response_bytes = (size_t)bytes;
  S.delay_us = delay;
  S.delay_ns = (uint64_t)llround(delay * 1000.0);
  S.max_connections = (int)maxc;
  S.wake_early_fixed_ns = (uint64_t)llround(early * 1000.0);
  S.wake_early_ns = S.wake_early_fixed_ns ? S.wake_early_fixed_ns : 50000;

  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // epoll/timer waits exact to the ns the kernel can
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  S.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  prebuild();
  h2_setup();
  if (S.delay_ns > 0) calibrate_wake();

  S.lfd = listen_on(host, (int)port);
  if (S.lfd < 0) return 1;
  S.epfd = epoll_create1(EPOLL_CLOEXEC);
  S.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  S.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (S.epfd < 0 || S.tfd < 0 || S.sfd < 0) {
    logf_("epoll/timerfd/signalfd: %s", strerror(errno));
    return 1;
  }
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = &S.lfd};
  epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.lfd, &e);
  e.data.ptr = &S.tfd;
  epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.tfd, &e);
  e.data.ptr = &S.sfd;
  epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.sfd, &e);

  if (S.delay_ns > 0)
    logf_("delay %.3f µs: timerfd woken %.1f µs early (calibrated), then a spin", S.delay_us, S.wake_early_ns / 1000.0);
  printf("{\"ready\":true,\"pid\":%d,\"port\":%d}\n", (int)getpid(), bound_port(S.lfd));
  fflush(stdout);

  struct epoll_event events[256];
  while (!S.stopping) {
    int n = epoll_wait(S.epfd, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      logf_("epoll_wait: %s", strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; i++) {
      void *p = events[i].data.ptr;
      if (p == &S.lfd) on_accept();
      else if (p == &S.tfd) on_timer();
      else if (p == &S.sfd) {
        struct signalfd_siginfo si;
        while (read(S.sfd, &si, sizeof si) == (ssize_t)sizeof si) S.stopping = true;
      } else if (up_owns(p)) up_event(p, events[i].events);
      else on_conn_event(p, events[i].events);
      fire_due();
    }
    free_dead();
  }
  close(S.lfd);
  logf_("stopped (%" PRIu64 " HTTP/1.1 requests, %" PRIu64 " gRPC calls since the last reset)", S.http.requests, S.grpc.calls);
  return 0;
}
