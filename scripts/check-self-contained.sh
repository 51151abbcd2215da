#!/usr/bin/env bash
# Fails when a tracked file refers to a path outside the repository, so that a fresh clone with nothing
# beside it has everything its tests, scripts and documents use (issue 14).
#
#   scripts/check-self-contained.sh              check every file git tracks in this checkout
#   scripts/check-self-contained.sh --root DIR   check the tracked files of the git work tree DIR instead
#   scripts/check-self-contained.sh --self-test  prove it: each reference planted in a scratch repository must
#                                                fail the check, and legitimate paths beside them must not
#
# Rules (binary files are skipped; a line containing `self-contained: ok` is exempt, for the rare legitimate
# case such as a path inside a container image, and should say why):
#   shared    a folder `shared` reached through one or more `..`: the developers' private folder beside the
#             checkout, which a clone does not have
#   machine   absolute paths of a machine: /work, /root, /home/USER or /Users/USER followed by a slash, and
#             `file:` URLs with a path (a path inside an http URL, `${VAR}/work` and `~/x` are not matched)
#   escape    a relative path that climbs above the repository root: counted from the file's own folder, and
#             for a Rust line that uses CARGO_MANIFEST_DIR from its crate's folder
# Not checked: /tmp/... (in this tree only scratch paths inside containers and the code that rewrites them),
# system paths such as /usr/sbin or /etc/nginx, and anything a script computes at run time.
set -euo pipefail

MARK='self-contained: ok'

# ERE, grep -E and awk. Written so that this file does not match them.
SHARED_RE='(^|[^A-Za-z0-9_.-])(\.\./)+shared([^A-Za-z0-9_.-]|$)'
MACHINE_RE='(^|[^A-Za-z0-9_.~$})/-])/(work|root|(home|Users)/[^/[:space:]"'"'"'`)]+)/|file:/{3}'
CHAIN_RE='(^|[^.A-Za-z0-9_])(\.\./)+(\.\.)?'

