// µs latency histogram for the native load driver (and the native workload server, if it
// wants one): log-linear buckets exactly as HdrHistogram's with lowest discernible value 1
// and 3 significant digits (2048 sub-buckets, each power of two above 2048 µs split in 1024),
// so that hdr-histogram-js decodes what this encodes into the same counts, and the
// percentiles computed here equal what harness/load/histogram.ts computes from it.
//
// API (header-only; every function static):
//   mb_hist h; mb_hist_init(&h);            zeroed, no allocation (fixed array)
//   mb_hist_record(&h, valueUs);            0 counts as 1 µs (as recordLatencyUs)
//   mb_hist_percentile(&h, 99.0)            hdr-histogram-js getValueAtPercentile
//   mb_hist_mean(&h)                        hdr-histogram-js mean (median-equivalent values)
//   mb_hist_encode_base64(&h, &len)         malloc'd NUL-terminated string: HDR V2 compressed
//                                           encoding (zlib "stored" blocks), base64 — what
//                                           encodeIntoCompressedBase64 makes and
//                                           decodeFromCompressedBase64 reads
//   mb_hist_add(&into, &from)               sums counts
// h.min / h.max / h.total hold the exact smallest and largest value recorded and the count.
#ifndef MESHBENCH_HIST_H
#define MESHBENCH_HIST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MB_HIST_SUB_HALF_MAG 10                       // sub-bucket half count 1024
#define MB_HIST_SUB_HALF (1 << MB_HIST_SUB_HALF_MAG)
#define MB_HIST_SUB_COUNT (2 * MB_HIST_SUB_HALF)      // 2048: 3 significant digits
#define MB_HIST_BUCKETS 31                            // values up to 2^41 µs (25 days)
#define MB_HIST_LEN ((MB_HIST_BUCKETS + 1) * MB_HIST_SUB_HALF)
#define MB_HIST_MAX_VALUE ((((uint64_t)MB_HIST_SUB_COUNT) << (MB_HIST_BUCKETS - 1)) - 1)
/** What hdr-histogram-js's build() in histogram.ts declares: 60 s. */
#define MB_HIST_HIGHEST_TRACKABLE 60000000ULL

typedef struct {
  uint64_t counts[MB_HIST_LEN];
  uint64_t total;
  uint64_t min;  // exact, UINT64_MAX while empty
  uint64_t max;  // exact
  int max_index; // highest index with a count, -1 while empty
} mb_hist;

static inline void mb_hist_init(mb_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
  h->max_index = -1;
}

static inline int mb_hist_bucket(uint64_t v) {
  if (v == 0) return 0;
  int b = 63 - __builtin_clzll(v) - MB_HIST_SUB_HALF_MAG;
  return b < 0 ? 0 : b;
}

static inline int mb_hist_index(uint64_t v) {
  int b = mb_hist_bucket(v);
  uint64_t sub = v >> b;
  return ((b + 1) << MB_HIST_SUB_HALF_MAG) + (int)(sub - MB_HIST_SUB_HALF);
}

static inline uint64_t mb_hist_value_from_index(int i) {
  int b = (i >> MB_HIST_SUB_HALF_MAG) - 1;
  uint64_t sub = (uint64_t)(i & (MB_HIST_SUB_HALF - 1)) + MB_HIST_SUB_HALF;
  if (b < 0) {
    sub -= MB_HIST_SUB_HALF;
    b = 0;
  }
  return sub << b;
}

static inline uint64_t mb_hist_range_size(uint64_t v) {
  int b = mb_hist_bucket(v);
  uint64_t sub = v >> b;
  return 1ULL << (sub >= MB_HIST_SUB_COUNT ? b + 1 : b);
}

static inline uint64_t mb_hist_lowest_equivalent(uint64_t v) {
  int b = mb_hist_bucket(v);
  return (v >> b) << b;
}

static inline uint64_t mb_hist_highest_equivalent(uint64_t v) {
  return mb_hist_lowest_equivalent(v) + mb_hist_range_size(v) - 1;
}

static inline void mb_hist_record_n(mb_hist *h, uint64_t v, uint64_t n) {
  if (v < 1) v = 1;
  if (v > MB_HIST_MAX_VALUE) v = MB_HIST_MAX_VALUE;
  int i = mb_hist_index(v);
  h->counts[i] += n;
  h->total += n;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  if (i > h->max_index) h->max_index = i;
}

static inline void mb_hist_record(mb_hist *h, uint64_t v) { mb_hist_record_n(h, v, 1); }

static inline void mb_hist_add(mb_hist *into, const mb_hist *from) {
  for (int i = 0; i <= from->max_index; i++) into->counts[i] += from->counts[i];
  into->total += from->total;
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
  if (from->max_index > into->max_index) into->max_index = from->max_index;
}

/** hdr-histogram-js getValueAtPercentile, step for step (its ulp guard included). */
static inline uint64_t mb_hist_percentile(const mb_hist *h, double percentile) {
  if (h->total == 0) return 0;
  double p = percentile > 100 ? 100 : percentile;
  double fp = (p / 100.0) * (double)h->total;
  double ulp = fp > 0 ? ldexp(1.0, (int)floor(log2(fp)) - 52) : 0;
  double want = ceil(fp - ulp);
  if (want < 1) want = 1;
  uint64_t count_at = (uint64_t)want;
  uint64_t running = 0;
  for (int i = 0; i <= h->max_index; i++) {
    running += h->counts[i];
    if (running >= count_at) {
      uint64_t v = mb_hist_value_from_index(i);
      return percentile == 0 ? mb_hist_lowest_equivalent(v) : mb_hist_highest_equivalent(v);
    }
  }
  return 0;
}

