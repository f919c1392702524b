// SPDX-License-Identifier: Apache-2.0
/* dwell: per thread, the time from a socket receive's return to the thread's next socket
 * send's entry — how long a request sits inside a proxy or app before it is passed on.
 *
 * Hooks: syscalls:sys_{enter,exit}_{read,readv,recvfrom,recvmsg} and
 * syscalls:sys_enter_{write,writev,sendto,sendmsg}. read/write(v) count only on sockets
 * (the fd's inode is S_IFSOCK), so eventfd/pipe/log traffic does not open or close a dwell.
 *
 * The dwell starts at the FIRST receive after the thread's last send and ends at the next
 * send: a request read in several pieces is timed from its first byte; a thread that reads
 * two requests before answering the first times from the earlier one. Not seen: sendfile,
 * splice, io_uring, recvmmsg/sendmmsg.
 */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000

struct dwell_thread {
	__u64 first_recv_ns; /* 0: no receive since the last send */
	__u32 component;
	__u32 in_recv;       /* a socket receive syscall is in flight */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* threads that die mid-dwell age out */
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct dwell_thread);
} dwell_threads SEC(".maps");

DECLARE_HIST_MAP(dwell_hist);

static __always_inline bool fd_is_socket(long fd)
{
	/* task → files → fdt are plain loads through BTF pointers (no helper calls); the
	 * fd array slot and the inode need probe reads. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || fd >= fdt->max_fds)
		return false;
	struct file **fds = fdt->fd;
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return false;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	return (mode & S_IFMT) == S_IFSOCK;
}

static __always_inline int recv_enter(long fd, bool check_socket)
{
	__u32 component = component_of_current();
	if (!component)
		return 0;
	if (check_socket && !fd_is_socket(fd))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dwell_thread *t = bpf_map_lookup_elem(&dwell_threads, &tid);
	if (t) {
		t->in_recv = 1;
		t->component = component;
		return 0;
	}
	struct dwell_thread fresh = { .component = component, .in_recv = 1 };
	bpf_map_update_elem(&dwell_threads, &tid, &fresh, BPF_ANY);
	return 0;
}

static __always_inline int recv_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dwell_thread *t = bpf_map_lookup_elem(&dwell_threads, &tid);
	if (!t || !t->in_recv)
		return 0;
	t->in_recv = 0;
	if (ret > 0 && t->first_recv_ns == 0)
		t->first_recv_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int send_enter(long fd, bool check_socket)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dwell_thread *t = bpf_map_lookup_elem(&dwell_threads, &tid);
	if (!t || t->first_recv_ns == 0)
		return 0;
	if (check_socket && !fd_is_socket(fd))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 start = t->first_recv_ns;
	t->first_recv_ns = 0;
	if (now > start)
		hist_record(&dwell_hist, t->component, now - start);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int mbp_dw_read_in(struct trace_event_raw_sys_enter *ctx) { return recv_enter(ctx->args[0], true); }
SEC("tracepoint/syscalls/sys_exit_read")
int mbp_dw_read_out(struct trace_event_raw_sys_exit *ctx) { return recv_exit(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_readv")
int mbp_dw_readv_in(struct trace_event_raw_sys_enter *ctx) { return recv_enter(ctx->args[0], true); }
SEC("tracepoint/syscalls/sys_exit_readv")
int mbp_dw_readv_out(struct trace_event_raw_sys_exit *ctx) { return recv_exit(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int mbp_dw_rcvfr_in(struct trace_event_raw_sys_enter *ctx) { return recv_enter(ctx->args[0], false); }
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int mbp_dw_rcvfr_out(struct trace_event_raw_sys_exit *ctx) { return recv_exit(ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int mbp_dw_rcvmsg_in(struct trace_event_raw_sys_enter *ctx) { return recv_enter(ctx->args[0], false); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int mbp_dw_rcvmsg_out(struct trace_event_raw_sys_exit *ctx) { return recv_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_write")
int mbp_dw_write(struct trace_event_raw_sys_enter *ctx) { return send_enter(ctx->args[0], true); }
SEC("tracepoint/syscalls/sys_enter_writev")
int mbp_dw_writev(struct trace_event_raw_sys_enter *ctx) { return send_enter(ctx->args[0], true); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int mbp_dw_sendto(struct trace_event_raw_sys_enter *ctx) { return send_enter(ctx->args[0], false); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int mbp_dw_sendmsg(struct trace_event_raw_sys_enter *ctx) { return send_enter(ctx->args[0], false); }
