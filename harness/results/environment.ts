// What the run ran on: every result carries it (DESIGN.md, "Environment in every result").
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname, release } from 'node:os';
import { createRequire } from 'node:module';
import { run } from '../exec.ts';
import type { Environment } from './types.ts';

function readOr(path: string, fallback: string | undefined): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

async function toolVersion(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const r = await run(cmd, args, { allowFailure: true, timeoutMs: 5000 });
    return pattern.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export async function collectEnvironment(proxy: { name: string; version: string }, placement: Environment['placement']): Promise<Environment> {
  const cpuinfo = readOr('/proc/cpuinfo', '') ?? '';
  const [iptables, bpftool, clang, wrk] = await Promise.all([
    toolVersion('iptables', ['-V'], /v(\S+ \(\w+\))/),
    toolVersion('bpftool', ['version'], /bpftool v(\S+)/),
    toolVersion('clang', ['--version'], /clang version (\S+)/),
    toolVersion('wrk', ['-v'], /wrk (\S+)/),
  ]);
  return {
    hostname: hostname(),
    kernel: release(),
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    cores: availableParallelism(),
    governor: readOr('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor', undefined),
    node: process.version,
    proxy,
    tools: {
      iptables,
      bpftool,
      clang,
      wrk,
      autocannon: packageVersion('autocannon'),
      'hdr-histogram-js': packageVersion('hdr-histogram-js'),
    },
    placement,
  };
}

export function meshbenchVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}
