// SPDX-License-Identifier: Apache-2.0
/* connect: TCP connect latency (SYN_SENT → ESTABLISHED from sock:inet_sock_set_state) and
 * counts, per component. CLOSE → SYN_SENT runs in the connecting task's connect() call, so
 * that is where the component is taken; the → ESTABLISHED step usually runs in softirq
 * context (the SYN-ACK), so the component travels with the socket in conn_start.
 * Accepted connections are counted at accept()/accept4() returning a socket, in the
 * accepting task's context (the SYN_RECV → ESTABLISHED step runs in softirq, where the
 * listener's owner is not known). */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2

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
	if (ctx->newstate == TCP_SYN_SENT) {
		__u32 component = component_of_current();
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

static __always_inline int count_accept(long ret)
{
	if (ret < 0)
		return 0;
	__u32 component = component_of_current();
	if (!component)
		return 0;
	struct conn_counters *c = bpf_map_lookup_elem(&conn_counters, &component);
	if (c)
		__sync_fetch_and_add(&c->accepted, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int mbp_conn_acc4(struct trace_event_raw_sys_exit *ctx) { return count_accept(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_accept")
int mbp_conn_acc(struct trace_event_raw_sys_exit *ctx) { return count_accept(ctx->ret); }
