#!/usr/bin/env bash
# Self-test of nalm's sweep sharding on a real SLURM cluster: a one-node cluster on this
# machine, started in a temporary directory and always torn down at exit.
#
#   bash tasks/slurm/self-test.sh                      # as root (installs SLURM if missing)
#   NALM=/path/to/nalm bash tasks/slurm/self-test.sh   # test that binary
#   KEEP=1 ...                                         # keep the temporary directory
#
# It submits tasks/slurm/sweep.sbatch, the script the README shows, as a job array and checks:
#   mapping   each array task, from 1 or from 0, runs the slice `--shard K/N` would run
#   sharded   the shards' records, together, are byte for byte the records of the same sweep
#             run without SLURM: no run missing, none twice
#   lone-task a lone --array=K is a one-task array: it plans the whole sweep, not slice K
#   cancel    one array task cancelled mid-way (plus a torn last line) and resubmitted alone
#             finishes its slice, the result again equals the plain sweep's, and a full
#             resubmission adds nothing
#   report    `nalm report` accepts the sharded directories
set -Eeuo pipefail
# Say which command stopped the test, before the summary.
trap 'log "error: line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
job_script=$here/sweep.sbatch

# The sweep under test: 72 runs. The iteration count is high enough that one slice takes a
# few seconds on one CPU, so the cancel check can catch a task in the middle of its slice.
experiment=in2
sweep_args=(--seeds 0-1 --set "max-iterations=${ITERATIONS:-200000}")
shards=3

started=$EPOCHREALTIME
tmp=""
node_name=""
pids=()       # daemons we started, stopped in reverse order at exit
checks=()     # "PASS|FAIL  name  detail  seconds"
failed=0

log() { printf '[%6.1fs] %s\n' "$(elapsed "$started")" "$*"; }
elapsed() { awk -v now="$EPOCHREALTIME" -v start="$1" 'BEGIN { printf "%.1f", now - start }'; }

# check NAME START DETAIL COMMAND...: runs COMMAND and records PASS or FAIL with the time
# since START.
check() {
    local name=$1 start=$2 detail=$3
    shift 3
    local status=PASS
    if ! "$@"; then
        status=FAIL
        failed=1
    fi
    checks+=("$(printf '%s  %-18s %7.1fs  %s' "$status" "$name" "$(elapsed "$start")" "$detail")")
    log "$status $name: $detail"
}

die() {
    log "error: $*"
    failed=1
    exit 1
}

# ---------------------------------------------------------------------------------------
# Setup

# SLURM from Debian's packages (22.05 on bookworm). munge is its authentication; jq reads
# the records. Without a policy-rc.d the packages would start system-wide daemons.
install_slurm() {
    local missing=0 tool
    for tool in slurmctld slurmd sbatch munged jq; do
        command -v "$tool" >/dev/null || missing=1
    done
    ((missing)) || return 0
    [[ $(id -u) == 0 ]] || die "SLURM is not installed and we are not root to install it"
    log "installing SLURM and munge from Debian's packages"
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    local status=0
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge jq >/dev/null || status=$?
    if ((own_policy)); then rm -f "$policy"; fi
    ((status == 0)) || die "apt-get failed ($status)"
}

# The nalm binary: $NALM, else the workspace's release build (built if absent).
find_nalm() {
    NALM=${NALM:-$repo/target/release/nalm}
    if [[ ! -x $NALM ]]; then
        log "building $NALM"
        (cd "$repo" && cargo build --release -p tasks)
    fi
    NALM=$(realpath "$NALM")
    export NALM # sbatch passes the environment on, and sweep.sbatch honours $NALM
}

# A TCP port on localhost that nothing listens on, from $1 upwards.
free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

