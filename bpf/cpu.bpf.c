// SPDX-License-Identifier: Apache-2.0
/* cpu: on-CPU time per component from sched_switch, and softirq time (irq:softirq_entry/
 * exit) charged to the component that was on the CPU when the softirq ran. Softirqs that
 * interrupt an untracked task (idle, ksoftirqd, …) go to component 0 ("unattributed").
 *
 * A task that never leaves the CPU produces no sched_switch; the loader adds the running
 * stretch (now − since_ns of each CPU's cpu_state) when it reads the counters. */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpu_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} softirq_since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_COMPONENTS);
	__type(key, __u32);
	__type(value, struct cpu_counters);
} cpu_counters SEC(".maps");

static __always_inline __u64 window_start(void)
{
	struct probe_config *cfg = probe_cfg();
	return cfg ? cfg->window_start_ns : 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(mbp_cpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	struct cpu_state *s = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (s->component) {
		__u64 from = s->since_ns;
		__u64 start = window_start();
		if (from < start)
			from = start;
		struct cpu_counters *c = bpf_map_lookup_elem(&cpu_counters, &s->component);
		if (c && now > from)
			c->oncpu_ns += now - from;
	}
	s->component = component_of_task(next);
	s->since_ns = now;
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(mbp_cpu_si_in, unsigned int vec)
{
	__u32 zero = 0;
	__u64 *since = bpf_map_lookup_elem(&softirq_since, &zero);
	if (since)
		*since = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(mbp_cpu_si_out, unsigned int vec)
{
	__u32 zero = 0;
	__u64 *since = bpf_map_lookup_elem(&softirq_since, &zero);
	if (!since || *since == 0)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 from = *since;
	*since = 0;
	__u64 start = window_start();
	if (from < start)
		from = start;
	if (now <= from)
		return 0;
	struct cpu_state *s = bpf_map_lookup_elem(&cpu_state, &zero);
	__u32 component = s ? s->component : 0;
	struct cpu_counters *c = bpf_map_lookup_elem(&cpu_counters, &component);
	if (c)
		c->softirq_ns += now - from;
	return 0;
}
