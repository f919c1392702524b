// SPDX-License-Identifier: Apache-2.0
/* runq: run-queue latency — from a task becoming runnable (sched_wakeup,
 * sched_wakeup_new, or being preempted while still runnable) to it being switched in.
 * Modelled on libbpf-tools runqlat (tp_btf variant). */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0

struct runnable_since {
	__u64 ns;
	__u32 component;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct runnable_since);
} runq_start SEC(".maps");

DECLARE_HIST_MAP(runq_hist);

/* task_struct::state was renamed __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

static __always_inline void mark_runnable(struct task_struct *t)
{
	__u32 component = component_of_task(t);
	if (!component)
		return;
	__u32 tid = BPF_CORE_READ(t, pid);
	struct runnable_since since = { .ns = bpf_ktime_get_ns(), .component = component };
	bpf_map_update_elem(&runq_start, &tid, &since, BPF_ANY);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(mbp_rq_wakeup, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(mbp_rq_wakeup_new, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(mbp_rq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* A preempted task goes straight back to the run queue. */
	if (task_state(prev) == TASK_RUNNING)
		mark_runnable(prev);

	__u32 tid = BPF_CORE_READ(next, pid);
	struct runnable_since *since = bpf_map_lookup_elem(&runq_start, &tid);
	if (!since)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now > since->ns)
		hist_record(&runq_hist, since->component, now - since->ns);
	bpf_map_delete_elem(&runq_start, &tid);
	return 0;
}