# munged, slurmctld and slurmd in the foreground of background jobs, so that their ids are
# known and they can be stopped exactly; every path of theirs lies in $tmp.
start_cluster() {
    tmp=$(mktemp -d -t nalm-slurm.XXXXXX)
    mkdir -p "$tmp"/{munge,state,spool,log,out}
    chmod 700 "$tmp/munge"

    dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$tmp/munge/munge.key"
    munged --foreground --force --socket="$tmp/munge/socket" \
        --key-file="$tmp/munge/munge.key" --pid-file="$tmp/munge/pid" \
        --seed-file="$tmp/munge/seed" --log-file="$tmp/log/munged.log" \
        >"$tmp/log/munged.stderr" 2>&1 &
    pids+=($!)
    wait_for 10 "munged's socket" test -S "$tmp/munge/socket"

    local ctld_port slurmd_port
    ctld_port=$(free_port 16817)
    slurmd_port=$(free_port $((ctld_port + 1)))
    # The node as slurmd sees the hardware ("NodeName=host CPUs=... RealMemory=...").
    local node
    node=$(slurmd -C | head -n 1)
    node_name=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")
    cat >"$tmp/slurm.conf" <<EOF
ClusterName=nalm-self-test
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
# No cgroups: plain process tracking works in containers and small VMs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
# Several one-CPU array tasks side by side on the node; first come, first served.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
# Keep finished jobs visible to scontrol for the whole test; a cancelled task dies fast.
MinJobAge=3600
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$tmp/slurm.conf

    # In the foreground they also log to stderr: keep that out of the test's output.
    slurmctld -D >"$tmp/log/slurmctld.stderr" 2>&1 &
    pids+=($!)
    slurmd -D >"$tmp/log/slurmd.stderr" 2>&1 &
    pids+=($!)
    wait_for 60 "the node to be idle" node_idle
    log "cluster up: $node (slurmctld on port $ctld_port)"
}

node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]]; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out waiting for $what"
        sleep 0.2
    done
}

