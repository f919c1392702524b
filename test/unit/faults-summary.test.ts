// Issue 14: summary.md escapes what it prints from a result.json, and a cell with no sample
// reads "no data" in every view, never 0 µs (the load.rate 1e-9 run reported p50 0.0 µs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeOverhead } from '../../harness/analysis/overhead.ts';
import { escapeMarkdown, NO_DATA, renderSummaryMarkdown, renderTerminalTable } from '../../harness/results/summary.ts';
import type { RunResult } from '../../harness/results/types.ts';
import { loadFixture } from '../fixtures/results/helpers.ts';

describe('summary.md escapes text from a result.json', () => {
  const hostile = loadFixture('hostile-text');
  const md = renderSummaryMarkdown(hostile);

  test('the scenario name and notes are shown as text, not as HTML', () => {
    assert.doesNotMatch(md, /<script>|<b>|<img /);
    assert.match(md, /^# meshbench — &lt;script&gt;alert\("x"\)&lt;\/script&gt; &amp; &lt;b&gt;bold&lt;\/b&gt;$/m);
    assert.match(md, /^- note with &lt;img src=x onerror=alert\(1\)&gt; markup$/m);
  });

  test('markdown in a note cannot make links, headings, code or new blocks', () => {
    const result: RunResult = structuredClone(hostile);
    result.notes = ['[click](https://example.invalid) `code` **bold**\n# heading\n<details>', '| a | b |'];
    result.environment.proxy.version = '2.6 ![x](https://example.invalid/t.png)';
    const text = renderSummaryMarkdown(result);
    assert.match(text, /^- \\\[click\\\]\(https:\/\/example\.invalid\) \\`code\\` \\\*\\\*bold\\\*\\\* \\# heading &lt;details&gt;$/m);
    assert.doesNotMatch(text, /^# heading/m);
    assert.doesNotMatch(text, /(?<!\\)\]\(https:\/\/example\.invalid\/t\.png\)/);
    assert.match(text, /proxy HAProxy 2\.6 \\!\\\[x\\\]\(https/);
  });

  test('escapeMarkdown leaves plain text alone', () => {
    assert.equal(escapeMarkdown('sidecar-http1-s1-r2: 812 µs (1.10–1.41), ⚠ saturated'), 'sidecar-http1-s1-r2: 812 µs (1.10–1.41), ⚠ saturated');
  });

  test('the terminal table prints the text as it is (it is no markup)', () => {
    assert.match(renderTerminalTable(hostile), /^meshbench — <script>alert\("x"\)<\/script> & <b>bold<\/b>$/m);
  });
});

describe('a cell with no sample reads "no data"', () => {
  /** The base fixture with one mesh's cells emptied, as a run at load.rate 1e-9 gives them. */
  function withEmptyCells(mesh: string, repeats: number[] | 'all'): RunResult {
    const result: RunResult = structuredClone(loadFixture('base'));
    for (const cell of result.cells) {
      if (cell.mesh !== mesh || (repeats !== 'all' && !repeats.includes(cell.repeat))) continue;
      cell.load.latencyUs = { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0 };
      cell.load.requests = 0;
      cell.load.achievedRps = 0;
      delete cell.load.histogram;
    }
    result.analysis.overhead = computeOverhead(result.cells);
    return result;
  }

  test('summary.md and the terminal: "no data" instead of 0 µs, and a note per cell', () => {
    const result = withEmptyCells('sidecar', 'all');
    for (const text of [renderSummaryMarkdown(result), renderTerminalTable(result)]) {
      const row = text.split('\n').find((line) => /^\|? ?sidecar\b/.test(line))!;
      assert.ok(row, text);
      assert.match(row, new RegExp(`${NO_DATA}.*${NO_DATA}.*${NO_DATA}`));
      assert.doesNotMatch(row, /\b0\.0 µs/);
      assert.match(text, /sidecar-http1-s1-r1: no latency sample in the measured window \(no request completed\): its latencies read "no data"/);
    }
  });

  test('no Δ vs baseline from a cell without samples', () => {
    const overhead = computeOverhead(withEmptyCells('sidecar', 'all').cells).filter((o) => o.mesh === 'sidecar');
    assert.ok(overhead.length > 0);
    for (const o of overhead) {
      assert.ok(Number.isNaN(o.p50DeltaUs) && Number.isNaN(o.p99DeltaUs), JSON.stringify(o));
    }
  });

  test('some repeats without samples: the others are the figure, the row says how many had none', () => {
    const text = renderTerminalTable(withEmptyCells('ebpf', [1]));
    const row = text.split('\n').find((line) => line.startsWith('ebpf '))!;
    assert.match(row, /\(1 of 3 no data\)/);
    assert.doesNotMatch(row, /\b0\.0 µs/);
  });
});
