# syntax=docker/dockerfile:1
# The one image both ArmorGate daemons run: `armorgate webhook` (Deployment) and
# `armorgate enforcer` (DaemonSet), see manifests/. Node 24 runs the TypeScript sources
# directly (type stripping); the enforcer loads Debian's libbpf1 through koffi and the
# CO-RE BPF object built in the first stage.
#
#   docker build -t <registry>/armorgate:0.1.0 .
#
# NOT TESTED HERE: no container engine runs on the project's machines, so this file has
# never been built by our tests (test/manifests checks the manifests, not the image).
#
# The BPF stage runs scripts/build-bpf.sh, which reads the build host's
# /sys/kernel/btf/vmlinux (BTF, any kernel >= 5.11): the object is CO-RE, so the kernel it
# is built on need not be the nodes' kernel.

# --- 1. the BPF object: build/armorgate.bpf.o -------------------------------------------
FROM debian:bookworm-slim AS bpf
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/build-bpf.sh scripts/
COPY bpf/ bpf/
RUN bash scripts/build-bpf.sh && test -s build/armorgate.bpf.o

# --- 2. production npm packages, from the lockfile ---------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /opt/armorgate
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# --- 3. the image ------------------------------------------------------------------------
FROM node:24-bookworm-slim
# libbpf1: the enforcer's kernel side (libbpf.so.1). mount/umount (util-linux) are already
# in the base image; nothing else is added.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/armorgate
COPY --from=deps /opt/armorgate/node_modules ./node_modules
COPY package.json ./
COPY bin/ bin/
COPY cli/ cli/
COPY lib/ lib/
COPY policy/ policy/
COPY schemas/ schemas/
COPY telemetry/ telemetry/
COPY webhook/ webhook/
COPY enforcer/ enforcer/
COPY --from=bpf /src/build/armorgate.bpf.o build/armorgate.bpf.o
ENV NODE_ENV=production
# Non-root by default (the webhook); the enforcer's DaemonSet runs it as root with
# CAP_BPF and CAP_PERFMON only (manifests/enforcer.yaml).
USER 65532:65532
# V8 flags against V8 13's JIT page registry aborts (wasm tier-up, PKU): see bin/armorgate.js
# (`webhook` adds its old-generation size by replacing itself once, same PID: bin/v8-flags.js)
ENTRYPOINT ["node", "--liftoff-only", "--no-wasm-dynamic-tiering", "--no-wasm-tier-up", "--no-memory-protection-keys", "/opt/armorgate/bin/armorgate.js"]
CMD ["--help"]
