// SPDX-License-Identifier: Apache-2.0
/* dwell: where a request's time goes along its path, from hooks that fire only for the
 * cell's own sockets (no syscall tracepoints, no scheduler hooks).
 *
 * Hooks
 *   cgroup_skb/ingress, cgroup_skb/egress, sockops   attached by the loader to the cell's cgroup
 *                                           (`attach-cgroup DIR`): every packet of a socket
 *                                           owned by a process in it, and nothing else.
 *   tp_btf/sock_recv_length                 a socket read returned (process context)
 *   tp_btf/tcp_sendmsg_locked               a TCP send began (process context)
 * The two tracepoints fire for socket reads and TCP sends of the host, but return after
 * one NULL check (bpf_sk_storage_get without create) unless the socket is one of the
 * cell's, which only the cgroup_skb programs mark.
 *
 * A *message* is a run of payload in one direction of a TCP connection (HTTP/1.1: a
 * request or a response). Its first segment is what every figure is timed on:
 *   hop      egress of the first segment at component X → its ingress at component Y,
 *            the same segment found again by (seq, ack) — NAT rewrites addresses and
 *            ports, never sequence numbers: the exact kernel transit (stack, netfilter,
 *            softirq, veth/loopback), whatever the concurrency.
 *   served   on a passive (accepted) socket: a request's ingress → the response's egress
 *   waited   on an active (connected) socket: a request's egress → the response's ingress
 *   wake     ingress → the first read that returns data (wake-up, run-queue, recv)
 *   tx       the send's entry → the message's egress (TCP/IP send path, netfilter OUTPUT)
 * served − waited is the time a request spends inside a proxy (both directions); served
 * alone is the server app's; waited of the client app is the kernel's round trip.
 * Everything is paired per socket (HTTP/1.1 alternates on one connection), so the figures
 * stay exact at any number of connections.
 *
 * The per-thread dwell histogram (first socket read after the thread's last send → its next
 * send) is kept, now from the same two tracepoints and for the cell's sockets only.
 *
 * Which side a socket is (passive: accepted; active: connected) comes from a sockops
 * program on the same cgroup at establishment; for a connection older than the attach, from
 * its SYN seen going out, else its ports (service ports < 32768 ≤ ephemeral ports).
 */
#include "vmlinux.h"
#include "probes.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define MSG_PEEK 2

enum { DIR_NONE, DIR_IN, DIR_OUT };
enum { USER_NONE, USER_READ, USER_SEND };

struct path_sock {
	__u32 component;
	__u8 passive;
	__u8 last_dir;     /* direction of the last payload segment */
	__u8 user_last;    /* the last user operation: read or send */
	__u8 wake_pending; /* a message arrived, not yet read */
	__u32 hdr_len;     /* IP + TCP header bytes of its last data segment: shorter packets carry no payload */
	__u32 epoch;       /* the sampling window its state belongs to */
	__u64 rtt_from_ns; /* passive: request ingress; active: request egress */
	__u64 wake_from_ns;
	__u64 send_ns;     /* entry of the current outbound message's first send */
	__u32 sock_id;     /* for the request tuple: which origin socket opened it */
	__u8 origin;       /* the component is an origin (the client app: `origin` command) */
	__u8 req_open;     /* origin: a request sent, its response not yet read */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct path_sock);
} path_sk SEC(".maps");

struct seg_sent {
	__u32 seq;
	__u32 ack;
	__u64 ns; /* 0: the slot is free */
	__u32 component;
	__u32 epoch;
};

/* First segments on their way, in a direct-mapped table (the slot a hash of seq and ack):
 * egress writes the segment's slot, ingress finds the same segment there by its seq and ack
 * and frees it. No lock and no allocation per message (a hash map's update cost ~190 ns of
 * the egress program's ~360); two first segments in flight at once in one slot lose the
 * older one's hop (65536 slots; a cell has tens in flight). */
#define INFLIGHT_SLOTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INFLIGHT_SLOTS);
	__type(key, __u32);
	__type(value, struct seg_sent);
} path_inflight SEC(".maps");

