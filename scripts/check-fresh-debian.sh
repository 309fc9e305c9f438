#!/usr/bin/env bash
# Checks the README's two commands, `npm run demo` and `npm run test:all`, on fresh Debian 12
# (bookworm) roots made with debootstrap, in both orders (each leaves the system different for the
# other: the demo installs Mesa from bookworm-backports, the full set-up Chromium and PyTorch from
# bookworm), with apt sources in deb822 form (/etc/apt/sources.list.d/debian.sources, as the
# Debian 12 installer and cloud images write them) and in the classic one-line form
# (/etc/apt/sources.list, as debootstrap and older installs write them). Node 20 is not in
# Debian 12, so the host's node binary and npm are copied in. How and why:
# docs/fresh-debian-check.md.
#
# Usage (as root):  bash scripts/check-fresh-debian.sh [CASE...]
#   CASE is FORMAT:ORDER or FORMAT. FORMAT: deb822, classic, or unreachable (a mirror that refuses
#   connections: the set-up must fail at once, naming the step, apt-get update, and what to do).
#   ORDER: demo-then-all (`npm run demo`, then the full set-up in the same root) or all-then-demo
#   (the reverse); without one, a case runs WEBVIT_CHECK_COMMAND alone (`npm run demo`).
#   Default: deb822:demo-then-all classic:demo-then-all deb822:all-then-demo classic:all-then-demo
#   (one root each, one after the other; about 10 minutes each on a 2-core machine).
# Needs: debootstrap (apt-get install debootstrap), network to the Debian mirror apt uses and to
# the npm registry, and about 3 GB free per root under WEBVIT_CHECK_DIR.
# Environment:
#   WEBVIT_CHECK_DIR   where the roots and logs go (default /var/tmp/webvit-fresh-debian);
#                      never inside the repository
#   WEBVIT_CHECK_REPO  the git repository to clone into the roots (default: this checkout; its
#                      committed HEAD is what is checked, not uncommitted edits)
#   WEBVIT_CHECK_COMMAND  what a case without ORDER runs in the root's checkout (default
#                      `npm run demo`)
#   WEBVIT_CHECK_ALL_COMMAND  the "all" step of an ORDER (default `bash scripts/setup.sh`, the
#                      set-up that `npm run test:all` runs before `npm test`; `npm run test:all`
#                      runs the whole test suite too, several minutes more per root)
#   KEEP=1             keep the roots afterwards (default: deleted; the logs are kept)
#   WEBVIT_CHECK_MIRROR the Debian mirror for debootstrap (default: the one this machine's apt uses)
#   WEBVIT_CHECK_CA    a CA bundle npm in the roots must trust (default: this machine's npm `cafile`
#                      or NODE_EXTRA_CA_CERTS, if set): for machines that reach the npm registry
#                      through a TLS-inspecting proxy. A machine with direct access needs none.
# Prints, per case and step, the exit code and the wall time of each command and, for
# `npm run demo`, of its first classify (from the "demo: webvit classify" line to the end), and
# writes a timestamped log per step (CASE-N-demo.log, CASE-N-all.log; ":" written as "-").
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=${WEBVIT_CHECK_REPO:-$here}
dir=${WEBVIT_CHECK_DIR:-/var/tmp/webvit-fresh-debian}
cases=("$@")
command=${WEBVIT_CHECK_COMMAND:-npm run demo}
all_command=${WEBVIT_CHECK_ALL_COMMAND:-bash scripts/setup.sh}
[ ${#cases[@]} -gt 0 ] || cases=(deb822:demo-then-all classic:demo-then-all deb822:all-then-demo classic:all-then-demo)

fail() { echo "check-fresh-debian: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, mount): run it with sudo"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install -y debootstrap"
case "$dir/" in "$here"/*) fail "WEBVIT_CHECK_DIR=$dir is inside the repository; choose a folder outside it (e.g. /var/tmp/...)" ;; esac
node=$(command -v node) || fail "node is missing on this machine (its binary is copied into the roots)"
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
[ -f "$npm_dir/package.json" ] || fail "cannot find npm's folder (looked at $npm_dir)"
for c in "${cases[@]}"; do
  case "$c" in
    deb822 | classic | unreachable | deb822:demo-then-all | deb822:all-then-demo | classic:demo-then-all | classic:all-then-demo) ;;
    *) fail "unknown case \"$c\"; choose FORMAT (deb822, classic, unreachable) or FORMAT:ORDER (FORMAT deb822 or classic; ORDER demo-then-all or all-then-demo)" ;;
  esac
done

# The Debian mirror this machine's apt uses, from either sources format.
mirror_from() {
  local m=""
  if [ -f "$1/etc/apt/sources.list.d/debian.sources" ]; then
    m=$(sed -n 's/^URIs: *//p' "$1/etc/apt/sources.list.d/debian.sources" | awk '{print $1}' | grep -v -- -security | head -n1 || true)
  fi
  if [ -z "$m" ] && [ -f "$1/etc/apt/sources.list" ]; then
    m=$(awk '$1=="deb" { i=2; if ($i ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ } if ($i !~ /-security/) { print $i; exit } }' "$1/etc/apt/sources.list")
  fi
  [ -n "$m" ] || fail "no Debian mirror found in $1/etc/apt/sources.list or sources.list.d/debian.sources; set WEBVIT_CHECK_MIRROR to the mirror to use"
  echo "$m"
}
mirror=${WEBVIT_CHECK_MIRROR:-$(mirror_from /)}
# The security archive, as an installed Debian 12 has it (the installer and cloud images add
# bookworm-security; Chromium's updates come only from there: without it a root gets an older
# Chromium than every maintained machine). From this machine's sources; none: left out, said so.
security_from() {
  local m=""
  if [ -f "$1/etc/apt/sources.list.d/debian.sources" ]; then
    m=$(sed -n 's/^URIs: *//p' "$1/etc/apt/sources.list.d/debian.sources" | awk '{print $1}' | grep -- -security | head -n1 || true)
  fi
  if [ -z "$m" ] && [ -f "$1/etc/apt/sources.list" ]; then
    m=$(awk '$1=="deb" { i=2; if ($i ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ } if ($(i+1) ~ /-security/) { print $i; exit } }' "$1/etc/apt/sources.list")
  fi
  echo "$m"
}
security=${WEBVIT_CHECK_SECURITY_MIRROR-$(security_from /)}
ca=${WEBVIT_CHECK_CA:-}
if [ -z "$ca" ]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  { [ "$ca" != null ] && [ -f "$ca" ]; } || ca=${NODE_EXTRA_CA_CERTS:-}
fi
[ -z "$ca" ] || [ -f "$ca" ] || fail "WEBVIT_CHECK_CA=$ca is not a file"
echo "check-fresh-debian: mirror ${mirror}; security archive ${security:-none, not in the sources of this machine}${ca:+; npm trusts the CA bundle $ca}; repository $repo at $(git -C "$repo" rev-parse --short HEAD); roots under $dir"
mkdir -p "$dir"

# Everything mounted under a root, deepest first; refuses to delete a root that still has mounts
# (a bind-mounted /dev must never be deleted through it).
unmount_root() {
  local root=$1 m
  for m in $(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
remove_root() {
  local root=$1
  unmount_root "$root"
  if awk -v r="$root/" 'index($2, r) == 1 {found=1} END {exit !found}' /proc/mounts; then
    echo "check-fresh-debian: $root still has mounts; not deleting it" >&2
    return 1
  fi
  rm -rf --one-file-system "$root"
}
current_root=""
cleanup() {
  [ -n "$current_root" ] || return 0
  if [ "${KEEP:-}" = 1 ]; then unmount_root "$current_root"; else remove_root "$current_root"; fi
}
trap cleanup EXIT

# Prefixes each line with the seconds since $1 (date +%s%N at the start).
stamp() {
  local t0=$1 line now
  while IFS= read -r line; do
    now=$(date +%s%N)
    printf '[%6d.%01ds] %s\n' $(((now - t0) / 1000000000)) $((((now - t0) / 100000000) % 10)) "$line"
  done
}

# Runs $2 in the root's checkout, its output stamped into the log $1; sets step_rc, step_time
# (seconds) and step_classify (the demo's first classify, from its "demo: webvit classify" line to
# the end of the command; "" when the command has none).
run_step() {
  local log=$1 cmd=$2 t0 t1 start
  t0=$(date +%s%N)
  set +e
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb "${ca_env[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/webvit && $cmd" 2>&1 | stamp "$t0" | tee "$log"
  step_rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s%N)
  step_time=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  start=$(sed -n 's/^\[ *\([0-9.]*\)s\] demo: webvit classify.*/\1/p' "$log" | head -n1)
  step_classify=""
  [ -z "$start" ] || step_classify=$(awk -v s="$start" -v t="$step_time" 'BEGIN { printf "%.1f s", t - s }')
}

summary=()
for case_ in "${cases[@]}"; do
  fmt=${case_%%:*}
  order=""
  [ "$fmt" = "$case_" ] || order=${case_#*:}
  case "$order" in
    demo-then-all) steps=("npm run demo" "$all_command"); names=(demo all) ;;
    all-then-demo) steps=("$all_command" "npm run demo"); names=(all demo) ;;
    *) steps=("$command"); names=(demo) ;;
  esac
  tag=${case_//:/-}
  root="$dir/deb12-$tag"
  [ -e "$root" ] && { remove_root "$root" || fail "cannot clear the old root $root"; }
  current_root=$root

  echo "check-fresh-debian: [$case_] debootstrap --variant=minbase bookworm $root"
  t=$(date +%s)
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dir/debootstrap-$tag.log" 2>&1 ||
    fail "debootstrap failed; see $dir/debootstrap-$tag.log"
  echo "check-fresh-debian: [$case_] root made in $(($(date +%s) - t)) s"

  # apt sources: bookworm and bookworm-updates on the mirror, and bookworm-security, in one of
  # the two formats.
  rm -f "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/"*
  if [ "$fmt" = deb822 ]; then
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" >>"$root/etc/apt/sources.list.d/debian.sources"
  elif [ "$fmt" = classic ]; then
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" >"$root/etc/apt/sources.list"
    [ -z "$security" ] || printf 'deb %s bookworm-security main\n' "$security" >>"$root/etc/apt/sources.list"
  else
    # Port 9 (discard) on the loopback: connection refused, at once.
    printf 'deb http://127.0.0.1:9/debian bookworm main\n' >"$root/etc/apt/sources.list"
  fi

  # Node 20 and npm from this machine; name resolution for apt and npm.
  install -m 755 "$node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  ca_env=()
  if [ -n "$ca" ]; then
    cp -L "$ca" "$root/etc/webvit-check-ca.pem"
    ca_env=(NODE_EXTRA_CA_CERTS=/etc/webvit-check-ca.pem)
  fi

  # The repository, as a fresh clone (committed HEAD).
  git clone --quiet "$repo" "$root/root/webvit"

  mount --bind /proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"

  results=()
  ok=1
  for i in "${!steps[@]}"; do
    log="$dir/$tag-$((i + 1))-${names[$i]}.log"
    echo "check-fresh-debian: [$case_] step $((i + 1)): ${steps[$i]} (log: $log)"
    run_step "$log" "${steps[$i]}"
    [ "$step_rc" = 0 ] || ok=0
    results+=("${steps[$i]}: exit $step_rc in $step_time s${step_classify:+ (first classify $step_classify)}")
    echo "check-fresh-debian: [$case_] ${results[-1]}"
  done
  # Is `webvit` on the PATH as the README writes it?
  on_path=$(chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'cd /root && webvit --version' 2>&1 | tail -n1 || true)
  if [ "$fmt" = unreachable ]; then
    # Expected: a failure that names the step and says to check the network and apt sources.
    said=$(grep -o 'setup-system: .* failed (exit [0-9]*)\.' "$log" | head -n1 || true)
    if [ "$step_rc" != 0 ] && grep -q 'check the network and the apt sources' "$log"; then
      summary+=("ok [$case_] $command failed as it should: exit $step_rc in $step_time s with \"${said#*] }\" and a hint")
    else
      summary+=("FAILED [$case_] $command: exit $step_rc in $step_time s, without the expected message naming the network and apt sources")
    fi
  else
    joined=$(printf '%s; ' "${results[@]}")
    summary+=("$([ "$ok" = 1 ] && echo ok || echo FAILED) [$case_] ${joined}\`webvit --version\` from \$HOME: $on_path")
  fi
  echo "check-fresh-debian: ${summary[-1]}"

  if [ "${KEEP:-}" = 1 ]; then unmount_root "$root"; else remove_root "$root"; fi
  current_root=""
done

echo
printf 'check-fresh-debian: %s\n' "${summary[@]}"
status=0
for s in "${summary[@]}"; do case "$s" in ok\ *) ;; *) status=1 ;; esac; done
exit $status
