// SPDX-License-Identifier: Apache-2.0
/* meshbench probe loader: open → load → attach → poll, one cleanup path, nothing pinned
 * (every link and map lives only as long as this process's fds, so a dead loader leaves
 * nothing behind).
 *
 *   loader --probes dwell,runq,cpu,connect,memory [--mem-interval-ms 200]
 *          [--max-components 512] [--sample-every N] [--obj-dir DIR] [--verbose]
 *
 * --sample-every N: the dwell probe's hooks are attached for the first 1/N of every second
 * and detached for the rest (no cost at all while detached); its figures are then a sample
 * of 1 in N of the time. Each new window bumps probe_config.epoch, so no message is paired
 * across a gap.
 *
 * Prints {"ready":true,"probes":[…],"failed":{"probe":"reason"},…} once attached, then
 * reads commands on stdin, one per line, and answers each with exactly one JSON line:
 *   track-tgid <tgid> <componentId>         {"ok":true,…}
 *   track-cgroup <cgroup-v2-dir> <componentId>
 *   attach-cgroup <cgroup-v2-dir>   attach the probes' cgroup programs (dwell's cgroup_skb, sockops)
 *                                    to the cell's cgroup: they see its sockets and no others
 *   origin <componentId>   the component's requests are the ones a request tuple follows (the
 *                          client app): the snapshot's "medianRequest" averages the parts of the
 *                          whole requests around the median round trip (see probes.h)
 *   start      zero every counter, begin the measured window
 *   snapshot   {"snapshot":{…}} all figures so far
 *   stop       the final snapshot, then exit 0
 * A failed command answers {"error":"…"}; a fatal error also ends the process non-zero.
 * stdin EOF, SIGINT, SIGTERM or SIGHUP: clean up and exit 0. Whatever ends it, the last line
 * on stderr says why: {"exit":"stop"}, {"exit":"stdin closed"}, {"exit":"stdout closed"} or
 * {"exit":"signal","signal":"SIGTERM","senderPid":N,"sender":"its command line"}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

enum probe_id { PROBE_DWELL, PROBE_RUNQ, PROBE_CPU, PROBE_CONNECT, PROBE_MEMORY, N_PROBES };
static const char *const probe_names[N_PROBES] = { "dwell", "runq", "cpu", "connect", "memory" };

#define MAX_LINKS 32

struct probe {
	bool selected;
	bool attached;
	struct bpf_object *obj;
	struct bpf_link *links[MAX_LINKS];
	int n_links;
	/* cgroup programs: attached by attach-cgroup, not at load */
	struct bpf_program *cgroup_progs[4];
	int n_cgroup_progs;
	char failure[640];
};

struct memory_figures {
	__u64 peak_bytes;
	double sum_bytes;
	__u64 samples;
};

static struct probe probes[N_PROBES];

/* The dwell probe's hooks, attached and detached as one (sampling windows). */
#define SAMPLE_PERIOD_NS 1000000000ull
static unsigned int sample_every = 1;
static struct bpf_program *dwell_tp_progs[8];
static int n_dwell_tp_progs;
static struct bpf_link *dwell_links[16];
static int n_dwell_links;
static int dwell_cgroup_fd = -1;
static bool dwell_on;
static __u32 epoch;
static volatile sig_atomic_t exiting;
/* Why the loader ends, written to stderr as one JSON line on the way out so the harness can
 * say it (a loader that exits 0 mid-cell must never be a mystery). */
enum exit_reason { EXIT_NONE, EXIT_STOP, EXIT_STDIN_EOF, EXIT_STDOUT_CLOSED, EXIT_SIGNAL };
static volatile sig_atomic_t exit_reason;
static volatile sig_atomic_t exit_signo;
static volatile sig_atomic_t exit_sender_pid; /* si_pid: who sent the signal (0: the kernel) */
static bool verbose;
static unsigned int max_components = MAX_COMPONENTS;
static unsigned int mem_interval_ms = 200;
static int n_cpus;
static long page_size;

/* Shared maps, created here and reused by every object. */
static int tgids_fd = -1, cgroups_fd = -1, config_fd = -1;
static unsigned int cgroups_tracked;
/* Per-probe maps, looked up after load. */
static int dwell_hist_fd = -1, runq_hist_fd = -1, connect_hist_fd = -1, conn_counters_fd = -1;
static int cpu_counters_fd = -1, cpu_state_fd = -1;
static int path_hist_fd = -1, hop_hist_fd = -1;
static struct bpf_link *mem_iter_link;
static int path_tuple_fd = -1, path_origin_fd = -1;
static struct ring_buffer *tuple_ring;

/* Request tuples the dwell probe kept (probes.h), read from its ring buffer on the loader's
 * own clock. At most TUPLES_KEPT are held: beyond that a uniform sample (reservoir). */
#define TUPLES_KEPT 65536
#define TUPLE_DRAIN_MS 20
#define TUPLE_BAND_MIN 20 /* requests averaged around the median, at least (or all there are) */
struct kept_tuple {
	__u64 round_trip_ns;
	__u32 n;
	struct tuple_part parts[];
};
static struct kept_tuple **tuples;
static __u64 tuples_seen;
static __u32 tuples_kept;
static __u64 tuple_rng = 0x9e3779b97f4a7c15ull;

static bool *component_tracked;            /* [max_components] */
static struct memory_figures *memory;      /* [max_components] */
static __u64 *sample_pages;                /* [max_components], scratch */
static bool *sample_seen;                  /* [max_components], scratch */
static __u64 window_start_ns;

/* The newest libbpf messages (a verifier log ends with its verdict), so a probe's
 * failure can say why. */
static char libbpf_log[16384];
static size_t libbpf_log_len;

static void keep_log_tail(const char *msg, size_t n)
{
	const size_t cap = sizeof(libbpf_log) - 1;
	if (n >= cap) {
		memcpy(libbpf_log, msg + (n - cap), cap);
		libbpf_log_len = cap;
	} else {
		if (libbpf_log_len + n > cap) {
			size_t drop = libbpf_log_len + n - cap;
			memmove(libbpf_log, libbpf_log + drop, libbpf_log_len - drop);
			libbpf_log_len -= drop;
		}
		memcpy(libbpf_log + libbpf_log_len, msg, n);
		libbpf_log_len += n;
	}
	libbpf_log[libbpf_log_len] = '\0';
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level != LIBBPF_DEBUG) {
		va_list copy;
		char *msg = NULL;
		va_copy(copy, args);
		int n = vasprintf(&msg, fmt, copy);
		va_end(copy);
		if (n > 0)
			keep_log_tail(msg, (size_t)n);
		free(msg);
	}
	if (verbose || level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, args);
	return 0;
}

