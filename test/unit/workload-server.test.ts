import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startWorkloadServer, type WorkloadServer } from '../../harness/workload/httpServer.ts';
import { fetchWorkloadStats } from '../../harness/workload/process.ts';

function get(port: number, path: string, agent: http.Agent): Promise<{ status: number; body: Buffer; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      })
      .on('error', reject);
  });
}

describe('workload server (in process)', () => {
  let plain: WorkloadServer;
  let delayed: WorkloadServer;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  before(async () => {
    plain = await startWorkloadServer({ host: '127.0.0.1', port: 0, responseBytes: 1024, delayUs: 0 });
    delayed = await startWorkloadServer({ host: '127.0.0.1', port: 0, responseBytes: 10, delayUs: 3000 });
  });
  after(async () => {
    agent.destroy();
    await plain.close();
    await delayed.close();
  });

  it('answers 200 with exactly N bytes, on one keep-alive connection', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await get(plain.port, `/any/path?i=${i}`, agent);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 1024);
    }
    const stats = await fetchWorkloadStats('127.0.0.1', plain.port);
    assert.equal(stats.requests, 5);
    assert.deepEqual(stats.peers, { '127.0.0.1': 5 });
  });

  it('answers /_meshbench/status/NNN with that status, counted as a request', async () => {
    const before = (await fetchWorkloadStats('127.0.0.1', plain.port)).requests;
    const r = await get(plain.port, '/_meshbench/status/500', agent);
    assert.equal(r.status, 500);
    assert.equal(r.body.length, 1024);
    assert.equal((await fetchWorkloadStats('127.0.0.1', plain.port)).requests, before + 1);
  });

  it('does not count stats calls, and resets on ?reset=1', async () => {
    const a = await fetchWorkloadStats('127.0.0.1', plain.port, true);
    assert.ok(a.requests > 0);
    const b = await fetchWorkloadStats('127.0.0.1', plain.port);
    assert.equal(b.requests, 0);
    assert.deepEqual(b.peers, {});
  });

  it('adds the delay and reports its error', async () => {
    await fetchWorkloadStats('127.0.0.1', delayed.port, true);
    for (let i = 0; i < 20; i++) {
      const r = await get(delayed.port, '/', agent);
      assert.equal(r.body.length, 10);
      assert.ok(r.ms >= 3, `answered after ${r.ms.toFixed(2)} ms`);
    }
    const stats = await fetchWorkloadStats('127.0.0.1', delayed.port);
    assert.equal(stats.delay.delayUs, 3000);
    assert.equal(stats.delay.errorUs.count, 20);
    assert.equal(stats.delay.mode, 'worker');
  });
});