static __always_inline struct seg_sent *inflight_slot(__u32 seq, __u32 ack)
{
	__u32 slot = ((seq * 2654435761u) ^ ack) & (INFLIGHT_SLOTS - 1);
	return bpf_map_lookup_elem(&path_inflight, &slot);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PATH_MAX_KEYS);
	__type(key, struct path_key);
	__type(value, struct hist);
} path_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PATH_MAX_KEYS);
	__type(key, struct hop_key);
	__type(value, struct hist);
} hop_hist SEC(".maps");

/* One zeroed histogram: the value new hash entries are created from (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hist_zero SEC(".maps");

/* Whole requests (see probes.h): the record being filled, the origin components, and the
 * kept tuples on their way to the loader (which reads them on its own clock: no wake-up
 * per request). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tuple_state);
} path_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_COMPONENTS); /* sized by the loader (--max-components) */
	__type(key, __u32);
	__type(value, __u32);
} path_origin SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} path_tuples SEC(".maps");

struct dwell_thread {
	__u64 first_recv_ns; /* 0: no receive since the last send */
	__u32 component;
	__u32 epoch;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* threads that die mid-dwell age out */
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct dwell_thread);
} dwell_threads SEC(".maps");

DECLARE_HIST_MAP(dwell_hist);

static __always_inline void hist_add(struct hist *h, __u64 delta_ns)
{
	__u32 slot = hist_slot(delta_ns / 1000);
	asm volatile("" : "+r"(slot));
	if (slot >= HIST_SLOTS)
		return;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, delta_ns);
}

static __always_inline void hash_hist_record(void *map, void *key, __u64 delta_ns)
{
	struct hist *h = bpf_map_lookup_elem(map, key);
	if (!h) {
		__u32 zero = 0;
		struct hist *empty = bpf_map_lookup_elem(&hist_zero, &zero);
		if (!empty)
			return;
		bpf_map_update_elem(map, key, empty, BPF_NOEXIST);
		h = bpf_map_lookup_elem(map, key);
		if (!h)
			return;
	}
	hist_add(h, delta_ns);
}

static __always_inline __u32 current_epoch(void)
{
	struct probe_config *cfg = probe_cfg();
	return cfg ? cfg->epoch : 0;
}

/* With sampling (loader --sample-every N) the hooks are attached for one window in N: a
 * socket's half-timed message from an earlier window is forgotten, never paired. */
static __always_inline void same_window(struct path_sock *st, __u32 epoch)
{
	if (st->epoch == epoch)
		return;
	st->epoch = epoch;
	st->last_dir = DIR_NONE;
	st->user_last = USER_NONE;
	st->wake_pending = 0;
	st->rtt_from_ns = 0;
	st->send_ns = 0;
	st->req_open = 0;
}

static __always_inline struct tuple_state *tuple_state(__u32 epoch)
{
	__u32 zero = 0;
	struct tuple_state *t = bpf_map_lookup_elem(&path_tuple, &zero);
	if (t && t->epoch != epoch) {
		/* A new sampling window: whatever was in flight is forgotten, like the sockets' state. */
		t->epoch = epoch;
		t->open_seq = 0;
		t->inflight = 0;
	}
	return t;
}

/* One part of the request being followed, if one is. */
static __always_inline void tuple_add(__u32 a, __u32 b, __u32 kind, __u64 delta_ns)
{
	__u32 zero = 0;
	struct tuple_state *t = bpf_map_lookup_elem(&path_tuple, &zero);
	if (!t || !t->open_seq || t->epoch != current_epoch())
		return;
	__u32 i = __sync_fetch_and_add(&t->rec.n, 1);
	asm volatile("" : "+r"(i));
	if (i >= TUPLE_MAX_PARTS)
		return;
	struct tuple_part *p = &t->rec.parts[i];
	p->ns = delta_ns > 0xffffffffull ? 0xffffffffu : (__u32)delta_ns;
	p->a = a;
	p->b = b;
	p->kind = kind;
}

/* An origin socket sends a request: follow it if no other origin request is in flight. */
static __always_inline void tuple_open(struct path_sock *st, __u32 epoch)
{
	struct tuple_state *t = tuple_state(epoch);
	if (!t)
		return;
	if (!st->sock_id)
		st->sock_id = __sync_fetch_and_add(&t->next_sock_id, 1) + 1;
	__u64 seq = __sync_fetch_and_add(&t->starts, 1) + 1; /* a followed request with company is not kept */
	if (st->req_open)
		return; /* its last request never got an answer read: this one takes its place in flight */
	st->req_open = 1;
	if (__sync_fetch_and_add(&t->inflight, 1) != 0 || !st->send_ns)
		return;
	t->rec.n = 0;
	t->send_ns = st->send_ns;
	t->opener = st->sock_id;
	t->open_seq = seq;
}

