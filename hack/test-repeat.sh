#!/usr/bin/env bash
# Runs the steps of `make test` that talk to real services N times in a row, to find flaky tests.
#
#   hack/test-repeat.sh N           the fault and integration step N times, in this checkout
#   FRESH=1 hack/test-repeat.sh N   `make test` (every step) N times, each in a fresh clone of HEAD
#
# Each step of each round runs with its own pytest --basetemp under $REPEAT_DIR (default .mlops/test-repeat),
# where the services keep their logs. A failing step keeps its directory and prints its failures and the
# tail of every log under it; a passing step's directory is removed. Ends with one line per step and round.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?usage: hack/test-repeat.sh N}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer, got '$rounds'" >&2; exit 2; }
top=$(pwd)
repeat_dir=${REPEAT_DIR:-$top/.mlops/test-repeat}
rm -rf "$repeat_dir" && mkdir -p "$repeat_dir"
summary=()
failed=0

report_failure() {  # $1: the step's output, $2: its basetemp
  echo "---- failures:"
  grep -E '^(FAILED|ERROR) ' "$1" || tail -n 40 "$1"
  find "$2" -name '*.log' -type f 2>/dev/null | sort | while read -r log; do
    echo "---- ${log#"$2"/} (last 40 lines)"
    tail -n 40 "$log"
  done
}

run_step() {  # $1: name, $2: basetemp, rest: the command
  local name=$1 basetemp=$2 out=$2.out started status
  shift 2
  started=$(date +%s)
  mkdir -p "$basetemp"
  "$@" > "$out" 2>&1
  status=$?
  local line
  # pytest's closing lines (make test runs two): e.g. "752 passed in 85.29s; 131 passed in 2735.81s"
  local result
  result=$(grep -aE '^=+ .*(passed|failed|error).* in [0-9.]+s' "$out" | sed 's/^[= ]*//; s/[= ]*$//' | paste -sd '|' - | sed 's/|/; /g')
  line="round $round $name: ${result:-no pytest summary} ($(( $(date +%s) - started )) s)"
  if [ $status -ne 0 ]; then
    failed=1
    echo "FAILED $line; output and logs kept in $basetemp"
    report_failure "$out" "$basetemp"
  else
    echo "passed $line"
    rm -rf "$basetemp"
  fi
  summary+=("$([ $status -eq 0 ] && echo passed || echo FAILED) $line")
}

for round in $(seq 1 "$rounds"); do
  if [ "${FRESH:-0}" = 1 ]; then
    clone="$repeat_dir/clone-$round"
    git clone --quiet "$top" "$clone"
    # make test's two pytest runs share one basetemp; make stops at the first failing one, whose files stay.
    run_step "make test (fresh clone $(git -C "$clone" rev-parse --short HEAD))" "$repeat_dir/round-$round" \
      env -u PREFECT_HOME -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        PYTEST_ADDOPTS="--basetemp=$repeat_dir/round-$round/tmp" make -C "$clone" test
    rm -rf "$clone"
  else
    # make test's own step for both layers (make test-services), with this round's basetemp
    run_step "faults+integration" "$repeat_dir/round-$round" \
      env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        PYTEST_ADDOPTS="--basetemp=$repeat_dir/round-$round/tmp" make -C "$top" --no-print-directory test-services
  fi
done

echo
printf '%s\n' "${summary[@]}"
exit $failed
