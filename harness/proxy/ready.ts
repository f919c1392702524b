// When is a started HAProxy ready? When its stats socket answers. HAProxy binds every
// listener (frontends and the stats socket alike) in one pass before its run loop starts,
// exits if any bind fails, and answers on the stats socket only from that loop: an answer
// means every listener is bound and accepting. Asking costs a unix-socket connect in this
// process — not a process per poll (`ss` inside the netns), which a 100-pod cell would pay
// for each of its 101 sidecars, nor a read of /proc/PID/net/tcp (5 ms here: the kernel walks
// its whole TCP hash table for it).
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProxyProcess } from './types.ts';

function answers(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: socketPath });
    let out = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('connect', () => socket.end('show info\n'));
    socket.on('data', (d) => (out += d.toString()));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(/^Name: /m.test(out));
    });
    socket.on('error', () => {});
  });
}

/** Resolves once the proxy's stats socket answers; rejects when the proxy exits first or time runs out. */
export async function waitForStatsSocket(socketPath: string, proc: ProxyProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} in ${proc.placement.name} exited before it was ready: ${proc.stderrTail()}`);
    if (await answers(socketPath, Math.max(50, Math.min(1000, deadline - Date.now())))) return;
    await sleep(10);
  }
  throw new Error(`${proc.name} in ${proc.placement.name}: its stats socket ${socketPath} did not answer within ${timeoutMs} ms. ${proc.stderrTail()}`);
}
