#!/usr/bin/env bash
# Checks the first of the README's two commands, `npm run demo`, on a fresh Debian 12 (bookworm)
# root made with debootstrap: once with apt sources in deb822 form
# (/etc/apt/sources.list.d/debian.sources, as the Debian 12 installer and cloud images write them)
# and once in the classic one-line form (/etc/apt/sources.list, as debootstrap and older installs
# write them). Node 20 is not in Debian 12, so the host's node binary and npm are copied in.
# How and why: docs/fresh-debian-check.md.
#
# Usage (as root):  bash scripts/check-fresh-debian.sh [deb822] [classic] [unreachable]
#   (default: deb822 classic). `unreachable` points apt at a mirror that refuses connections and
#   checks that the set-up fails at once, naming the step (apt-get update) and what to do.
# Needs: debootstrap (apt-get install debootstrap), network to the Debian mirror apt uses and to
# the npm registry, and about 3 GB free per root under WEBVIT_CHECK_DIR.
# Environment:
#   WEBVIT_CHECK_DIR   where the roots and logs go (default /var/tmp/webvit-fresh-debian);
#                      never inside the repository
#   WEBVIT_CHECK_REPO  the git repository to clone into the roots (default: this checkout; its
#                      committed HEAD is what is checked, not uncommitted edits)
#   WEBVIT_CHECK_COMMAND  what runs in the root's checkout (default `npm run demo`; e.g.
#                      `bash scripts/setup.sh` for the full set-up that `npm run test:all` runs first)
#   KEEP=1             keep the roots afterwards (default: deleted; the logs are kept)
#   WEBVIT_CHECK_MIRROR the Debian mirror for debootstrap (default: the one this machine's apt uses)
#   WEBVIT_CHECK_CA    a CA bundle npm in the roots must trust (default: this machine's npm `cafile`
#                      or NODE_EXTRA_CA_CERTS, if set): for machines that reach the npm registry
#                      through a TLS-inspecting proxy. A machine with direct access needs none.
# Prints, per format, the exit code and the wall time of `npm run demo` and of its first
# classify (from the "demo: webvit classify" line to the end), and writes a timestamped log.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=${WEBVIT_CHECK_REPO:-$here}
dir=${WEBVIT_CHECK_DIR:-/var/tmp/webvit-fresh-debian}
formats=("$@")
command=${WEBVIT_CHECK_COMMAND:-npm run demo}
[ ${#formats[@]} -gt 0 ] || formats=(deb822 classic)

fail() { echo "check-fresh-debian: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, mount): run it with sudo"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install -y debootstrap"
case "$dir/" in "$here"/*) fail "WEBVIT_CHECK_DIR=$dir is inside the repository; choose a folder outside it (e.g. /var/tmp/...)" ;; esac
node=$(command -v node) || fail "node is missing on this machine (its binary is copied into the roots)"
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
[ -f "$npm_dir/package.json" ] || fail "cannot find npm's folder (looked at $npm_dir)"

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

summary=()
for fmt in "${formats[@]}"; do
  case "$fmt" in deb822 | classic | unreachable) ;; *) fail "unknown sources format \"$fmt\"; choose deb822, classic or unreachable" ;; esac
  root="$dir/deb12-$fmt"
  log="$dir/demo-$fmt.log"
  [ -e "$root" ] && { remove_root "$root" || fail "cannot clear the old root $root"; }
  current_root=$root

  echo "check-fresh-debian: [$fmt] debootstrap --variant=minbase bookworm $root"
  t=$(date +%s)
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dir/debootstrap-$fmt.log" 2>&1 ||
    fail "debootstrap failed; see $dir/debootstrap-$fmt.log"
  echo "check-fresh-debian: [$fmt] root made in $(($(date +%s) - t)) s"

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

  echo "check-fresh-debian: [$fmt] $command (log: $log)"
  t0=$(date +%s%N)
  set +e
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb "${ca_env[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/webvit && $command" 2>&1 | stamp "$t0" | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s%N)
  total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  # The first classify: from the demo's "demo: webvit classify" line to the end of the run.
  start=$(sed -n 's/^\[ *\([0-9.]*\)s\] demo: webvit classify.*/\1/p' "$log" | head -n1)
  classify=$([ -n "$start" ] && awk -v s="$start" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", (b - a) / 1e9 - s }' || echo "not reached")
  # Is `webvit` on the PATH as the README writes it?
  on_path=$(chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'cd /root && webvit --version' 2>&1 | tail -n1 || true)
  if [ "$fmt" = unreachable ]; then
    # Expected: a failure that names the step and says to check the network and apt sources.
    said=$(grep -o 'setup-system: .* failed (exit [0-9]*)\.' "$log" | head -n1 || true)
    if [ "$rc" != 0 ] && grep -q 'check the network and the apt sources' "$log"; then
      summary+=("[$fmt] $command failed as it should: exit $rc in $total s with \"${said#*] }\" and a hint")
    else
      summary+=("[$fmt] $command: exit $rc in $total s, without the expected message naming the network and apt sources: FAILED CHECK")
    fi
  else
    summary+=("[$fmt] $command: exit $rc in $total s; first classify $classify; \`webvit --version\` from \$HOME: $on_path")
  fi
  echo "check-fresh-debian: ${summary[-1]}"

  if [ "${KEEP:-}" = 1 ]; then unmount_root "$root"; else remove_root "$root"; fi
  current_root=""
done

echo
printf 'check-fresh-debian: %s\n' "${summary[@]}"
status=0
for s in "${summary[@]}"; do case "$s" in *"exit 0 "* | *"failed as it should"*) ;; *) status=1 ;; esac; done
exit $status