# check DIR: prints every offending line as `file:line: rule: text`; returns 1 when there is one.
check() {
  local dir="$1" out
  git -C "$dir" rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
    echo "check-self-contained: $dir is not a git work tree (the check reads what git tracks)" >&2; return 2; }
  out="$(
    cd "$dir"
    files() { git ls-files -z; }
    files | xargs -0 -r grep -nIHE -e "$SHARED_RE" -e "$MACHINE_RE" -- 2>/dev/null | grep -vF "$MARK" |
      while IFS= read -r hit; do
        file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; text="${rest#*:}"
        if grep -qE "$SHARED_RE" <<<"$text"; then rule=shared; else rule=machine; fi
        printf '%s:%s: %s: %s\n' "$file" "$line" "$rule" "$(sed -E 's/^[[:space:]]+//' <<<"$text" | cut -c1-160)"
      done
    # Folders holding a Cargo.toml, deepest first, for the CARGO_MANIFEST_DIR case.
    crates="$(git ls-files -- 'Cargo.toml' '*/Cargo.toml' | sed -E 's#(^|/)Cargo\.toml$##' | awk '{ print length($0) "\t" $0 }' |
      sort -rn | cut -f2- | tr '\n' '|')"
    files | xargs -0 -r grep -nIHE -e "$CHAIN_RE" -- 2>/dev/null | grep -vF "$MARK" |
      CHAIN="$CHAIN_RE" CRATES="$crates" awk '
        BEGIN { chain = ENVIRON["CHAIN"]; crates = ENVIRON["CRATES"] }
        function depth(p) { return p == "" ? 0 : gsub(/\//, "/", p) + 1 }
        {
          file = $0; sub(/:.*/, "", file)
          rest = substr($0, length(file) + 2); line = rest; sub(/:.*/, "", line)
          text = substr(rest, length(line) + 2)
          dir = file; if (!sub(/\/[^\/]*$/, "", dir)) dir = ""
          base = depth(dir)
          if (file ~ /\.rs$/ && text ~ /CARGO_MANIFEST_DIR/) {
            n = split(crates, c, "|")
            for (i = 1; i <= n; i++)
              if (c[i] == "" || index(file, c[i] "/") == 1) { base = depth(c[i]); break }
          }
          s = text
          while (match(s, chain)) {
            m = substr(s, RSTART, RLENGTH); ups = gsub(/\.\./, "..", m)
            if (ups > base) {
              t = text; sub(/^[ \t]+/, "", t)
              printf "%s:%s: escape: %d levels up from a folder %d below the root: %s\n", file, line, ups, base, substr(t, 1, 160)
              break
            }
            s = substr(s, RSTART + RLENGTH)
          }
        }'
    true # no hit is not an error
  )"
  if [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "check-self-contained: $(wc -l <<<"$out") reference(s) to paths outside the repository (above)." >&2
    echo "  A clone has nothing beside it: copy the data or document into the repository and refer to it there." >&2
    return 1
  fi
}

self_test() {
  local fail=0 n=0
  ST="$(mktemp -d "${TMPDIR:-/tmp}/check-self-contained.XXXXXX")"
  trap 'rm -rf "$ST" "$ST.out"' EXIT
  local st="$ST"
  git -C "$st" init -q
  # Built from pieces so that this file itself stays clean.
  local U='..' S='shared' W='work' R='root' H='home' F='file:'
  put() { mkdir -p "$st/$(dirname "$1")"; printf '%s\n' "$2" >> "$st/$1"; git -C "$st" add -- "$1"; }
  # Legitimate paths: must pass.
  put crate/Cargo.toml '[package]'
  put crate/tests/golden.rs 'let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");'
  put crate/src/lib.rs 'const README: &str = include_str!("'"$U/$U"'/README.md");'
  put scripts/run.sh 'export PATH="$PATH:/usr/sbin:/sbin"; cd "$(dirname "$0")/'"$U"'"'
  put docker/Dockerfile 'COPY --from=builder /out/server /usr/local/bin/server'
  put docker/nginx.conf 'pid /tmp/nginx.pid;'
  put docker/compose.yaml '        target: /etc/nginx/nginx.conf'
  put docs/guide.md 'See [the README](../README.md), https://example.com/home/alice/x and https://github.com/o/r/blob/main/work/x.'
  put docs/guide.md 'Scratch: ${ROOT}/work/x, $(pwd)/work/y, ~/.cargo/registry, /home/ alone, bench/.tmp/ in .gitignore.'
  put bench/results/README.md 'Back to [the README]('"$U/$U"'/README.md).'
  put README.md 'A container path /root/.cache/x (self-contained: ok, inside the image).'
  if ! check "$st" >"$st.out" 2>&1; then
    echo "self-test FAILED: legitimate paths were reported:"; sed 's/^/    /' "$st.out"; rm -f "$st.out"; return 1
  fi
  echo "self-test: legitimate paths pass"
  git -C "$st" -c user.name=t -c user.email=t@t commit -qm clean
  # file | planted line | rule expected in the report
  local plants=(
    "crate/tests/golden.rs|let dir = Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"$U/$U/$S/vectors/x\");|shared"
    "docs/guide.md|See [the notes]($U/$S/docs/x.md).|shared"
    "scripts/run.sh|cat /$W/$S/vectors/x|machine"
    "docker/compose.yaml|      - /$R/data/x:/data|machine"
    "README.md|Captures are in /$H/alice/captures/x.txt.|machine"
    "docs/guide.md|Open ${F}///tmp/x in a browser.|machine"
    "bench/results/README.md|[elsewhere]($U/$U/$U/outside/x)|escape"
    "crate/tests/golden.rs|let p = Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"$U/$U/data/x\");|escape"
  )
  local p file line rule
  for p in "${plants[@]}"; do
    IFS='|' read -r file line rule <<<"$p"
    n=$((n + 1))
    git -C "$st" checkout -q -- . && git -C "$st" clean -qfd
    put "$file" "$line"
    if check "$st" >"$st.out" 2>/dev/null; then
      echo "self-test FAILED: not caught in $file: $line"; fail=1
    elif ! awk -F': ' -v f="$file:" -v r="$rule" '$1 ~ /:[0-9]+$/ && index($1, f) == 1 && $2 == r { ok = 1 } END { exit !ok }' "$st.out"; then
      echo "self-test FAILED: $file: $line: expected rule $rule, got:"; sed 's/^/    /' "$st.out"; fail=1
    else
      echo "self-test: caught ($rule) $file: $line"
    fi
    git -C "$st" reset -q
  done
  rm -f "$st.out"
  [ "$fail" = 0 ] || return 1
  echo "self-test: all $n planted references caught"
}

root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  --self-test) self_test ;;
  --root) check "${2:?--root needs a directory}" && echo "check-self-contained: ok" ;;
  "") check "$root" && echo "check-self-contained: no tracked file refers to a path outside the repository" ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