/* An origin socket reads its response: the followed request, if it is this one and was
 * alone all along, is kept. */
static __always_inline void tuple_close(struct path_sock *st, __u32 epoch, __u64 now)
{
	if (!st->req_open)
		return;
	st->req_open = 0;
	struct tuple_state *t = tuple_state(epoch);
	if (!t)
		return;
	if (__sync_fetch_and_sub(&t->inflight, 1) == 0)
		__sync_fetch_and_add(&t->inflight, 1); /* reset meanwhile (start, a new window): never below 0 */
	__u64 seq = t->open_seq;
	if (!seq || t->opener != st->sock_id)
		return;
	t->open_seq = 0;
	if (t->starts != seq || t->rec.n > TUPLE_MAX_PARTS || now <= t->send_ns)
		return;
	t->rec.round_trip_ns = now - t->send_ns;
	bpf_ringbuf_output(&path_tuples, &t->rec, sizeof(t->rec), BPF_RB_NO_WAKEUP);
}

static __always_inline void path_record(__u32 component, __u32 kind, __u64 delta_ns)
{
	struct path_key key = { .component = component, .kind = kind };
	hash_hist_record(&path_hist, &key, delta_ns);
	tuple_add(component, 0, kind, delta_ns);
}

/* The cell's sockets get their storage here, at their first packet of any kind (or at
 * establishment, from sockops). Which side a socket is: sockops says it at establishment;
 * a socket established before the programs were attached is judged by its SYN seen going
 * out, else by its ports. */
static __always_inline struct path_sock *sock_of(struct __sk_buff *skb, struct bpf_sock *sk, bool egress)
{
	struct path_sock *st = bpf_sk_storage_get(&path_sk, sk, 0, 0);
	if (st && st->component)
		return st;
	__u32 component = component_of_cgroup(bpf_skb_cgroup_id(skb));
	if (!component)
		return 0;
	if (!st) {
		st = bpf_sk_storage_get(&path_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return 0;
		struct iphdr ip;
		struct tcphdr tcp;
		if (egress && !bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) && ip.ihl >= 5 &&
		    !bpf_skb_load_bytes(skb, ip.ihl * 4, &tcp, sizeof(tcp)) && tcp.syn && !tcp.ack)
			st->passive = 0;
		else
			st->passive = sk->src_port < bpf_ntohs(sk->dst_port);
	}
	st->component = component;
	__u32 *origin = bpf_map_lookup_elem(&path_origin, &component);
	st->origin = origin && *origin;
	return st;
}

/* Establishment: the side, for certain (the component comes with the first packet). */
SEC("sockops")
int mbp_path_ops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	if (op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	struct bpf_sock *sk = skops->sk;
	if (!sk)
		return 1;
	struct path_sock *st = bpf_sk_storage_get(&path_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st)
		st->passive = op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
	return 1;
}

