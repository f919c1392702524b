#!/usr/bin/env bash
# One idempotent set-up step for `npm run bench` and `npm test`: installs only what is
# missing (Debian packages, npm dependencies, bpf objects) and mounts bpffs/tracefs.
# When nothing is missing it only checks, in well under 5 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != "0" ]; then
  cat >&2 <<'MSG'
meshbench needs root: it builds network namespaces, iptables rules, cgroups and eBPF
programs for every run. Run it as root, e.g.  sudo npm run bench  or  sudo npm test
MSG
  exit 1
fi

# Debian packages the local platform needs (checked with one dpkg-query, installed only if missing).
PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev make gcc pkg-config bpftool
  haproxy nginx-light iproute2 iptables conntrack wrk nghttp2-client libnghttp2-dev hey util-linux procps chromium)
missing=()
while read -r pkg status; do
  [ "$status" = "installed" ] || missing+=("$pkg")
done < <(for p in "${PACKAGES[@]}"; do
  s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  echo "$p ${s:-missing}"
done)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  # Installing haproxy/nginx must not start their system services on this host.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1; fi
  trap '[ -n "$made_policy" ] && rm -f "$policy"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm dependencies: `npm ci` when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Kernel prerequisites.
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  say "this kernel has no BTF (/sys/kernel/btf/vmlinux): the eBPF programs cannot be built or loaded"
  exit 1
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

# bpf objects and the loader, against this kernel's BTF (make rebuilds only what changed).
make -s -C bpf >&2
# The native load driver and workload server (libnghttp2), likewise.
make -s -C native >&2

# The CLI on the PATH, so `meshbench …` runs as the README writes it (npm does not link a
# package's own bin inside its own folder, so `npx meshbench` cannot): a symlink to this
# clone's bin/meshbench.js in /usr/local/bin, re-pointed when another clone ran set-up last.
bin_target="$PWD/bin/meshbench.js"
bin_link=/usr/local/bin/meshbench
if [ "$(readlink "$bin_link" 2>/dev/null || true)" != "$bin_target" ]; then
  ln -sfn "$bin_target" "$bin_link"
  say "meshbench is on the PATH: $bin_link → $bin_target"
fi
