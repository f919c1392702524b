// SPDX-License-Identifier: Apache-2.0
/* connect: TCP connect latency (SYN_SENT → ESTABLISHED from sock:inet_sock_set_state) and
 * counts, per component. One hook, and it fires on TCP state changes only (no syscall
 * tracepoint: enabling any puts every syscall of the host on the traced path).
 * CLOSE → SYN_SENT runs in the connecting task's connect() call: the component is the
 * task's (tgid), else the socket's cgroup; the → ESTABLISHED step usually runs in softirq
 * (the SYN-ACK), so the component travels with the socket in conn_start.
 * Accepted connections: SYN_RECV → ESTABLISHED of the child socket, which carries its
 * listener's cgroup (sk_cgrp_data is cloned), so the component is that cgroup's. A
 * component tracked by tgid only counts no accepts. */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3

struct conn_start {
	__u64 ns;
	__u32 component;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock address */
	__type(value, struct conn_start);
} conn_start SEC(".maps");

DECLARE_HIST_MAP(connect_hist);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_COMPONENTS);
	__type(key, __u32);
	__type(value, struct conn_counters);
} conn_counters SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int mbp_conn_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	__u64 sk = (__u64)ctx->skaddr;
	if (ctx->oldstate == TCP_SYN_RECV && ctx->newstate == TCP_ESTABLISHED) {
		struct sock *child = (struct sock *)ctx->skaddr;
		__u32 component = component_of_cgroup(BPF_CORE_READ(child, sk_cgrp_data.cgroup, kn, id));
		struct conn_counters *c = component ? bpf_map_lookup_elem(&conn_counters, &component) : 0;
		if (c)
			__sync_fetch_and_add(&c->accepted, 1);
		return 0;
	}
	if (ctx->newstate == TCP_SYN_SENT) {
		__u32 component = component_of_current();
		if (!component)
			component = component_of_cgroup(BPF_CORE_READ((struct sock *)ctx->skaddr, sk_cgrp_data.cgroup, kn, id));
		if (!component)
			return 0;
		struct conn_start start = { .ns = bpf_ktime_get_ns(), .component = component };
		bpf_map_update_elem(&conn_start, &sk, &start, BPF_ANY);
		return 0;
	}
	if (ctx->oldstate != TCP_SYN_SENT)
		return 0;
	struct conn_start *start = bpf_map_lookup_elem(&conn_start, &sk);
	if (!start)
		return 0;
	__u32 component = start->component;
	struct conn_counters *c = bpf_map_lookup_elem(&conn_counters, &component);
	if (ctx->newstate == TCP_ESTABLISHED) {
		__u64 now = bpf_ktime_get_ns();
		if (now > start->ns)
			hist_record(&connect_hist, component, now - start->ns);
		if (c)
			__sync_fetch_and_add(&c->established, 1);
	} else if (c) {
		__sync_fetch_and_add(&c->failed, 1);
	}
	bpf_map_delete_elem(&conn_start, &sk);
	return 0;
}