static __u64 now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock bpf_ktime_get_ns() reads */
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* ------------------------------------------------------------------ JSON output */

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* Every answer ends here: one line, flushed. A closed stdout means nobody listens. */
static void end_line(void)
{
	fputc('\n', stdout);
	if (fflush(stdout) != 0) {
		exiting = 1;
		if (exit_reason == EXIT_NONE)
			exit_reason = EXIT_STDOUT_CLOSED;
	}
}

static void reply_error(const char *fmt, ...)
{
	char msg[1024];
	va_list args;
	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	fputs("{\"error\":", stdout);
	json_string(stdout, msg);
	fputc('}', stdout);
	end_line();
}

/* ------------------------------------------------------------------ loading */

/* Copies the line of `log` that ends just before `end` (skipping blank lines) into out. */
static const char *previous_line(const char *log, const char *end, char *out, size_t size)
{
	while (end > log && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	const char *line = end;
	while (line > log && line[-1] != '\n')
		line--;
	size_t n = (size_t)(end - line);
	if (n >= size)
		n = size - 1;
	memcpy(out, line, n);
	out[n] = '\0';
	return line;
}

/* A failure reason a person can act on: for a verifier rejection, the verifier's verdict
 * (the log line before "processed N insns"); otherwise libbpf's last message. */
static void set_failure(struct probe *p, const char *step, int err)
{
	char detail[400] = "", line[300];
	const char *log_end = libbpf_log + libbpf_log_len;
	const char *verifier_end = strstr(libbpf_log, "-- END PROG LOAD LOG --");
	if (verifier_end) {
		const char *cursor = verifier_end;
		while (cursor > libbpf_log) {
			cursor = previous_line(libbpf_log, cursor, line, sizeof(line));
			if (line[0] && strncmp(line, "processed ", 10) && strncmp(line, "verification time", 17) &&
			    strncmp(line, "stack depth", 11)) {
				const char *prog = strstr(libbpf_log, "prog '");
				int name_len = prog ? (int)strcspn(prog + 6, "'") : 0;
				snprintf(detail, sizeof(detail), "%s%.*s%s%s", prog ? "prog " : "", name_len,
					 prog ? prog + 6 : "", prog ? ": " : "", line);
				break;
			}
		}
	}
	if (!detail[0] && libbpf_log_len)
		previous_line(libbpf_log, log_end, detail, sizeof(detail));
	snprintf(p->failure, sizeof(p->failure), "%s: %s%s%s", step, strerror(err > 0 ? err : -err),
		 detail[0] ? ": " : "", detail);
}

static bool is_component_map(const char *name)
{
	return !strcmp(name, "dwell_hist") || !strcmp(name, "runq_hist") || !strcmp(name, "connect_hist") ||
	       !strcmp(name, "conn_counters") || !strcmp(name, "cpu_counters") || !strcmp(name, "path_origin");
}

static int create_shared_maps(void)
{
	tgids_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tracked_tgids", sizeof(__u32), sizeof(__u32),
				  MAX_TRACKED_TGIDS, NULL);
	cgroups_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tracked_cgroups", sizeof(__u64), sizeof(__u32),
				    MAX_TRACKED_CGROUPS, NULL);
	config_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "probe_config", sizeof(__u32),
				   sizeof(struct probe_config), 1, NULL);
	if (tgids_fd < 0 || cgroups_fd < 0 || config_fd < 0)
		return -errno;
	return 0;
}

static int dwell_attach(void);

static void load_probe(enum probe_id id, const char *obj_dir)
{
	struct probe *p = &probes[id];
	char path[PATH_MAX];
	struct bpf_map *map;
	struct bpf_program *prog;
	int err;

	libbpf_log_len = 0;
	libbpf_log[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.bpf.o", obj_dir, probe_names[id]);
	p->obj = bpf_object__open_file(path, NULL);
	if (!p->obj) {
		set_failure(p, path, errno);
		return;
	}
	bpf_object__for_each_map(map, p->obj) {
		const char *name = bpf_map__name(map);
		int shared_fd = !strcmp(name, "tracked_tgids")	 ? tgids_fd
				: !strcmp(name, "tracked_cgroups") ? cgroups_fd
				: !strcmp(name, "probe_config")	   ? config_fd
								   : -1;
		if (shared_fd >= 0)
			err = bpf_map__reuse_fd(map, shared_fd);
		else if (is_component_map(name))
			err = bpf_map__set_max_entries(map, max_components);
		else
			err = 0;
		if (err) {
			set_failure(p, name, err);
			return;
		}
	}
	err = bpf_object__load(p->obj);
	if (err) {
		set_failure(p, "load", err);
		return;
	}
	bpf_object__for_each_program(prog, p->obj) {
		if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SKB || bpf_program__type(prog) == BPF_PROG_TYPE_SOCK_OPS) {
			if (p->n_cgroup_progs == (int)(sizeof(p->cgroup_progs) / sizeof(p->cgroup_progs[0]))) {
				set_failure(p, "attach", E2BIG);
				return;
			}
			p->cgroup_progs[p->n_cgroup_progs++] = prog;
			continue;
		}
		if (id == PROBE_DWELL) {
			if (n_dwell_tp_progs == (int)(sizeof(dwell_tp_progs) / sizeof(dwell_tp_progs[0]))) {
				set_failure(p, "attach", E2BIG);
				return;
			}
			dwell_tp_progs[n_dwell_tp_progs++] = prog; /* attached by dwell_attach() */
			continue;
		}
		if (p->n_links == MAX_LINKS) {
			set_failure(p, "attach", E2BIG);
			return;
		}
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			char step[128];
			snprintf(step, sizeof(step), "attach %s", bpf_program__section_name(prog));
			set_failure(p, step, errno);
			return;
		}
		p->links[p->n_links++] = link;
		if (id == PROBE_MEMORY)
			mem_iter_link = link;
	}
	if (id == PROBE_DWELL) {
		int err = dwell_attach();
		if (err) {
			set_failure(p, "attach", err);
			return;
		}
	}
	p->attached = true;
}

