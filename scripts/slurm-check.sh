#!/usr/bin/env bash
# Runs `vitlens classify --shard auto` as a Slurm job array on a single-node
# Slurm cluster started here from Debian's packages, merges the four tasks'
# outputs and compares them with one unsharded run. Not part of CI (it starts
# daemons and needs root); run it after scripts/build.sh:
#
#   sudo bash scripts/slurm-check.sh [BUILD_DIR]
#
# Everything lives in a temporary folder: the munge key and socket, slurm.conf
# (this host only, free ports), state, logs. The daemons are stopped by their
# pid at the end, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
VITLENS=$BUILD/bin/vitlens
TASKS=4

die() { echo "slurm-check: $*" >&2; exit 1; }
[ -x "$VITLENS" ] || die "$VITLENS not found: build first (bash scripts/build.sh)"
[ "$(id -u)" = 0 ] || die "needs root: slurmd runs the job steps (sudo bash scripts/slurm-check.sh)"

PKGS="munge slurmctld slurmd slurm-client"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    echo "slurm-check: installing$missing (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null
fi

T=$(mktemp -d /tmp/vitlens-slurm-XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
    for f in "$T"/slurmd.pid "$T"/slurmctld.pid "$T"/munged.pid; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 1
    for f in "$T"/slurmd.pid "$T"/slurmctld.pid "$T"/munged.pid; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "slurm-check: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOST=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done

# munge: a fresh key and a private socket
mkdir -p "$T/munge"
chmod 700 "$T/munge"
mungekey --create --keyfile "$T/munge/munge.key" --bits 1024
munged --force --socket="$T/munge/munge.sock" --key-file="$T/munge/munge.key" --log-file="$T/munged.log" \
    --pid-file="$T/munged.pid" --seed-file="$T/munge/munged.seed"
for _ in $(seq 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.sock" ] || die "munged did not start: $(tail -3 "$T/munged.log")"

mkdir -p "$T/state" "$T/spool"
CPUS=$(nproc)
MEM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
cat > "$T/slurm.conf" <<EOF
ClusterName=vitlens-check
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF=$T/slurm.conf

slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || die "node $HOST is '$state', not idle: $(tail -5 "$T/slurmctld.log" "$T/slurmd.log")"
echo "slurm-check: single-node cluster up ($HOST, $CPUS CPUs, slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT)"

# The collection: the bundled samples and the test images, 14 files.
mkdir -p "$T/photos/more"
cp "$ROOT"/assets/samples/*.png "$T/photos/"
cp "$ROOT"/tests/fixtures/images/*.png "$T/photos/more/"
chmod -R a+rX "$T/photos"
N=$(find "$T/photos" -name '*.png' | wc -l)

# -b 1: every image its own batch, so the sharded and unsharded bytes agree
sbatch --wait --array=0-$((TASKS - 1)) --cpus-per-task=1 --output="$T/task-%a.log" --chdir="$T" \
    --wrap="'$VITLENS' classify --threads 1 -b 1 --shard auto --format jsonl -o '$T'/part-\$SLURM_ARRAY_TASK_ID.jsonl '$T/photos'" \
    | sed 's/^/slurm-check: sbatch: /'
for i in $(seq 0 $((TASKS - 1))); do
    [ -s "$T/part-$i.jsonl" ] || [ -f "$T/part-$i.jsonl" ] || die "task $i wrote nothing: $(cat "$T/task-$i.log")"
    echo "slurm-check: task $i: $(wc -l < "$T/part-$i.jsonl") images ($(grep -c . "$T/task-$i.log" || true) log lines)"
done
sacct_state=$(squeue -h 2>/dev/null | wc -l)
[ "$sacct_state" = 0 ] || die "jobs still queued after sbatch --wait"

cat "$T"/part-*.jsonl | LC_ALL=C sort > "$T/merged.jsonl"
"$VITLENS" classify --threads 1 -b 1 --format jsonl "$T/photos" | LC_ALL=C sort > "$T/whole.jsonl"
echo "slurm-check: merged $(wc -l < "$T/merged.jsonl") lines from $TASKS tasks; unsharded run: $(wc -l < "$T/whole.jsonl") lines ($N images)"
if cmp -s "$T/merged.jsonl" "$T/whole.jsonl"; then
    echo "slurm-check: PASS: the merged shards are byte-identical to the unsharded run"
else
    diff "$T/merged.jsonl" "$T/whole.jsonl" | head -5
    die "FAIL: the merged shards differ from the unsharded run"
fi