# At exit, even after a failure: cancel the jobs still queued or running (so no job's
# processes outlive slurmd), stop the daemons, show the logs on failure, remove $tmp.
cleanup() {
    local status=$?
    ((status == 0)) || failed=1
    set +e
    trap - ERR
    if [[ -n ${SLURM_CONF:-} ]] && ((${#pids[@]} > 1)); then
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
        if [[ -n $jobs ]]; then
            # shellcheck disable=SC2086
            scancel $jobs
            local deadline=$((SECONDS + 30))
            while [[ -n $(squeue -h 2>/dev/null) ]] && ((SECONDS < deadline)); do sleep 0.5; done
        fi
        # A job's slurmstepd outlives it briefly; its socket in the spool (NODE_JOB.STEP)
        # marks it.
        local deadline=$((SECONDS + 10))
        while compgen -G "$tmp/spool/${node_name}_[0-9]*" >/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
    fi
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    if ((failed)) && [[ -n $tmp ]]; then
        # The daemons' logs (their stderr only where the log is empty: a failed start) and
        # the array tasks' logs.
        local file
        for file in "$tmp"/log/{munged,slurmctld,slurmd}.log "$tmp"/log/nalm-*.log; do
            [[ -s $file ]] || file=${file%.log}.stderr
            [[ -s $file ]] || continue
            echo "--- last lines of $file"
            tail -n 15 "$file"
        done
    fi
    summary
    if [[ -n $tmp ]]; then
        if [[ ${KEEP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
    fi
    ((failed == 0)) || exit 1
}
trap cleanup EXIT

summary() {
    echo
    echo "== nalm SLURM self-test: $experiment ${sweep_args[*]}, $shards shards"
    local line
    for line in "${checks[@]}"; do echo "$line"; done
    if ((failed)); then
        printf 'FAIL  (%.0f s in all)\n' "$(elapsed "$started")"
    else
        printf 'PASS  all %d checks (%.0f s in all)\n' "${#checks[@]}" "$(elapsed "$started")"
    fi
}

# ---------------------------------------------------------------------------------------
# Jobs and records

# submit OUT SBATCH-OPTION... -- SWEEP-OPTION...: submits sweep.sbatch for the sweep under
# test into OUT, one CPU per task (so tasks run side by side on a small machine); prints
# the job id. The options override the script's #SBATCH headers.
submit() {
    local out=$1 sbatch_opts=() extra=()
    shift
    while (($#)) && [[ $1 != -- ]]; do sbatch_opts+=("$1"); shift; done
    (($#)) && shift
    extra=("$@")
    sbatch --parsable --cpus-per-task=1 --time=00:10:00 --chdir="$tmp" \
        --output="$tmp/log/nalm-%A-%a.log" "${sbatch_opts[@]}" \
        "$job_script" "$experiment" "$out" "${sweep_args[@]}" "${extra[@]}"
}

job_done() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }

# Waits for a job (every task of an array) to end. Rather than sbatch --wait, whose polling
# backs off to tens of seconds.
wait_job() { wait_for "${2:-300}" "job $1" job_done "$1"; }

# The states of a job's array tasks, "ID=STATE:EXIT" sorted by task id, e.g.
# "1=COMPLETED:0 2=CANCELLED:0".
task_states() {
    scontrol -o show job "$1" | sed -E 's/.*ArrayTaskId=([0-9]+).*JobState=([A-Z_]+).*ExitCode=([0-9]+):.*/\1=\2:\3/' |
        sort -n | paste -sd ' '
}

# "1=COMPLETED:0 2=COMPLETED:0 ..." for every task of a finished array of all shards.
all_completed() { seq -f '%g=COMPLETED:0' 1 "$shards" | paste -sd ' '; }

# nalm without a job array's variables, as on a workstation.
plain_nalm() { env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_MIN "$NALM" "$@"; }

# The runs the sweep plans: all of them, or shard K/N's.
planned() { plain_nalm sweep "$experiment" "${sweep_args[@]}" --dry-run "$@"; }

lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }
has_lines() { (($(lines "$1") >= 1)); }

# The records of a sweep directory, every results file together, sorted bytewise. The
# records hold no timings or host names, so records of the same run are identical bytes.
records() { cat "$1"/runs*.jsonl | LC_ALL=C sort; }

# The keys of a sweep directory's runs, and those stored more than once (none expected).
keys() { records "$1" | jq -c '[.model, .setting, .seed]'; }
duplicate_keys() { keys "$1" | LC_ALL=C sort | uniq -d; }

# same_records DIR: DIR holds exactly the plain sweep's records, each run once, the planned
# number of them.
same_records() {
    local dir=$1 count dups
    count=$(records "$dir" | wc -l)
    dups=$(duplicate_keys "$dir")
    [[ -z $dups ]] || { echo "runs stored twice in $dir: $dups"; return 1; }
    ((count == planned_count)) || { echo "$dir holds $count runs, $planned_count planned"; return 1; }
    cmp -s <(records "$dir") <(records "$out_plain") || {
        echo "$dir: records differ from the plain sweep's; runs only in one of them:"
        diff <(keys "$dir") <(keys "$out_plain") | head
        return 1
    }
}

# Each shard file holds the runs `--shard K/N --dry-run` plans, and there is no other file.
shard_files_as_planned() {
    local dir=$1 k want got
    for ((k = 1; k <= shards; k++)); do
        want=$(planned --shard "$k/$shards" | wc -l)
        got=$(lines "$dir/runs-$k-of-$shards.jsonl")
        ((got == want)) || { echo "runs-$k-of-$shards.jsonl: $got runs, $want planned"; return 1; }
    done
    [[ ! -e $dir/runs.jsonl ]] || { echo "$dir/runs.jsonl exists: a task ran the whole sweep"; return 1; }
}

report_ok() {
    "$NALM" report "$1" >"$tmp/log/report-$(basename "$1").txt" 2>&1 && [[ -s $1/report/report.md ]]
}

# nalm report accepts a directory with a torn last line, saying it drops it. The report goes
# elsewhere: the directory's own is made once it is complete.
report_warns_torn() {
    "$NALM" report "$1" --out "$tmp/out/partial-report" >"$tmp/log/report-partial.txt" 2>&1 &&
        grep -q 'dropping a torn last line' "$tmp/log/report-partial.txt"
}

equals() { [[ $1 == "$2" ]] || { echo "got '$1', expected '$2'"; return 1; }; }

# ---------------------------------------------------------------------------------------
# The checks

# Each array task's slice, from SLURM's variables, is the slice --shard K/N names, for an
# array numbered from 1 and one numbered from 0. Dry runs: nothing trains.
check_mapping() {
    local t0=$EPOCHREALTIME first job k ok=0
    local -A jobs
    for first in 0 1; do
        jobs[$first]=$(submit "$tmp/out/mapping" --array="$first-$((first + shards - 1))" \
            --output="$tmp/log/mapping-$first-%a.log" -- --dry-run)
    done
    for first in 0 1; do
        wait_job "${jobs[$first]}"
        for ((k = 1; k <= shards; k++)); do
            cmp -s "$tmp/log/mapping-$first-$((first + k - 1)).log" <(planned --shard "$k/$shards") ||
                { echo "array from $first: task $((first + k - 1)) did not plan shard $k/$shards"; ok=1; }
        done
    done
    check mapping "$t0" "arrays 0-$((shards - 1)) and 1-$shards: task K plans --shard K/$shards" test "$ok" == 0

    # A lone --array=2 is an array of one task (SLURM_ARRAY_TASK_COUNT=1): shard 1/1, the
    # whole sweep. That is why a single task is resubmitted with --shard K/N.
    t0=$EPOCHREALTIME
    job=$(submit "$tmp/out/mapping" --array=2 --output="$tmp/log/mapping-lone-%a.log" -- --dry-run)
    wait_job "$job"
    local lone
    lone=$(wc -l <"$tmp/log/mapping-lone-2.log")
    check lone-task "$t0" "a lone --array=2 plans $lone runs: the whole sweep (1/1), not a slice" \
        test "$lone" == "$planned_count"
}

# The whole array; then the same sweep without SLURM.
check_sharded() {
    local t0=$EPOCHREALTIME job
    job=$(submit "$out_sharded" --array=1-$shards)
    wait_job "$job"
    check sharded-jobs "$t0" "sbatch --array=1-$shards: $(task_states "$job")" \
        equals "$(task_states "$job")" "$(all_completed)"
    check shard-files "$t0" "runs-K-of-$shards.jsonl hold their planned slices" \
        shard_files_as_planned "$out_sharded"

    t0=$EPOCHREALTIME
    plain_nalm sweep "$experiment" --out "$out_plain" "${sweep_args[@]}" --quiet
    check plain-sweep "$t0" "the same sweep without SLURM: $(lines "$out_plain/runs.jsonl") runs" \
        test "$(lines "$out_plain/runs.jsonl")" == "$planned_count"

    t0=$EPOCHREALTIME
    check sharded=plain "$t0" "$planned_count records, byte-identical, none twice" same_records "$out_sharded"
    check report-sharded "$t0" "nalm report on the sharded directory" report_ok "$out_sharded"
}

# Cancel array task 2 once it has stored a run, let the others finish, then resubmit task 2
# alone with its slice pinned (--shard 2/N): the way to redo one failed task.
check_cancel() {
    local t0=$EPOCHREALTIME job shard_file=$out_cancel/runs-2-of-$shards.jsonl want2 at_cancel
    want2=$(planned --shard "2/$shards" | wc -l)
    job=$(submit "$out_cancel" --array=1-$shards)
    wait_for 120 "task 2 to store a run" has_lines "$shard_file"
    scancel "${job}_2"
    wait_job "$job"
    at_cancel=$(lines "$shard_file")
    local torn=no
    [[ ! -s $shard_file || $(tail -c 1 "$shard_file" | od -An -c | tr -d ' ') == '\n' ]] || torn=yes
    check cancel-task-2 "$t0" "$(task_states "$job"); task 2 stored $at_cancel of $want2 runs, torn last line: $torn" \
        equals "$(task_states "$job" | sed -E 's/2=CANCELLED:[0-9]+/2=CANCELLED/')" \
        "$(all_completed | sed 's/2=COMPLETED:0/2=CANCELLED/')"
    check cancel-mid-slice "$t0" "task 2 was cancelled in the middle of its slice" \
        test "$at_cancel" -ge 1 -a "$at_cancel" -lt "$want2"

    # A task killed in the middle of writing a record leaves a torn last line. scancel's
    # SIGTERM practically never lands inside the one write of a line, so make one: half a
    # record. `nalm report` must drop it with a warning, the resubmitted task must cut it off.
    t0=$EPOCHREALTIME
    local first
    first=$(head -n 1 "$shard_file")
    printf '%s' "${first:0:1000}" >>"$shard_file"
    check report-partial "$t0" "nalm report on the cancelled directory with a torn line: warns, exit 0" \
        report_warns_torn "$out_cancel"

    t0=$EPOCHREALTIME
    job=$(submit "$out_cancel" --array=2 -- --shard "2/$shards")
    wait_job "$job"
    check resubmit-task-2 "$t0" "sbatch --array=2 ... --shard 2/$shards: $(task_states "$job"), ran the $(($(lines "$shard_file") - at_cancel)) missing runs" \
        equals "$(task_states "$job")" "2=COMPLETED:0"
    check cancel-shard-files "$t0" "runs-K-of-$shards.jsonl hold their planned slices" \
        shard_files_as_planned "$out_cancel"
    check cancel=plain "$t0" "$planned_count records, byte-identical, none twice" same_records "$out_cancel"
    check report-cancel "$t0" "nalm report on the resumed directory" report_ok "$out_cancel"

    # Resubmitting the whole array once everything is done must add nothing.
    t0=$EPOCHREALTIME
    local before after
    before=$(records "$out_cancel" | md5sum)
    job=$(submit "$out_cancel" --array=1-$shards)
    wait_job "$job"
    after=$(records "$out_cancel" | md5sum)
    check resubmit-all "$t0" "sbatch --array=1-$shards again: $(task_states "$job"), records unchanged" \
        equals "$(task_states "$job") $after" "$(all_completed) $before"
}

# ---------------------------------------------------------------------------------------

install_slurm
find_nalm
log "nalm: $NALM ($("$NALM" --version))"
planned_count=$(planned | wc -l)
log "sweep: $experiment ${sweep_args[*]}: $planned_count runs planned"
start_cluster
out_sharded=$tmp/out/sharded
out_plain=$tmp/out/plain
out_cancel=$tmp/out/cancel

check_mapping
check_sharded
check_cancel