static void write_config(void);

static void dwell_detach(void)
{
	for (int i = n_dwell_links - 1; i >= 0; i--)
		bpf_link__destroy(dwell_links[i]);
	n_dwell_links = 0;
	dwell_on = false;
}

/* Attaches the dwell probe's tracepoints, and its cgroup programs once a cgroup is given. */
static int dwell_attach(void)
{
	struct probe *p = &probes[PROBE_DWELL];
	epoch++;
	write_config(); /* first: state of the last window is stale from here on */
	for (int i = 0; i < n_dwell_tp_progs; i++) {
		struct bpf_link *link = bpf_program__attach(dwell_tp_progs[i]);
		if (!link)
			goto fail;
		dwell_links[n_dwell_links++] = link;
	}
	for (int i = 0; dwell_cgroup_fd >= 0 && i < p->n_cgroup_progs; i++) {
		struct bpf_link *link = bpf_program__attach_cgroup(p->cgroup_progs[i], dwell_cgroup_fd);
		if (!link)
			goto fail;
		dwell_links[n_dwell_links++] = link;
	}
	dwell_on = true;
	return 0;
fail:;
	int err = -errno;
	dwell_detach();
	return err;
}

static int map_fd(enum probe_id id, const char *name)
{
	if (!probes[id].attached)
		return -1;
	return bpf_object__find_map_fd_by_name(probes[id].obj, name);
}

static void unload_probe(struct probe *p)
{
	for (int i = p->n_links - 1; i >= 0; i--)
		bpf_link__destroy(p->links[i]);
	p->n_links = 0;
	p->n_cgroup_progs = 0;
	bpf_object__close(p->obj); /* NULL-safe */
	p->obj = NULL;
	p->attached = false;
}

/* The one cleanup path. */
static void cleanup(void)
{
	dwell_detach();
	if (tuple_ring)
		ring_buffer__free(tuple_ring);
	tuple_ring = NULL;
	for (__u32 i = 0; tuples && i < tuples_kept; i++)
		free(tuples[i]);
	free(tuples);
	tuples = NULL;
	tuples_kept = 0;
	if (dwell_cgroup_fd >= 0)
		close(dwell_cgroup_fd);
	dwell_cgroup_fd = -1;
	for (int i = N_PROBES - 1; i >= 0; i--)
		unload_probe(&probes[i]);
	mem_iter_link = NULL;
	if (tgids_fd >= 0)
		close(tgids_fd);
	if (cgroups_fd >= 0)
		close(cgroups_fd);
	if (config_fd >= 0)
		close(config_fd);
	tgids_fd = cgroups_fd = config_fd = -1;
	free(component_tracked);
	free(memory);
	free(sample_pages);
	free(sample_seen);
	component_tracked = NULL;
	memory = NULL;
	sample_pages = NULL;
	sample_seen = NULL;
}

/* libbpf resolves tracepoints through tracefs; mount it where it is missing. */
static void ensure_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0)
		fprintf(stderr, "loader: tracefs is not mounted and mounting it failed: %s\n", strerror(errno));
}

/* ------------------------------------------------------------------ counters */

static void write_config(void)
{
	__u32 zero = 0;
	struct probe_config cfg = { .window_start_ns = window_start_ns, .cgroups_tracked = cgroups_tracked, .epoch = epoch };
	bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY);
}

/* Only ids ever tracked can hold counts (plus 0, the unattributed softirq time). */
static void zero_map(int fd, size_t value_size)
{
	if (fd < 0)
		return;
	void *zeros = calloc(1, value_size);
	if (!zeros)
		return;
	for (__u32 key = 0; key < max_components; key++)
		if (key == 0 || component_tracked[key])
			bpf_map_update_elem(fd, &key, zeros, BPF_ANY);
	free(zeros);
}

/* Hash maps whose entries appear on demand: emptied at `start`. */
static void clear_hash_map(int fd, size_t key_size)
{
	if (fd < 0)
		return;
	char key[64], next[64];
	if (key_size > sizeof(key))
		return;
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key) != 0)
			break;
	}
}

static size_t percpu_size(size_t value_size)
{
	return ((value_size + 7) & ~(size_t)7) * (size_t)n_cpus;
}

static void sample_memory(void);

static __u64 next_random(void)
{
	/* xorshift64: a reservoir's choices, not cryptography */
	tuple_rng ^= tuple_rng << 13;
	tuple_rng ^= tuple_rng >> 7;
	tuple_rng ^= tuple_rng << 17;
	return tuple_rng;
}

static int on_tuple(void *ctx, void *data, size_t size)
{
	(void)ctx;
	const struct req_tuple *t = data;
	if (size < sizeof(*t) || t->n > TUPLE_MAX_PARTS)
		return 0;
	__u64 slot = tuples_seen++;
	if (tuples_kept == TUPLES_KEPT) {
		slot = next_random() % tuples_seen;
		if (slot >= TUPLES_KEPT)
			return 0;
	} else {
		slot = tuples_kept;
	}
	struct kept_tuple *k = malloc(sizeof(*k) + t->n * sizeof(struct tuple_part));
	if (!k)
		return 0;
	k->round_trip_ns = t->round_trip_ns;
	k->n = t->n;
	memcpy(k->parts, t->parts, t->n * sizeof(struct tuple_part));
	if (slot == tuples_kept)
		tuples_kept++;
	else
		free(tuples[slot]);
	tuples[slot] = k;
	return 0;
}

static void drain_tuples(void)
{
	if (tuple_ring)
		ring_buffer__consume(tuple_ring);
}

static void forget_tuples(void)
{
	drain_tuples();
	for (__u32 i = 0; i < tuples_kept; i++)
		free(tuples[i]);
	tuples_kept = 0;
	tuples_seen = 0;
	if (path_tuple_fd >= 0) {
		/* the record being filled began before `start`: drop it (the programs race this write,
		 * and a torn record is at worst one tuple judged not alone) */
		struct tuple_state zero_state = { .epoch = epoch };
		__u32 zero = 0;
		bpf_map_update_elem(path_tuple_fd, &zero, &zero_state, BPF_ANY);
	}
}