static __always_inline int on_packet(struct __sk_buff *skb, bool egress)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP)
		return 1;
	struct path_sock *st = sock_of(skb, sk, egress);
	if (!st)
		return 1;
	__u32 epoch = current_epoch();
	same_window(st, epoch);
	/* The cheap exits first, without touching the packet: a later segment of the message
	 * going the same way, or a packet no longer than the socket's headers (an ACK). */
	__u8 dir = egress ? DIR_OUT : DIR_IN;
	if (st->last_dir == dir || (st->hdr_len && skb->len <= st->hdr_len))
		return 1;

	struct iphdr ip;
	struct tcphdr tcp;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return 1;
	__u32 ip_len = ip.ihl * 4;
	if (ip_len < sizeof(ip) || bpf_skb_load_bytes(skb, ip_len, &tcp, sizeof(tcp)))
		return 1;
	__u32 headers = ip_len + tcp.doff * 4;
	if (skb->len <= headers)
		return 1; /* no payload: ACK, SYN, FIN */
	st->hdr_len = headers;
	st->last_dir = dir;
	__u64 now = bpf_ktime_get_ns();
	__u32 component = st->component;
	struct seg_sent *slot = inflight_slot(tcp.seq, tcp.ack_seq);

	if (egress) {
		if (st->origin && !st->passive)
			tuple_open(st, epoch); /* first: the send path below is the request's first part */
		if (st->send_ns) {
			if (now > st->send_ns)
				path_record(component, st->passive ? PATH_TX_RESP : PATH_TX_REQ, now - st->send_ns);
			st->send_ns = 0;
		}
		if (st->passive) {
			if (st->rtt_from_ns && now > st->rtt_from_ns)
				path_record(component, PATH_SERVED, now - st->rtt_from_ns);
			st->rtt_from_ns = 0;
		} else {
			st->rtt_from_ns = now;
		}
		if (slot) {
			slot->seq = tcp.seq;
			slot->ack = tcp.ack_seq;
			slot->component = component;
			slot->epoch = epoch;
			slot->ns = now;
		}
		return 1;
	}

	if (slot && slot->ns && slot->seq == tcp.seq && slot->ack == tcp.ack_seq) {
		__u64 sent_ns = slot->ns;
		__u32 from = slot->component;
		__u32 sent_epoch = slot->epoch;
		slot->ns = 0;
		if (from != component && sent_epoch == epoch && now > sent_ns) {
			struct hop_key hop = { .from = from, .to = component };
			hash_hist_record(&hop_hist, &hop, now - sent_ns);
			tuple_add(from, component, TUPLE_HOP, now - sent_ns);
		}
	}
	st->wake_from_ns = now;
	st->wake_pending = 1;
	if (st->passive) {
		st->rtt_from_ns = now;
	} else {
		if (st->rtt_from_ns && now > st->rtt_from_ns)
			path_record(component, PATH_WAITED, now - st->rtt_from_ns);
		st->rtt_from_ns = 0;
	}
	return 1;
}

SEC("cgroup_skb/ingress")
int mbp_path_in(struct __sk_buff *skb) { return on_packet(skb, false); }

SEC("cgroup_skb/egress")
int mbp_path_out(struct __sk_buff *skb) { return on_packet(skb, true); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(mbp_path_read, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	struct path_sock *st = bpf_sk_storage_get(&path_sk, sk, 0, 0);
	if (!st || !st->component)
		return 0;
	__u32 epoch = current_epoch();
	same_window(st, epoch);
	__u64 now = bpf_ktime_get_ns();
	st->user_last = USER_READ;
	if (st->wake_pending) {
		st->wake_pending = 0;
		if (now > st->wake_from_ns)
			path_record(st->component, st->passive ? PATH_WAKE_REQ : PATH_WAKE_RESP, now - st->wake_from_ns);
		if (st->origin && !st->passive)
			tuple_close(st, epoch, now);
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dwell_thread *t = bpf_map_lookup_elem(&dwell_threads, &tid);
	if (t) {
		if (t->first_recv_ns == 0 || t->epoch != epoch) {
			t->first_recv_ns = now;
			t->component = st->component;
			t->epoch = epoch;
		}
	} else {
		struct dwell_thread fresh = { .first_recv_ns = now, .component = st->component, .epoch = epoch };
		bpf_map_update_elem(&dwell_threads, &tid, &fresh, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(mbp_path_send, struct sock *sk, struct msghdr *msg, struct sk_buff *skb, int size_goal)
{
	struct path_sock *st = bpf_sk_storage_get(&path_sk, sk, 0, 0);
	if (!st || !st->component)
		return 0;
	__u32 epoch = current_epoch();
	same_window(st, epoch);
	if (st->user_last == USER_SEND)
		return 0; /* the same message, another chunk */
	st->user_last = USER_SEND;
	__u64 now = bpf_ktime_get_ns();
	st->send_ns = now;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dwell_thread *t = bpf_map_lookup_elem(&dwell_threads, &tid);
	if (!t || t->first_recv_ns == 0 || t->epoch != epoch)
		return 0;
	__u64 start = t->first_recv_ns;
	t->first_recv_ns = 0;
	if (now > start)
		hist_record(&dwell_hist, t->component, now - start);
	return 0;
}
