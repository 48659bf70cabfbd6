#!/usr/bin/env bash
# Model-checks the patch protocols with spin (exhaustive, no bitstate):
# Model/textpoke.pml (int3) and Model/selfloop.pml (self-loop).
#
#   Model/check.sh                 correct model in two sizes + broken variants
#   MODEL_DEEP=1 Model/check.sh    also N=3 executors x NB=3 batches
#                                  (~23M states, ~1.2 GB, ~20 s more)
#   MODEL_TRAILS=1 Model/check.sh  also print a shortest (BFS) counterexample
#                                  for every broken variant
#   MODEL_KEEP=1 Model/check.sh    keep the work directory (trails, pan logs)
#
# Exit status: 0 all as expected, 1 an unexpected outcome, 2 spin missing.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model=$here/textpoke.pml
cc=${CC:-gcc}

if ! command -v spin >/dev/null 2>&1; then
  echo "spin not installed (Debian/Ubuntu: apt-get install -y spin)" >&2
  exit 2
fi
command -v "$cc" >/dev/null 2>&1 || { echo "model FAILED: no C compiler ($cc) to build pan.c" >&2; exit 1; }
[ -f "$model" ] || { echo "model FAILED: $model not found" >&2; exit 1; }

work=$(mktemp -d /tmp/textpoke-model.XXXXXX) || { echo "model FAILED: mktemp" >&2; exit 1; }
if [ "${MODEL_KEEP:-0}" = 1 ]; then
  trap 'echo "pan runs kept in $work" >&2' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
trap 'exit 1' INT TERM

fail() {
  echo "model FAILED: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/    /' "$2" | tail -40 >&2
  exit 1
}

# build NAME PAN_FLAGS SPIN_FLAGS...: generates and compiles pan in $work/NAME.
build() {
  local name=$1 panflags=$2; shift 2
  local d=$work/$name
  mkdir -p "$d" && cp "$model" "$d/"
  (cd "$d" && spin "$@" -a textpoke.pml >spin.log 2>&1) || fail "$name: spin -a failed" "$d/spin.log"
  # shellcheck disable=SC2086
  (cd "$d" && "$cc" -O2 -w -DSAFETY $panflags -o pan pan.c >cc.log 2>&1) || fail "$name: cc pan.c failed" "$d/cc.log"
}

# run NAME PAN_ARGS...: runs pan, output in $work/NAME/pan.log.
run() {
  local name=$1; shift
  (cd "$work/$name" && ./pan "$@" >pan.log 2>&1)
  return 0  # pan's exit status is not meaningful; the log is parsed instead
}

errors_of() { sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$1" | tail -1; }

# The correct model: no error, complete search, no unexpected dead code.
correct() {
  local n=$1 nb=$2 name="textpoke N=$1 NB=$2" dir=$work/ok-$1-$2
  build "ok-$n-$nb" "-DCOLLAPSE" -DN="$n" -DNB="$nb"
  run "ok-$n-$nb" -m200000 -w24
  local log=$dir/pan.log errs states
  errs=$(errors_of "$log")
  states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$log" | tail -1)
  [ -n "$errs" ] && [ -n "$states" ] || fail "$name: could not parse pan's output" "$log"
  [ "$errs" = 0 ] || fail "$name: $errs error(s), expected 0 (MODEL_KEEP=1, then in the kept dir: spin -t -p -DN=$n -DNB=$nb textpoke.pml)" "$log"
  grep -q "Full statespace search" "$log" || fail "$name: pan did not run a full state-space search" "$log"
  grep -q "max search depth too small" "$log" && fail "$name: search truncated (max search depth too small): raise -m" "$log"
  grep -qi "out of memory" "$log" && fail "$name: pan ran out of memory" "$log"
  grep -q "Search not completed" "$log" && fail "$name: search not completed" "$log"

  # Vacuity: every statement must be reached, except "-end-" of the
  # never-ending executors and the lines marked [unreachable] in the model.
  local allowed bad
  allowed=" $(grep -n '\[unreachable\]' "$model" | cut -d: -f1 | tr '\n' ' ') "
  bad=$(sed -n 's/^[[:space:]]*textpoke\.pml:\([0-9][0-9]*\), state [0-9]*, "\(.*\)"$/\1 \2/p' "$log" |
    while read -r line text; do
      [ "$text" = "-end-" ] && continue
      case "$allowed" in *" $line "*) continue ;; esac
      echo "line $line: $text"
    done)
  [ -z "$bad" ] || fail "$name: statements never reached (model is vacuous there):
$bad" "$log"
  for line in $allowed; do
    grep -q "textpoke\.pml:$line, state" "$log" ||
      fail "$name: line $line is marked [unreachable] but spin reached it" "$log"
  done

  echo "model ok: $name (states=$states, errors=0)"
}