static void cmd_start(void)
{
	window_start_ns = now_ns();
	write_config(); /* first, so cpu time of a task running across `start` counts from here */
	zero_map(dwell_hist_fd, sizeof(struct hist));
	zero_map(runq_hist_fd, sizeof(struct hist));
	zero_map(connect_hist_fd, sizeof(struct hist));
	zero_map(conn_counters_fd, sizeof(struct conn_counters));
	zero_map(cpu_counters_fd, percpu_size(sizeof(struct cpu_counters)));
	clear_hash_map(path_hist_fd, sizeof(struct path_key));
	clear_hash_map(hop_hist_fd, sizeof(struct hop_key));
	forget_tuples();
	memset(memory, 0, sizeof(*memory) * max_components);
	if (mem_iter_link)
		sample_memory();
	printf("{\"ok\":true,\"windowStartNs\":%llu}", (unsigned long long)window_start_ns);
	end_line();
}

/* Runs the task iterator once; adds one sample to each component that has a process. */
static void sample_memory(void)
{
	if (!mem_iter_link)
		return;
	int fd = bpf_iter_create(bpf_link__fd(mem_iter_link));
	if (fd < 0) {
		fprintf(stderr, "loader: bpf_iter_create: %s\n", strerror(errno));
		return;
	}
	memset(sample_pages, 0, sizeof(*sample_pages) * max_components);
	memset(sample_seen, 0, sizeof(*sample_seen) * max_components);
	/* Records may straddle read() boundaries: keep the partial tail. */
	char buf[8192];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t off = 0;
		for (; off + sizeof(struct mem_record) <= have; off += sizeof(struct mem_record)) {
			struct mem_record rec;
			memcpy(&rec, buf + off, sizeof(rec));
			if (rec.component < max_components) {
				sample_pages[rec.component] += rec.rss_pages;
				sample_seen[rec.component] = true;
			}
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	close(fd);
	for (unsigned int c = 1; c < max_components; c++) {
		if (!sample_seen[c])
			continue;
		__u64 bytes = sample_pages[c] * (__u64)page_size;
		struct memory_figures *m = &memory[c];
		if (bytes > m->peak_bytes)
			m->peak_bytes = bytes;
		m->sum_bytes += (double)bytes;
		m->samples++;
	}
}

static void print_hist_at(int fd, const void *key)
{
	struct hist h;
	__u64 count = 0;
	bool first = true;
	if (fd < 0 || bpf_map_lookup_elem(fd, key, &h) != 0)
		memset(&h, 0, sizeof(h));
	fputs("{\"slots\":[", stdout);
	for (int i = 0; i < HIST_SLOTS; i++) {
		if (!h.slots[i])
			continue;
		printf("%s[%d,%llu]", first ? "" : ",", i, (unsigned long long)h.slots[i]);
		count += h.slots[i];
		first = false;
	}
	printf("],\"count\":%llu,\"sumNs\":%llu}", (unsigned long long)count, (unsigned long long)h.sum_ns);
}

static void print_hist(int fd, __u32 component) { print_hist_at(fd, &component); }

static const char *const path_kind_names[PATH_KINDS] = { "served", "waited", "wakeReq", "wakeResp", "txReq", "txResp" };

/* The dwell probe's path figures of one component: one histogram per kind seen. */
static void print_path(__u32 component)
{
	bool first = true;
	fputs(",\"path\":{", stdout);
	for (__u32 kind = 0; kind < PATH_KINDS; kind++) {
		struct path_key key = { .component = component, .kind = kind };
		struct hist h;
		if (bpf_map_lookup_elem(path_hist_fd, &key, &h) != 0)
			continue;
		printf("%s\"%s\":", first ? "" : ",", path_kind_names[kind]);
		print_hist_at(path_hist_fd, &key);
		first = false;
	}
	fputc('}', stdout);
}

/* Every hop seen: {"from":id,"to":id,"transit":hist}. */
static void print_hops(void)
{
	struct hop_key key, next;
	bool first = true, have = false;
	fputs(",\"hops\":[", stdout);
	while (bpf_map_get_next_key(hop_hist_fd, have ? &key : NULL, &next) == 0) {
		key = next;
		have = true;
		printf("%s{\"from\":%u,\"to\":%u,\"transit\":", first ? "" : ",", key.from, key.to);
		print_hist_at(hop_hist_fd, &key);
		fputc('}', stdout);
		first = false;
	}
	fputc(']', stdout);
}

static int by_round_trip(const void *a, const void *b)
{
	__u64 x = (*(struct kept_tuple *const *)a)->round_trip_ns, y = (*(struct kept_tuple *const *)b)->round_trip_ns;
	return x < y ? -1 : x > y;
}

struct band_sum {
	__u32 kind;
	__u16 a, b;
	double ns;
};

/* The parts of the requests around the median round trip, averaged (a part a request did
 * not have counts 0): they add up to the band's mean round trip, which is the median's
 * neighbourhood. {"requests":seen,"kept":n,"averaged":w,"roundTripP50Ns":…,"roundTripMeanNs":…,
 * "parts":[{"component":c,"kind":"served","ns":x}],"hops":[{"from":a,"to":b,"ns":x}]} */
static void print_median_request(void)
{
	drain_tuples();
	__u32 n = tuples_kept;
	__u32 w = n / 10 > TUPLE_BAND_MIN ? n / 10 : (n < TUPLE_BAND_MIN ? n : TUPLE_BAND_MIN);
	__u32 lo = (n - w) / 2;
	qsort(tuples, n, sizeof(*tuples), by_round_trip);
	struct band_sum sums[4 * TUPLE_MAX_PARTS];
	__u32 n_sums = 0;
	double rt_sum = 0;
	for (__u32 i = lo; i < lo + w; i++) {
		const struct kept_tuple *t = tuples[i];
		rt_sum += (double)t->round_trip_ns;
		for (__u32 j = 0; j < t->n; j++) {
			const struct tuple_part *p = &t->parts[j];
			__u32 s = 0;
			while (s < n_sums && (sums[s].kind != p->kind || sums[s].a != p->a || sums[s].b != p->b))
				s++;
			if (s == n_sums) {
				if (n_sums == sizeof(sums) / sizeof(sums[0]))
					continue;
				sums[n_sums++] = (struct band_sum){ .kind = p->kind, .a = p->a, .b = p->b, .ns = 0 };
			}
			sums[s].ns += p->ns;
		}
	}
	printf(",\"medianRequest\":{\"requests\":%llu,\"kept\":%u,\"averaged\":%u", (unsigned long long)tuples_seen, n, w);
	if (w > 0)
		printf(",\"roundTripP50Ns\":%llu,\"roundTripMeanNs\":%.0f", (unsigned long long)tuples[n / 2]->round_trip_ns, rt_sum / w);
	fputs(",\"parts\":[", stdout);
	bool first = true;
	for (__u32 s = 0; s < n_sums; s++) {
		if (sums[s].kind >= PATH_KINDS)
			continue;
		printf("%s{\"component\":%u,\"kind\":\"%s\",\"ns\":%.0f}", first ? "" : ",", sums[s].a, path_kind_names[sums[s].kind], sums[s].ns / w);
		first = false;
	}
	fputs("],\"hops\":[", stdout);
	first = true;
	for (__u32 s = 0; s < n_sums; s++) {
		if (sums[s].kind != TUPLE_HOP)
			continue;
		printf("%s{\"from\":%u,\"to\":%u,\"ns\":%.0f}", first ? "" : ",", sums[s].a, sums[s].b, sums[s].ns / w);
		first = false;
	}
	fputs("]}", stdout);
}

static void cmd_snapshot(bool final)
{
	__u64 now = now_ns();
	struct cpu_counters *cpu_percpu = NULL;
	__u64 *running_ns = NULL; /* per component: the stretch now running, not yet switched out */

	if (cpu_counters_fd >= 0) {
		cpu_percpu = calloc((size_t)n_cpus, sizeof(struct cpu_counters));
		running_ns = calloc(max_components, sizeof(__u64));
		struct cpu_state *states = calloc((size_t)n_cpus, sizeof(struct cpu_state));
		__u32 zero = 0;
		if (states && running_ns && bpf_map_lookup_elem(cpu_state_fd, &zero, states) == 0) {
			for (int cpu = 0; cpu < n_cpus; cpu++) {
				__u64 from = states[cpu].since_ns > window_start_ns ? states[cpu].since_ns : window_start_ns;
				__u32 c = states[cpu].component;
				if (c && c < max_components && now > from)
					running_ns[c] += now - from;
			}
		}
		free(states);
	}

	printf("{\"snapshot\":{\"final\":%s,\"sampleEvery\":%u,\"windowNs\":%llu,\"components\":[", final ? "true" : "false", sample_every,
	       (unsigned long long)(window_start_ns ? now - window_start_ns : 0));
	bool first = true;
	for (__u32 c = 1; c < max_components; c++) {
		if (!component_tracked[c])
			continue;
		printf("%s{\"id\":%u", first ? "" : ",", c);
		first = false;
		if (dwell_hist_fd >= 0) {
			fputs(",\"dwell\":", stdout);
			print_hist(dwell_hist_fd, c);
		}
		if (path_hist_fd >= 0)
			print_path(c);
		if (runq_hist_fd >= 0) {
			fputs(",\"runq\":", stdout);
			print_hist(runq_hist_fd, c);
		}
		if (cpu_percpu && running_ns) {
			__u64 oncpu = running_ns[c], softirq = 0;
			if (bpf_map_lookup_elem(cpu_counters_fd, &c, cpu_percpu) == 0) {
				for (int cpu = 0; cpu < n_cpus; cpu++) {
					oncpu += cpu_percpu[cpu].oncpu_ns;
					softirq += cpu_percpu[cpu].softirq_ns;
				}
			}
			printf(",\"cpu\":{\"onCpuNs\":%llu,\"softirqNs\":%llu}", (unsigned long long)oncpu,
			       (unsigned long long)softirq);
		}
		if (connect_hist_fd >= 0) {
			struct conn_counters cc = { 0 };
			bpf_map_lookup_elem(conn_counters_fd, &c, &cc);
			printf(",\"connect\":{\"established\":%llu,\"failed\":%llu,\"accepted\":%llu,\"latency\":",
			       (unsigned long long)cc.established, (unsigned long long)cc.failed,
			       (unsigned long long)cc.accepted);
			print_hist(connect_hist_fd, c);
			fputc('}', stdout);
		}
		if (mem_iter_link) {
			struct memory_figures *m = &memory[c];
			printf(",\"memory\":{\"peakBytes\":%llu,\"meanBytes\":%llu,\"samples\":%llu}",
			       (unsigned long long)m->peak_bytes,
			       (unsigned long long)(m->samples ? m->sum_bytes / (double)m->samples : 0),
			       (unsigned long long)m->samples);
		}
		fputc('}', stdout);
	}
	fputs("]", stdout);
	if (hop_hist_fd >= 0)
		print_hops();
	if (tuple_ring)
		print_median_request();
	if (cpu_percpu) {
		/* Softirqs that ran while no tracked component was on the CPU. */
		__u32 zero = 0;
		__u64 softirq = 0;
		if (bpf_map_lookup_elem(cpu_counters_fd, &zero, cpu_percpu) == 0)
			for (int cpu = 0; cpu < n_cpus; cpu++)
				softirq += cpu_percpu[cpu].softirq_ns;
		printf(",\"unattributedSoftirqNs\":%llu", (unsigned long long)softirq);
	}
	fputs("}}", stdout);
	end_line();
	free(cpu_percpu);
	free(running_ns);
}

/* ------------------------------------------------------------------ commands */

static bool parse_u32(const char *s, unsigned long max, __u32 *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return false;
	*out = (__u32)v;
	return true;
}

static bool parse_component(const char *s, __u32 *component)
{
	if (!parse_u32(s, max_components - 1, component) || *component == 0) {
		reply_error("component id must be an integer 1..%u, got \"%s\"", max_components - 1, s);
		return false;
	}
	return true;
}

static void cmd_track_tgid(const char *tgid_s, const char *component_s)
{
	__u32 tgid, component;
	if (!parse_u32(tgid_s, INT_MAX, &tgid) || tgid == 0) {
		reply_error("tgid must be a positive integer, got \"%s\"", tgid_s);
		return;
	}
	if (!parse_component(component_s, &component))
		return;
	/* The probes match task->tgid: a thread id would never match. */
	char path[64], status[4096];
	snprintf(path, sizeof(path), "/proc/%u/status", tgid);
	FILE *f = fopen(path, "r");
	if (!f) {
		reply_error("no process %u", tgid);
		return;
	}
	size_t n = fread(status, 1, sizeof(status) - 1, f);
	fclose(f);
	status[n] = '\0';
	const char *tgid_line = strstr(status, "\nTgid:");
	unsigned long real_tgid = tgid_line ? strtoul(tgid_line + 6, NULL, 10) : tgid;
	if (real_tgid != tgid) {
		reply_error("%u is a thread of process %lu: track the process", tgid, real_tgid);
		return;
	}
	if (bpf_map_update_elem(tgids_fd, &tgid, &component, BPF_ANY) != 0) {
		reply_error("tracking tgid %u: %s", tgid, strerror(errno));
		return;
	}
	component_tracked[component] = true;
	printf("{\"ok\":true,\"tgid\":%u,\"component\":%u}", tgid, component);
	end_line();
}

/* The v2 cgroup id is the kernfs node id, which is what a file handle of the directory
 * carries (and, on 64-bit, also the directory's inode number). */
static int cgroup_id_of(const char *path, __u64 *id)
{
	struct statfs fs;
	if (statfs(path, &fs) != 0)
		return -errno;
	if ((unsigned long)fs.f_type != CGROUP2_SUPER_MAGIC)
		return -ENOTDIR;
	struct {
		struct file_handle fh;
		__u64 cgid;
	} handle = { .fh.handle_bytes = sizeof(__u64) };
	int mount_id;
	if (name_to_handle_at(AT_FDCWD, path, &handle.fh, &mount_id, 0) == 0 && handle.fh.handle_bytes == sizeof(__u64)) {
		*id = handle.cgid;
		return 0;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	*id = (__u64)st.st_ino;
	return 0;
}

static void cmd_track_cgroup(const char *path, const char *component_s)
{
	__u32 component;
	__u64 cgid;
	if (!parse_component(component_s, &component))
		return;
	int err = cgroup_id_of(path, &cgid);
	if (err == -ENOTDIR) {
		reply_error("%s is not a cgroup v2 directory", path);
		return;
	}
	if (err) {
		reply_error("%s: %s", path, strerror(-err));
		return;
	}
	bool existed = bpf_map_lookup_elem(cgroups_fd, &cgid, &(__u32){ 0 }) == 0;
	if (bpf_map_update_elem(cgroups_fd, &cgid, &component, BPF_ANY) != 0) {
		reply_error("tracking cgroup %s: %s", path, strerror(errno));
		return;
	}
	if (!existed)
		cgroups_tracked++;
	write_config();
	component_tracked[component] = true;
	printf("{\"ok\":true,\"cgroupId\":%llu,\"component\":%u}", (unsigned long long)cgid, component);
	end_line();
}

/* Attaches every loaded probe's cgroup programs to one cgroup (links: gone with the loader). */
static void cmd_attach_cgroup(const char *path)
{
	struct statfs fs;
	if (statfs(path, &fs) != 0 || (unsigned long)fs.f_type != CGROUP2_SUPER_MAGIC) {
		reply_error("%s is not a cgroup v2 directory", path);
		return;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		reply_error("%s: %s", path, strerror(errno));
		return;
	}
	int attached = 0;
	if (probes[PROBE_DWELL].attached && dwell_cgroup_fd < 0) {
		dwell_cgroup_fd = dup(fd);
		/* attached now if its window is open, else when the next one opens */
		for (int j = 0; dwell_on && j < probes[PROBE_DWELL].n_cgroup_progs; j++) {
			struct bpf_link *link = bpf_program__attach_cgroup(probes[PROBE_DWELL].cgroup_progs[j], dwell_cgroup_fd);
			if (!link) {
				int err = errno;
				close(fd);
				reply_error("attaching %s to %s: %s", bpf_program__name(probes[PROBE_DWELL].cgroup_progs[j]), path, strerror(err));
				return;
			}
			dwell_links[n_dwell_links++] = link;
			attached++;
		}
	}
	for (int i = 0; i < N_PROBES; i++) {
		struct probe *p = &probes[i];
		if (!p->attached || i == PROBE_DWELL)
			continue;
		for (int j = 0; j < p->n_cgroup_progs; j++) {
			if (p->n_links == MAX_LINKS) {
				close(fd);
				reply_error("too many links");
				return;
			}
			struct bpf_link *link = bpf_program__attach_cgroup(p->cgroup_progs[j], fd);
			if (!link) {
				int err = errno;
				close(fd);
				reply_error("attaching %s to %s: %s", bpf_program__name(p->cgroup_progs[j]), path, strerror(err));
				return;
			}
			p->links[p->n_links++] = link;
			attached++;
		}
	}
	close(fd);
	printf("{\"ok\":true,\"attached\":%d}", attached);
	end_line();
}

/* The component's requests are the ones request tuples follow (without the dwell probe:
 * nothing to do). */
static void cmd_origin(const char *component_s)
{
	__u32 component, one = 1;
	if (!parse_component(component_s, &component))
		return;
	if (path_origin_fd >= 0 && bpf_map_update_elem(path_origin_fd, &component, &one, BPF_ANY) != 0) {
		reply_error("marking component %u as an origin: %s", component, strerror(errno));
		return;
	}
	printf("{\"ok\":true,\"origin\":%u}", component);
	end_line();
}

/* Returns false when the loader should exit (stop). */
static bool handle_command(char *line)
{
	char *argv[4] = { 0 };
	int argc = 0;
	size_t len = strlen(line);
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (!len)
		return true;

	if (!strncmp(line, "attach-cgroup ", 14)) {
		cmd_attach_cgroup(line + 14);
		return true;
	}
	/* track-cgroup's path may contain spaces: the component is the last word. */
	if (!strncmp(line, "track-cgroup ", 13)) {
		char *last = strrchr(line, ' ');
		char *path = line + 13;
		if (last <= path) {
			reply_error("usage: track-cgroup <cgroup-v2-dir> <componentId>");
			return true;
		}
		*last = '\0';
		cmd_track_cgroup(path, last + 1);
		return true;
	}
	for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
		if (argc == 4) {
			reply_error("too many arguments");
			return true;
		}
		argv[argc++] = tok;
	}
	if (argc == 0)
		return true; /* blank: not a command, no answer */
	if (!strcmp(argv[0], "track-tgid") && argc == 3) {
		cmd_track_tgid(argv[1], argv[2]);
	} else if (!strcmp(argv[0], "origin") && argc == 2) {
		cmd_origin(argv[1]);
	} else if (!strcmp(argv[0], "start") && argc == 1) {
		cmd_start();
	} else if (!strcmp(argv[0], "snapshot") && argc == 1) {
		cmd_snapshot(false);
	} else if (!strcmp(argv[0], "stop") && argc == 1) {
		cmd_snapshot(true);
		return false;
	} else {
		reply_error("unknown command \"%s\" (expected track-tgid <tgid> <component>, "
			    "track-cgroup <dir> <component>, attach-cgroup <dir>, origin <component>, start, snapshot, stop)", argv[0]);
	}
	return true;
}

/* ------------------------------------------------------------------ main */

static void on_signal(int sig, siginfo_t *info, void *ucontext)
{
	(void)ucontext;
	if (exit_reason == EXIT_NONE) {
		exit_reason = EXIT_SIGNAL;
		exit_signo = sig;
		exit_sender_pid = info ? info->si_pid : 0;
	}
	exiting = 1;
}

/* The sender's command line, read after the fact (best effort: it may be gone). */
static void sender_cmdline(pid_t pid, char *out, size_t size)
{
	char path[64];
	out[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(out, 1, size - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	out[n] = '\0';
}

/* One JSON line on stderr: {"exit":"stop"|"stdin closed"|"stdout closed"|"signal", …}. */
static void report_exit(void)
{
	switch (exit_reason) {
	case EXIT_STOP:
		fputs("{\"exit\":\"stop\"}\n", stderr);
		break;
	case EXIT_STDIN_EOF:
		fputs("{\"exit\":\"stdin closed\"}\n", stderr);
		break;
	case EXIT_STDOUT_CLOSED:
		fputs("{\"exit\":\"stdout closed\"}\n", stderr);
		break;
	case EXIT_SIGNAL: {
		char cmdline[256];
		sender_cmdline(exit_sender_pid, cmdline, sizeof(cmdline));
		fprintf(stderr, "{\"exit\":\"signal\",\"signal\":\"SIG%s\",\"senderPid\":%d,\"sender\":",
			sigabbrev_np(exit_signo) ? sigabbrev_np(exit_signo) : "?", (int)exit_sender_pid);
		json_string(stderr, cmdline);
		fputs("}\n", stderr);
		break;
	}
	default:
		break;
	}
	fflush(stderr);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: loader --probes dwell,runq,cpu,connect,memory [--mem-interval-ms 200]\n"
		     "              [--max-components %d] [--sample-every N] [--obj-dir DIR] [--verbose]\n",
		MAX_COMPONENTS);
}

static int fatal(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list args;
	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	fputs("{\"error\":", stdout);
	json_string(stdout, msg);
	fputs(",\"fatal\":true}\n", stdout);
	fflush(stdout);
	cleanup();
	return code;
}

static bool parse_probe_list(char *list)
{
	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		int i;
		for (i = 0; i < N_PROBES; i++)
			if (!strcmp(name, probe_names[i]))
				break;
		if (i == N_PROBES)
			return false;
		probes[i].selected = true;
	}
	return true;
}

static __u64 ms_to_ns(unsigned int ms) { return (__u64)ms * 1000000ull; }

int main(int argc, char **argv)
{
	char obj_dir[PATH_MAX] = "";
	bool any_selected = false;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		__u32 n;
		if (!strcmp(arg, "--verbose")) {
			verbose = true;
		} else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout);
			return 0;
		} else if (!value) {
			usage(stderr);
			return fatal(2, "missing value for %s", arg);
		} else if (!strcmp(arg, "--probes")) {
			char list[256];
			snprintf(list, sizeof(list), "%s", value);
			if (!parse_probe_list(list))
				return fatal(2, "unknown probe in \"%s\" (known: dwell, runq, cpu, connect, memory)", value);
			i++;
		} else if (!strcmp(arg, "--mem-interval-ms")) {
			if (!parse_u32(value, 3600000, &n) || n < 10)
				return fatal(2, "--mem-interval-ms must be an integer 10..3600000, got \"%s\"", value);
			mem_interval_ms = n;
			i++;
		} else if (!strcmp(arg, "--sample-every")) {
			if (!parse_u32(value, 1000, &n) || n < 1)
				return fatal(2, "--sample-every must be an integer 1..1000, got \"%s\"", value);
			sample_every = n;
			i++;
		} else if (!strcmp(arg, "--max-components")) {
			if (!parse_u32(value, 65536, &n) || n < 2)
				return fatal(2, "--max-components must be an integer 2..65536, got \"%s\"", value);
			max_components = n;
			i++;
		} else if (!strcmp(arg, "--obj-dir")) {
			snprintf(obj_dir, sizeof(obj_dir), "%s", value);
			i++;
		} else {
			usage(stderr);
			return fatal(2, "unknown argument \"%s\"", arg);
		}
	}
	for (int i = 0; i < N_PROBES; i++)
		any_selected |= probes[i].selected;
	if (!any_selected) {
		usage(stderr);
		return fatal(2, "no probe selected (--probes dwell,runq,cpu,connect,memory)");
	}
	if (!obj_dir[0]) {
		/* The objects are built next to the loader (bpf/build/). */
		ssize_t n = readlink("/proc/self/exe", obj_dir, sizeof(obj_dir) - 1);
		if (n <= 0)
			return fatal(1, "cannot find the loader's directory: %s", strerror(errno));
		obj_dir[n] = '\0';
		char *slash = strrchr(obj_dir, '/');
		if (slash)
			*slash = '\0';
	}

	/* no SA_RESTART: poll() returns EINTR; SA_SIGINFO: the sender's pid for the exit line */
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	libbpf_set_print(libbpf_print);
	n_cpus = libbpf_num_possible_cpus();
	page_size = sysconf(_SC_PAGESIZE);
	if (n_cpus <= 0)
		return fatal(1, "cannot count possible CPUs: %s", strerror(-n_cpus));
	component_tracked = calloc(max_components, sizeof(*component_tracked));
	memory = calloc(max_components, sizeof(*memory));
	sample_pages = calloc(max_components, sizeof(*sample_pages));
	sample_seen = calloc(max_components, sizeof(*sample_seen));
	if (!component_tracked || !memory || !sample_pages || !sample_seen)
		return fatal(1, "out of memory");

	if (geteuid() != 0)
		return fatal(1, "the probes need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN for the task iterator)");
	int err = create_shared_maps();
	if (err)
		return fatal(1, "creating the shared maps: %s", strerror(-err));
	write_config();
	ensure_tracefs();

	for (int i = 0; i < N_PROBES; i++) {
		if (!probes[i].selected)
			continue;
		load_probe(i, obj_dir);
		if (!probes[i].attached)
			unload_probe(&probes[i]); /* its partial links go now, the others stay */
	}
	dwell_hist_fd = map_fd(PROBE_DWELL, "dwell_hist");
	runq_hist_fd = map_fd(PROBE_RUNQ, "runq_hist");
	cpu_counters_fd = map_fd(PROBE_CPU, "cpu_counters");
	cpu_state_fd = map_fd(PROBE_CPU, "cpu_state");
	connect_hist_fd = map_fd(PROBE_CONNECT, "connect_hist");
	path_hist_fd = map_fd(PROBE_DWELL, "path_hist");
	hop_hist_fd = map_fd(PROBE_DWELL, "hop_hist");
	path_tuple_fd = map_fd(PROBE_DWELL, "path_tuple");
	path_origin_fd = map_fd(PROBE_DWELL, "path_origin");
	int tuples_fd = map_fd(PROBE_DWELL, "path_tuples");
	if (tuples_fd >= 0) {
		tuples = calloc(TUPLES_KEPT, sizeof(*tuples));
		tuple_ring = tuples ? ring_buffer__new(tuples_fd, on_tuple, NULL, NULL) : NULL;
		if (!tuple_ring)
			fprintf(stderr, "loader: request tuples not read (ring buffer: %s): no medianRequest\n", strerror(errno));
	}
	conn_counters_fd = map_fd(PROBE_CONNECT, "conn_counters");

	int n_attached = 0, n_failed = 0;
	fputs("{\"ready\":true,\"probes\":[", stdout);
	for (int i = 0; i < N_PROBES; i++) {
		if (probes[i].attached)
			printf("%s\"%s\"", n_attached++ ? "," : "", probe_names[i]);
	}
	fputs("],\"failed\":{", stdout);
	for (int i = 0; i < N_PROBES; i++) {
		if (probes[i].selected && !probes[i].attached) {
			printf("%s\"%s\":", n_failed++ ? "," : "", probe_names[i]);
			json_string(stdout, probes[i].failure);
		}
	}
	printf("},\"maxComponents\":%u,\"memIntervalMs\":%u,\"sampleEvery\":%u,\"pid\":%d}", max_components, mem_interval_ms, sample_every, (int)getpid());
	end_line();
	if (n_attached == 0)
		return fatal(1, "no probe could be loaded and attached");

	/* Poll: commands on stdin; memory samples on their interval (counted from attach
	 * until `start` resets them). */
	char line[8192];
	size_t line_len = 0;
	bool discarding = false; /* inside an over-long line, already answered */
	__u64 next_sample_ns = now_ns();
	__u64 period_start_ns = now_ns();
	bool running = true;
	while (running && !exiting) {
		int timeout_ms = -1;
		if (sample_every > 1 && probes[PROBE_DWELL].attached) {
			/* The dwell probe's window: the first 1/N of each second. */
			__u64 now = now_ns();
			if (now >= period_start_ns + SAMPLE_PERIOD_NS) {
				period_start_ns = now;
				if (!dwell_on && dwell_attach() != 0)
					fprintf(stderr, "loader: re-attaching the dwell probe failed: %s\n", strerror(errno));
			} else if (dwell_on && now >= period_start_ns + SAMPLE_PERIOD_NS / sample_every) {
				dwell_detach();
			}
			__u64 next = dwell_on ? period_start_ns + SAMPLE_PERIOD_NS / sample_every : period_start_ns + SAMPLE_PERIOD_NS;
			now = now_ns();
			timeout_ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		}
		if (mem_iter_link) {
			__u64 now = now_ns();
			if (now >= next_sample_ns) {
				sample_memory();
				next_sample_ns = now + ms_to_ns(mem_interval_ms);
			}
			int mem_timeout = (int)((next_sample_ns - now_ns() + 999999) / 1000000);
			if (mem_timeout < 0)
				mem_timeout = 0;
			if (timeout_ms < 0 || mem_timeout < timeout_ms)
				timeout_ms = mem_timeout;
		}
		if (tuple_ring) {
			drain_tuples();
			if (timeout_ms < 0 || timeout_ms > TUPLE_DRAIN_MS)
				timeout_ms = TUPLE_DRAIN_MS;
		}
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fatal(1, "poll: %s", strerror(errno));
		}
		if (r == 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(STDIN_FILENO, line + line_len, sizeof(line) - 1 - line_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* EOF: whoever drove us is gone */
			if (exit_reason == EXIT_NONE)
				exit_reason = EXIT_STDIN_EOF;
			break;
		}
		line_len += (size_t)n;
		line[line_len] = '\0';
		char *start = line, *nl;
		while (running && (nl = strchr(start, '\n'))) {
			*nl = '\0';
			if (!discarding)
				running = handle_command(start);
			if (!running && exit_reason == EXIT_NONE)
				exit_reason = EXIT_STOP;
			discarding = false;
			start = nl + 1;
		}
		line_len -= (size_t)(start - line);
		memmove(line, start, line_len);
		if (line_len == sizeof(line) - 1) {
			if (!discarding)
				reply_error("command line longer than %zu bytes", sizeof(line) - 2);
			discarding = true;
			line_len = 0;
		}
	}
	cleanup();
	report_exit();
	return 0;
}
