// The native driver's pure parts as the harness sees them: its histogram is what
// hdr-histogram-js decodes, with the same percentiles; the runner's command for every named
// driver; what validate refuses (wrk without a closed model or with gRPC), with field paths.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { InputError } from '../../harness/errors.ts';
import { createLatencyHistogram, decodeHistogram, mergeHistograms, recordLatencyUs, summarizeLatencyUs } from '../../harness/load/histogram.ts';
import { DEFAULT_DRIVER, driverCommand, imageDriverCommand } from '../../harness/load/index.ts';
import { NATIVE_DRIVER_PATH, nativeDriverVersion } from '../../harness/load/native.ts';
import { DRIVER_MAIN_PATH } from '../../harness/load/process.ts';
import type { LoadSpec } from '../../harness/load/types.ts';
import { workloadFor } from '../../harness/runner/protocols.ts';
import { parseScenario } from '../../harness/scenario/load.ts';

function nativeHistogram(values: number[]): { latencyUs: ReturnType<typeof summarizeLatencyUs>; histogram: string } {
  return JSON.parse(execFileSync(NATIVE_DRIVER_PATH, ['--histogram'], { input: values.join(' '), encoding: 'utf8' }));
}

function problems(text: string): string[] {
  try {
    parseScenario(text, 'inline.yaml');
  } catch (error) {
    assert.ok(error instanceof InputError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('accepted');
}

const spec: LoadSpec = { targets: [{ host: '198.19.0.1', port: 80, path: '/' }], model: 'open', rate: 300, connections: 4, durationMs: 10_000, warmupMs: 2_000 };

describe('native driver: histogram', () => {
  it('encodes what hdr-histogram-js decodes, with the percentiles hdr-histogram-js computes', () => {
    // A spread over 1 µs .. 60 s, with values at every bucket edge of the log-linear layout.
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = Array.from({ length: 50_000 }, () => Math.floor(Math.exp(random() * 17.9)));
    values.push(0, 1, 2047, 2048, 2049, 4095, 4096, 4097, 1_000_000, 59_999_999, 60_000_000, 75_000_000);
    const native = nativeHistogram(values);
    const reference = createLatencyHistogram();
    for (const v of values) recordLatencyUs(reference, v);
    assert.deepEqual(native.latencyUs, summarizeLatencyUs(reference));
    const decoded = decodeHistogram(native.histogram);
    assert.equal(decoded.totalCount, values.length);
    for (const p of [0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100]) {
      assert.equal(decoded.getValueAtPercentile(p), reference.getValueAtPercentile(p), `p${p}`);
    }
    // Merged with a histogram of the TypeScript side, as a run's analysis does.
    const merged = mergeHistograms([decoded, reference]);
    assert.equal(merged.totalCount, 2 * values.length);
    assert.equal(merged.getValueAtPercentile(99), reference.getValueAtPercentile(99));
  });

  it('an empty histogram: zeros and a count of 0, still decodable', () => {
    const native = nativeHistogram([]);
    assert.deepEqual(native.latencyUs, { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0 });
    assert.equal(decodeHistogram(native.histogram).totalCount, 0);
  });

  it('names its version', () => {
    assert.match(nativeDriverVersion(), /^meshbench-native\/\d+ nghttp2\/\d+\.\d+\.\d+$/);
  });
});

describe('the runner starts exactly the driver the scenario names', () => {
  const scenario = (driver: 'native' | 'autocannon' | 'wrk', protocols: Array<'http1' | 'grpc'> = ['http1']) =>
    parseScenario(
      `name: t\nprotocols: [${protocols.join(', ')}]\nservices: [1]\nload: {model: ${driver === 'wrk' ? 'closed' : 'open'}, ${driver === 'wrk' ? '' : 'rate: 300, '}connections: 4, duration: 10s, driver: ${driver}}\n`,
      'inline.yaml',
    );

  it('native by default', () => {
    assert.equal(DEFAULT_DRIVER, 'native');
    assert.equal(parseScenario('name: t\nservices: [1]\nload: {rate: 300, duration: 10s}\n', 'inline.yaml').load.driver, 'native');
  });

  it('native: the binary, the spec as its argument; a gRPC spec carries the call', () => {
    const argv = workloadFor('http1').driverArgv(spec, scenario('native'));
    assert.deepEqual(argv, [NATIVE_DRIVER_PATH, JSON.stringify(spec)]);
    const g = workloadFor('grpc').driverArgv(spec, scenario('native', ['http1', 'grpc']));
    assert.equal(g[0], NATIVE_DRIVER_PATH);
    assert.deepEqual(JSON.parse(g[1]!).grpc, { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 });
  });

  it('autocannon and wrk: driverMain.ts, wrk with --driver wrk', () => {
    const a = workloadFor('http1').driverArgv(spec, scenario('autocannon'));
    assert.equal(a.at(-2), DRIVER_MAIN_PATH);
    const closed = { ...spec, model: 'closed' as const, rate: undefined };
    const w = workloadFor('http1').driverArgv(closed, scenario('wrk'));
    assert.deepEqual(w.slice(-4, -1), [DRIVER_MAIN_PATH, '--driver', 'wrk']);
    assert.throws(() => driverCommand('wrk', { ...closed, grpc: { method: 'unary', messagesPerStream: 1, streamsPerConnection: 1 } }), /HTTP\/1\.1 only/);
  });

  it('in the project image (Kubernetes driver Job): the same choice, by the image’s paths', () => {
    assert.deepEqual(imageDriverCommand('native', spec, '/app'), ['/app/native/build/driver', JSON.stringify(spec)]);
    assert.deepEqual(imageDriverCommand('autocannon', spec, '/app').slice(0, 4), ['node', '--import', 'tsx', 'harness/load/driverMain.ts']);
    assert.deepEqual(imageDriverCommand('wrk', { ...spec, model: 'closed' }, '/app').slice(4, 6), ['--driver', 'wrk']);
  });

  it('validate refuses wrk where it cannot run, with the field path', () => {
    assert.deepEqual(problems('name: t\nservices: [1]\nload: {rate: 300, duration: 10s, driver: wrk}\n'), [
      'load.driver: wrk runs only with the closed model (it cannot pace a fixed rate); use model: closed or driver: autocannon',
    ]);
    assert.deepEqual(problems('name: t\nprotocols: [http1, grpc]\nservices: [1]\nload: {model: closed, duration: 10s, driver: wrk}\n'), [
      'load.driver: wrk speaks HTTP/1.1 only, and protocols has grpc; use driver: native (or autocannon) or drop grpc',
    ]);
  });

  it('scenarios/capacity.yaml runs wrk in every cell', async () => {
    const { loadScenarioFile } = await import('../../harness/scenario/load.ts');
    const capacity = await loadScenarioFile('scenarios/capacity.yaml');
    assert.equal(capacity.load.driver, 'wrk');
    for (const protocol of capacity.protocols) {
      const argv = workloadFor(protocol).driverArgv({ ...spec, model: 'closed', rate: undefined }, capacity);
      assert.deepEqual(argv.slice(-4, -1), [DRIVER_MAIN_PATH, '--driver', 'wrk']);
    }
  });
});
