# Sourced by the set-up scripts: every failure names the step that failed and what to do.
#   step NAME HINT   says what runs next and, should it fail, what to do about it.
# Set `who` (the script's name in messages) before sourcing.
step="start"
hint=""
on_error() {
  local rc=$?
  echo "$who: $step failed (exit $rc)." >&2
  [ -z "$hint" ] || echo "$who: $hint" >&2
  echo "$who: then rerun \`bash scripts/setup.sh\` (or \`npm run demo\`)." >&2
  exit "$rc"
}
trap on_error ERR
step() {
  step=$1
  hint=$2
}