# A broken variant: pan must report an error, from the expected assertion
# ($2: pan's text after "assertion violated ", $3: which property that is).
broken() {
  local variant=$1 expect=$2 what=$3 dir=$work/$1
  build "$variant" "" -D"$variant"
  run "$variant" -m200000 -w22
  local log=$dir/pan.log errs
  errs=$(errors_of "$log")
  [ -n "$errs" ] || fail "$variant: could not parse pan's output" "$log"
  [ "$errs" -gt 0 ] || fail "$variant: not caught (errors=0), the model does not detect this bug" "$log"
  grep -qF "assertion violated $expect" "$log" ||
    fail "$variant: caught, but not by the expected 'assertion violated $expect'" "$log"
  echo "model ok: $variant caught (errors=$errs, $what)"
  if [ "${MODEL_TRAILS:-0}" = 1 ]; then
    build "$variant-bfs" "-DBFS" -D"$variant"
    run "$variant-bfs"
    (cd "$work/$variant-bfs" && spin -D"$variant" -t -p -g textpoke.pml 2>&1) |
      grep -E '^ *[0-9]+:.*proc|Error' | sed 's/^/    /'
  fi
}

# The self-loop protocol (Model/selfloop.pml): no error in the correct
# model, and each broken variant caught by the expected assertion.
selfloop() {
  local variant=$1 expect=$2 n=${3:-2} nb=${4:-3}
  local d=$work/selfloop-${variant:-ok}-$n-$nb
  mkdir -p "$d" && cp "$here/selfloop.pml" "$d/"
  local flags=(-DN="$n" -DNB="$nb")
  [ -n "$variant" ] && flags+=(-D"$variant")
  (cd "$d" && spin "${flags[@]}" -a selfloop.pml >spin.log 2>&1) || fail "selfloop $variant: spin -a failed" "$d/spin.log"
  (cd "$d" && "$cc" -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c >cc.log 2>&1) || fail "selfloop $variant: cc failed" "$d/cc.log"
  (cd "$d" && ./pan -m200000 -w22 >pan.log 2>&1)
  local errs
  errs=$(errors_of "$d/pan.log")
  [ -n "$errs" ] || fail "selfloop $variant: could not parse pan's output" "$d/pan.log"
  if [ -z "$variant" ]; then
    [ "$errs" = 0 ] || fail "selfloop N=$n NB=$nb: $errs error(s), expected 0" "$d/pan.log"
    grep -q "Full statespace search" "$d/pan.log" || fail "selfloop: not a full search" "$d/pan.log"
    grep -q "Search not completed\|max search depth too small" "$d/pan.log" && fail "selfloop: search incomplete" "$d/pan.log"
    echo "model ok: selfloop N=$n NB=$nb (errors=0)"
  else
    [ "$errs" -gt 0 ] || fail "selfloop $variant: not caught" "$d/pan.log"
    grep -qF "assertion violated $expect" "$d/pan.log" || fail "selfloop $variant: caught, but not by '$expect'" "$d/pan.log"
    echo "model ok: selfloop $variant caught (errors=$errs)"
  fi
}

start=$SECONDS
correct 2 3
correct 3 2
selfloop "" "" 2 3
selfloop "" "" 3 2
selfloop BROKEN_NO_LOOP_SYNC "((a==c)&&(c==u))"
selfloop BROKEN_NO_TAIL_SYNC "((a==c)&&(c==u))"
selfloop BROKEN_SPLIT_HEAD "((a==2)==(c==2))"
[ "${MODEL_DEEP:-0}" = 1 ] && correct 3 3
broken BROKEN_NO_WAIT "(stor_gen==rg)" "(2) handler read reused batch storage"
broken BROKEN_NO_SYNC "(h==t)" "(1) torn instruction executed"
broken BROKEN_NO_TAIL_SYNC "(h==t)" "(1) torn instruction executed"
broken BROKEN_NO_SEQ "0 (at depth" "(3) own trap chained as foreign"
echo "model checks passed in $((SECONDS - start)) s"
