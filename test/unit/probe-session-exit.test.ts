// The probe session ends on the loader's 'close' (its output read to the end), not on its
// 'exit': a final answer still in the pipe when the process is reaped answers the command it
// belongs to, instead of failing it with "probe loader exited with code 0" (the flake seen in
// test/system/scaling.test.ts at the end of a cell). And whatever ends the loader, the error
// names why, from the exit line it writes last on stderr.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exitReason, startProbes } from '../../harness/probes/session.ts';

const FAKE = fileURLToPath(new URL('../fixtures/loader/late-final-line.mjs', import.meta.url));

describe('probe session: the end of the loader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbench-fake-loader-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a final answer that arrives after the process exited still answers "stop"', async () => {
    const loader = join(dir, 'loader');
    writeFileSync(loader, `#!/bin/sh\nexec ${process.execPath} ${FAKE} "$@"\n`);
    chmodSync(loader, 0o755);
    for (let round = 0; round < 3; round++) {
      const session = await startProbes({ probes: ['cpu'], loaderPath: loader });
      await session.start();
      const figures = await session.stop();
      assert.equal(figures.final, true, `round ${round}`);
      await session.kill();
    }
  });

  it('reads the exit line: stop, stdin closed, stdout closed, a signal and its sender', () => {
    assert.equal(exitReason('libbpf: something\n{"exit":"stdin closed"}\n'), 'stdin closed');
    assert.equal(exitReason('{"exit":"stop"}'), 'stop');
    assert.equal(
      exitReason('{"exit":"signal","signal":"SIGTERM","senderPid":4242,"sender":"node teardown.js "}\n'),
      'SIGTERM from pid 4242 (node teardown.js)',
    );
    assert.equal(exitReason('{"exit":"signal","signal":"SIGHUP","senderPid":0,"sender":""}'), 'SIGHUP from the kernel');
    assert.equal(exitReason('no exit line here\n'), undefined);
  });
});
