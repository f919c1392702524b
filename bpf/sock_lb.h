/* Shared layouts of the socket-level load balancer (sock_lb.bpf.c) and its user side
 * (harness/mesh/sockLb.ts encodes these byte for byte: keep the two in step).
 *
 * Byte order: addresses and ports are in network order, exactly as the kernel keeps
 * them in struct bpf_sock_addr; counts, slots and ids are in host order.
 * Every struct is padded explicitly to a multiple of 4 bytes so there is no implicit
 * padding the user side would have to guess.
 */
#ifndef MESHBENCH_SOCK_LB_H
#define MESHBENCH_SOCK_LB_H

#define SOCK_LB_MAX_SERVICES 1024
#define SOCK_LB_MAX_BACKENDS_PER_SERVICE 64
#define SOCK_LB_MAX_BACKENDS (SOCK_LB_MAX_SERVICES * SOCK_LB_MAX_BACKENDS_PER_SERVICE)

/* Key of both socklb_svc (slot == 0) and socklb_backend (slot == 1..count), as in
 * Cilium's struct lb4_key: one key shape, the slot selects the backend. 8 bytes. */
struct sock_lb_key {
	__u32 vip;   /* service VIP, network order */
	__u16 port;  /* service port, network order */
	__u16 slot;  /* 0 in the service map; 1..count in the backend map; host order */
};

/* Value of socklb_svc. 8 bytes. */
struct sock_lb_service {
	__u32 count;  /* backends in slots 1..count (0: service known, no backend: no rewrite) */
	__u32 id;     /* index into socklb_rewrites, 0..SOCK_LB_MAX_SERVICES-1 */
};

/* Value of socklb_backend: where a connect to the VIP goes instead (a backend pod, or
 * the node proxy's per-service listener). 8 bytes. */
struct sock_lb_backend {
	__u32 ip;    /* network order */
	__u16 port;  /* network order */
	__u16 pad;
};

/* Value of the socklb_orig sk_storage map: the VIP:port the socket asked for, so that
 * getpeername() gives it back. Lives and dies with the socket. 8 bytes. */
struct sock_lb_orig {
	__u32 vip;   /* network order */
	__u16 port;  /* network order */
	__u16 pad;
};

#endif
