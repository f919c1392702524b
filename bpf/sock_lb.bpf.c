// SPDX-License-Identifier: GPL-2.0
/* Socket-level load balancer for the `ebpf` and `ebpf-l4` data paths, modelled on
 * Cilium's bpf/bpf_sock.c: a TCP connect() to a service VIP:port is rewritten to one of
 * the service's backends before the kernel routes it, so no packet ever carries the VIP
 * and no NAT is needed. The backend is whatever user space put into socklb_backend: a
 * backend pod (ebpf-l4) or the node proxy's listener for this service (ebpf).
 *
 * Where Cilium keeps a reverse map keyed by socket cookie, this keeps the original
 * VIP:port in sk_storage on the socket, so the entry goes when the socket does and
 * there is nothing to garbage-collect.
 *
 * Both programs always return 1 (allow): the balancer never refuses a connect.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_lb.h"

#define SYS_ALLOW 1

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCK_LB_MAX_SERVICES);
	__type(key, struct sock_lb_key);
	__type(value, struct sock_lb_service);
} socklb_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCK_LB_MAX_BACKENDS);
	__type(key, struct sock_lb_key);
	__type(value, struct sock_lb_backend);
} socklb_backend SEC(".maps");

/* Rewrites per service id (per CPU: the connect path must not bounce a shared line). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCK_LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} socklb_rewrites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_lb_orig);
} socklb_orig SEC(".maps");

static __always_inline bool is_tcp(const struct bpf_sock_addr *ctx)
{
	return ctx->protocol == IPPROTO_TCP;
}

SEC("cgroup/connect4")
int socklb_connect4(struct bpf_sock_addr *ctx)
{
	struct sock_lb_key key = {
		.vip = ctx->user_ip4,
		/* user_port holds the port in network order in its low 16 bits */
		.port = (__u16)ctx->user_port,
		.slot = 0,
	};
	const struct sock_lb_service *svc;
	const struct sock_lb_backend *backend;
	struct sock_lb_orig *orig;
	__u64 *rewrites;
	__u32 id;

	if (!is_tcp(ctx))
		return SYS_ALLOW;

	svc = bpf_map_lookup_elem(&socklb_svc, &key);
	if (!svc) {
		/* A socket that connected to a VIP before (a failed attempt) and now connects
		 * elsewhere must not keep claiming the VIP as its peer. */
		if (ctx->sk)
			bpf_sk_storage_delete(&socklb_orig, ctx->sk);
		return SYS_ALLOW;
	}
	if (svc->count == 0 || svc->count > SOCK_LB_MAX_BACKENDS_PER_SERVICE)
		return SYS_ALLOW;
	id = svc->id;

	key.slot = (bpf_get_prandom_u32() % svc->count) + 1;
	backend = bpf_map_lookup_elem(&socklb_backend, &key);
	/* Missing only while user space is between writes of a service; let it through. */
	if (!backend)
		return SYS_ALLOW;

	if (!ctx->sk)
		return SYS_ALLOW;
	orig = bpf_sk_storage_get(&socklb_orig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* Without somewhere to remember the VIP, getpeername() would show the backend:
	 * better to leave this one connect unbalanced than to lie about the peer. */
	if (!orig)
		return SYS_ALLOW;
	orig->vip = key.vip;
	orig->port = key.port;
	orig->pad = 0;

	ctx->user_ip4 = backend->ip;
	ctx->user_port = (__u32)backend->port;

	rewrites = bpf_map_lookup_elem(&socklb_rewrites, &id);
	if (rewrites)
		*rewrites += 1;
	return SYS_ALLOW;
}

SEC("cgroup/getpeername4")
int socklb_getpeer4(struct bpf_sock_addr *ctx)
{
	struct sock_lb_orig *orig;

	if (!ctx->sk)
		return SYS_ALLOW;
	orig = bpf_sk_storage_get(&socklb_orig, ctx->sk, 0, 0);
	if (!orig)
		return SYS_ALLOW;
	ctx->user_ip4 = orig->vip;
	ctx->user_port = (__u32)orig->port;
	return SYS_ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
