/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the probe programs (*.bpf.c) and the loader (loader.c).
 *
 * Every figure is keyed by a *component*: a small integer id (1 ≤ id < MAX_COMPONENTS)
 * the harness assigns to e.g. "server-1/app". Id 0 means "not tracked". A task belongs
 * to a component when its tgid is in tracked_tgids, or else when its cgroup v2 id is in
 * tracked_cgroups (all tasks of that cgroup).
 */
#ifndef MESHBENCH_PROBES_H
#define MESHBENCH_PROBES_H

/* Array maps indexed by component id are sized at load time (loader --max-components);
 * this is the default. */
#define MAX_COMPONENTS 512
#define MAX_TRACKED_TGIDS 8192
#define MAX_TRACKED_CGROUPS 1024

/* Log-linear latency histogram in µs: log2 octaves, each split into HIST_SUB linear
 * sub-slots (HDR-histogram style). Plain log2 slots are too coarse to tell 2.0 ms from
 * 3.9 ms (both land in [2048, 4096) µs); 16 sub-slots make each slot ≤ 6.25 % wide.
 *   v < HIST_SUB µs:       slot = v (1 µs wide)
 *   2^e ≤ v < 2^(e+1) µs:  slot = (e - HIST_SUB_BITS + 1) * HIST_SUB + ((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1))
 * Values ≥ 2^(HIST_MAX_LOG2 + 1) µs (~268 s) go to the last slot.
 * harness/probes/histogram.ts holds the inverse (slot → [low, high) µs). */
#define HIST_SUB_BITS 4
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_LOG2 27
#define HIST_SLOTS ((HIST_MAX_LOG2 - HIST_SUB_BITS + 2) * HIST_SUB) /* 400 */

struct hist {
	__u64 slots[HIST_SLOTS];
	__u64 sum_ns; /* for the mean */
};

/* cpu probe: per component, per CPU. */
struct cpu_counters {
	__u64 oncpu_ns;   /* time on CPU (includes softirqs served while it ran) */
	__u64 softirq_ns; /* softirq time served while this component was on CPU */
};

/* cpu probe: what runs on this CPU since when (one per CPU). */
struct cpu_state {
	__u64 since_ns;
	__u32 component;
	__u32 pad;
};

/* connect probe: per component. */
struct conn_counters {
	__u64 established; /* SYN_SENT → ESTABLISHED (also the connect histogram's count) */
	__u64 failed;      /* SYN_SENT → anything else */
	__u64 accepted;    /* accept()/accept4() that returned a socket */
};

/* memory probe: one record per tracked process, written by the task iterator. */
struct mem_record {
	__u32 tgid;
	__u32 component;
	__u64 rss_pages; /* file + anon + shmem, as VmRSS */
};

/* dwell probe (path figures): per component, one histogram per kind (see dwell.bpf.c). */
enum path_kind {
	PATH_SERVED,    /* passive socket: request ingress → response egress */
	PATH_WAITED,    /* active socket: request egress → response ingress */
	PATH_WAKE_REQ,  /* passive socket: request ingress → first read */
	PATH_WAKE_RESP, /* active socket: response ingress → first read */
	PATH_TX_REQ,    /* active socket: request send entry → egress */
	PATH_TX_RESP,   /* passive socket: response send entry → egress */
	PATH_KINDS
};

struct path_key {
	__u32 component;
	__u32 kind;
};

/* dwell probe: a hop between two components, first segment egress → ingress. */
struct hop_key {
	__u32 from;
	__u32 to;
};

#define PATH_MAX_KEYS 4096

/* dwell probe: one whole request's parts (a *tuple*), so the parts of the median request can
 * be averaged and add up (medians of separate parts do not). A tuple is kept only for a
 * request of an *origin* component (the client app) that was alone in the cell: no other
 * origin request in flight from its send to its read, so every part timed in between is
 * its own. Parts are the path kinds above (a = component) and hops (kind TUPLE_HOP,
 * a = from, b = to). */
#define TUPLE_MAX_PARTS 40
#define TUPLE_HOP PATH_KINDS

struct tuple_part {
	__u32 ns;
	__u16 a;
	__u16 b;
	__u32 kind;
};

