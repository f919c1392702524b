// SPDX-License-Identifier: Apache-2.0
/* memory: a task iterator; each read of it (the loader samples every --mem-interval-ms)
 * writes one mem_record per tracked process: RSS = file + anon + shmem pages, the sum
 * /proc/<pid>/status shows as VmRSS.
 *
 * mm->rss_stat is an array of percpu_counter since 6.2 (before: struct mm_rss_stat of
 * atomic_long_t); CO-RE picks the layout at load. The percpu_counter's `count` is the
 * folded value: it lags the per-CPU deltas by at most the counter batch (≥ 32 pages) per
 * CPU — at most a few hundred KiB, well under 1 % of any process worth measuring. */
#include "vmlinux.h"
#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __s64 mm_counter(struct mm_struct *mm, int member)
{
	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		struct mm_struct___pre62 *old = (void *)mm;
		return BPF_CORE_READ(old, rss_stat.count[member].counter);
	}
	return BPF_CORE_READ(mm, rss_stat[member].count);
}

SEC("iter/task")
int mbp_mem_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	/* The iterator visits every thread; one record per process. */
	if (task->pid != task->tgid)
		return 0;
	__u32 component = component_of_task(task);
	if (!component)
		return 0;
	struct mm_struct *mm = task->mm;
	if (!mm)
		return 0;
	/* The MM_* indexes are an anonymous enum (no CO-RE relocation); stable since 4.5. */
	__s64 file = mm_counter(mm, MM_FILEPAGES);
	__s64 anon = mm_counter(mm, MM_ANONPAGES);
	__s64 shmem = mm_counter(mm, MM_SHMEMPAGES);
	__u64 pages = (file > 0 ? file : 0) + (anon > 0 ? anon : 0) + (shmem > 0 ? shmem : 0);
	struct mem_record rec = { .tgid = task->tgid, .component = component, .rss_pages = pages };
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
