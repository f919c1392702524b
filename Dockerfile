# syntax=docker/dockerfile:1
# meshbench's image for the kind and kubernetes platforms: the workload server
# (harness/workload/, native/server.c), the load drivers (native/driver.c, harness/load/) and the
# probe agent with the bpf loader (harness/platform/kubernetes/probeAgent.ts, bpf/), all
# from this checkout. `meshbench run` builds it for kind (tag meshbench:<version>) and
# loads it into the nodes; for an existing cluster build and push it yourself:
#   docker build -t REGISTRY/meshbench:0.1.0 . && docker push REGISTRY/meshbench:0.1.0

# --- the eBPF probes: CO-RE objects and the libbpf loader (bpf/Makefile) ---
FROM debian:bookworm AS bpf
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm make gcc libc6-dev pkg-config libbpf-dev libelf-dev zlib1g-dev bpftool \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src/bpf
COPY bpf/Makefile bpf/*.c bpf/*.h ./
# vmlinux.h is generated from the build host's BTF (/sys/kernel/btf/vmlinux, visible in
# build containers); CO-RE relocates the objects to each node's kernel when they load.
RUN make

# --- the native load driver and workload server (native/Makefile; libnghttp2 for HTTP/2) ---
FROM debian:bookworm AS native
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make libc6-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src/native
COPY native/Makefile native/*.c native/*.h ./
RUN make

# --- npm dependencies (tsx runs the TypeScript; no build step) ---
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- the image ---
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libnghttp2-14 wrk \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY harness ./harness
COPY --from=bpf /src/bpf/build/loader /src/bpf/build/*.bpf.o ./bpf/build/
COPY --from=native /src/native/build/ ./native/build/
ENV NODE_ENV=production
# Workload and driver run as the unprivileged `node` user (uid 1000, never Istio's 1337);
# the probe DaemonSet runs its container as root with CAP_BPF and CAP_PERFMON only.
USER node
CMD ["node", "--import", "tsx", "harness/cli/main.ts", "--help"]