/** hdr-histogram-js mean: every count at its bucket's median-equivalent value. */
static inline double mb_hist_mean(const mb_hist *h) {
  if (h->total == 0) return 0;
  double sum = 0;
  for (int i = 0; i <= h->max_index; i++) {
    if (h->counts[i] == 0) continue;
    uint64_t v = mb_hist_value_from_index(i);
    sum += (double)(mb_hist_lowest_equivalent(v) + mb_hist_range_size(v) / 2) * (double)h->counts[i];
  }
  return sum / (double)h->total;
}

// ---- encoding ----

typedef struct {
  uint8_t *data;
  size_t len, cap;
} mb_bytes;

static inline void mb_bytes_put(mb_bytes *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    b->data = (uint8_t *)realloc(b->data, cap);
    if (!b->data) abort();
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void mb_bytes_u8(mb_bytes *b, uint8_t v) { mb_bytes_put(b, &v, 1); }

static inline void mb_bytes_be32(mb_bytes *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  mb_bytes_put(b, x, 4);
}

static inline void mb_bytes_be64(mb_bytes *b, uint64_t v) {
  mb_bytes_be32(b, (uint32_t)(v >> 32));
  mb_bytes_be32(b, (uint32_t)v);
}

/** ZigZag LEB128 (HdrHistogram's 64b9B variant; identical to plain LEB128 below 2^56). */
static inline void mb_bytes_zigzag(mb_bytes *b, int64_t value) {
  uint64_t v = value >= 0 ? (uint64_t)value * 2 : (uint64_t)(-value) * 2 - 1;
  for (int i = 0; i < 8; i++) {
    if (v < 0x80) {
      mb_bytes_u8(b, (uint8_t)v);
      return;
    }
    mb_bytes_u8(b, (uint8_t)((v & 0x7f) | 0x80));
    v >>= 7;
  }
  mb_bytes_u8(b, (uint8_t)v); // 9th byte: all 8 bits
}

static inline uint32_t mb_adler32(const uint8_t *p, size_t n) {
  uint32_t a = 1, s = 0;
  for (size_t i = 0; i < n; i++) {
    a = (a + p[i]) % 65521;
    s = (s + a) % 65521;
  }
  return (s << 16) | a;
}

static inline char *mb_base64(const uint8_t *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = (char *)malloc(4 * ((n + 2) / 3) + 1);
  if (!out) abort();
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t x = (uint32_t)p[i] << 16;
    if (i + 1 < n) x |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) x |= p[i + 2];
    out[o++] = tab[(x >> 18) & 63];
    out[o++] = tab[(x >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(x >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[x & 63] : '=';
  }
  out[o] = 0;
  return out;
}

/** HDR V2 compressed encoding, base64 (see the header comment). Caller frees. */
static inline char *mb_hist_encode_base64(const mb_hist *h) {
  mb_bytes inner = {0};
  uint64_t highest = MB_HIST_HIGHEST_TRACKABLE;
  if (h->max_index >= 0) {
    uint64_t top = mb_hist_highest_equivalent(mb_hist_value_from_index(h->max_index));
    if (top > highest) highest = top;
  }
  mb_bytes_be32(&inner, 0x1c849313); // V2 encoding cookie, word size 9 (LEB128)
  mb_bytes_be32(&inner, 0);          // payload length, filled in below
  mb_bytes_be32(&inner, 1);          // normalizing index offset (unused)
  mb_bytes_be32(&inner, 3);          // significant digits
  mb_bytes_be64(&inner, 1);          // lowest discernible value
  mb_bytes_be64(&inner, highest);
  mb_bytes_be64(&inner, 1);          // integer-to-double ratio (unused)
  size_t payload_start = inner.len;
  int limit = h->max_index + 1;
  for (int i = 0; i < limit;) {
    uint64_t c = h->counts[i++];
    if (c == 0) {
      int64_t zeros = 1;
      while (i < limit && h->counts[i] == 0) {
        zeros++;
        i++;
      }
      mb_bytes_zigzag(&inner, zeros > 1 ? -zeros : 0);
    } else {
      mb_bytes_zigzag(&inner, (int64_t)c);
    }
  }
  uint32_t payload = (uint32_t)(inner.len - payload_start);
  inner.data[4] = (uint8_t)(payload >> 24);
  inner.data[5] = (uint8_t)(payload >> 16);
  inner.data[6] = (uint8_t)(payload >> 8);
  inner.data[7] = (uint8_t)payload;

  // zlib stream of stored (uncompressed) deflate blocks: no zlib needed to write it.
  mb_bytes z = {0};
  mb_bytes_u8(&z, 0x78);
  mb_bytes_u8(&z, 0x01);
  size_t off = 0;
  do {
    size_t n = inner.len - off > 65535 ? 65535 : inner.len - off;
    int final = off + n == inner.len;
    mb_bytes_u8(&z, (uint8_t)final); // BFINAL, BTYPE 00
    uint8_t lens[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)};
    mb_bytes_put(&z, lens, 4);
    mb_bytes_put(&z, inner.data + off, n);
    off += n;
  } while (off < inner.len);
  mb_bytes_be32(&z, mb_adler32(inner.data, inner.len));

  mb_bytes outer = {0};
  mb_bytes_be32(&outer, 0x1c849314); // V2 compressed encoding cookie
  mb_bytes_be32(&outer, (uint32_t)z.len);
  mb_bytes_put(&outer, z.data, z.len);
  char *b64 = mb_base64(outer.data, outer.len);
  free(inner.data);
  free(z.data);
  free(outer.data);
  return b64;
}

#endif