struct req_tuple {
	__u64 round_trip_ns; /* the origin's send entry → its first read of the response */
	__u32 n;             /* parts written; more than TUPLE_MAX_PARTS: not kept */
	__u32 pad;
	struct tuple_part parts[TUPLE_MAX_PARTS];
};

/* The one record being filled, and what decides whether it was alone. */
struct tuple_state {
	__u64 starts;       /* origin requests begun (this epoch) */
	__u64 open_seq;     /* `starts` when the followed request began; 0: none followed */
	__u64 send_ns;      /* its send entry */
	__u32 inflight;     /* origin requests in flight */
	__u32 opener;       /* the origin socket's id */
	__u32 next_sock_id;
	__u32 epoch;
	struct req_tuple rec;
};

/* Shared configuration, one entry; the loader writes it. */
struct probe_config {
	__u64 window_start_ns;  /* CLOCK_MONOTONIC ns of the last `start` */
	__u32 cgroups_tracked;  /* 0: skip the cgroup lookup on the hot paths */
	__u32 epoch;            /* sampling windows: +1 each time the dwell probe's hooks are attached again */
};

#ifdef __BPF__
/* ------------------------------------------------------------------ kernel side */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* The three maps below are declared in every probe object; the loader creates them once
 * and hands the same fds to every object (bpf_map__reuse_fd), so one `track-*` command
 * reaches all probes. Their definitions must stay identical across objects. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TRACKED_TGIDS);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* component */
} tracked_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TRACKED_CGROUPS);
	__type(key, __u64);   /* cgroup v2 id (kernfs node id = inode number of the directory) */
	__type(value, __u32); /* component */
} tracked_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_config);
} probe_config SEC(".maps");

static __always_inline struct probe_config *probe_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&probe_config, &zero);
}

static __always_inline __u32 component_of_cgroup(__u64 cgid)
{
	__u32 *c = bpf_map_lookup_elem(&tracked_cgroups, &cgid);
	return c ? *c : 0;
}

/* Component of the task running this program: tgid first, cgroup only if any is tracked. */
static __always_inline __u32 component_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *c = bpf_map_lookup_elem(&tracked_tgids, &tgid);
	if (c)
		return *c;
	struct probe_config *cfg = probe_cfg();
	if (!cfg || !cfg->cgroups_tracked)
		return 0;
	return component_of_cgroup(bpf_get_current_cgroup_id());
}

/* Component of any task (e.g. the one being woken or switched in). */
static __always_inline __u32 component_of_task(struct task_struct *t)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	__u32 *c = bpf_map_lookup_elem(&tracked_tgids, &tgid);
	if (c)
		return *c;
	struct probe_config *cfg = probe_cfg();
	if (!cfg || !cfg->cgroups_tracked)
		return 0;
	return component_of_cgroup(BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id));
}

/* From libbpf-tools bits.bpf.h. */
static __always_inline __u64 log2_u32(__u32 v)
{
	__u32 shift, r;
	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u64 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;
	return hi ? log2_u32(hi) + 32 : log2_u32(v);
}

static __always_inline __u32 hist_slot(__u64 us)
{
	if (us < HIST_SUB)
		return us;
	__u64 e = log2_u64(us);
	if (e > HIST_MAX_LOG2)
		return HIST_SLOTS - 1;
	return (e - HIST_SUB_BITS + 1) * HIST_SUB + ((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* Adds one latency to the histogram of `component` (a non-per-CPU array: atomic adds). */
static __always_inline void hist_record(void *hist_map, __u32 component, __u64 delta_ns)
{
	struct hist *h = bpf_map_lookup_elem(hist_map, &component);
	if (!h)
		return;
	__u32 slot = hist_slot(delta_ns / 1000);
	/* Keep the bound check: clang proves it redundant and drops it, the verifier cannot. */
	asm volatile("" : "+r"(slot));
	if (slot >= HIST_SLOTS)
		return;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, delta_ns);
}

#define DECLARE_HIST_MAP(name)                                  \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_ARRAY);               \
		__uint(max_entries, MAX_COMPONENTS);            \
		__type(key, __u32);                             \
		__type(value, struct hist);                     \
	} name SEC(".maps")

#endif /* __BPF__ */
#endif /* MESHBENCH_PROBES_H */
