#!/usr/bin/env bash
# Times fusedopt's CPU AdamW step (JMH LayoutBenchmark, 2 threads and 1 thread) and, when PyTorch is installed,
# torch.optim.AdamW(fused=True) on the CPU (native-build/torch_cpu_adamw.py), on the same layouts, in interleaved
# rounds, and prints the median of the rounds for each. A busy or shared machine moves single runs a lot; the
# rounds interleave every configuration so that each sees the same mix of load, each run reports its median step
# (JMH sample mode) and the rounds' medians discard the outlying runs.
#
# Usage: native-build/cpu-vs-torch.sh [--rounds N] [--layouts 1M,10000x100,16M,64M,gpt2-small]
#            [--torch-layouts 1M,16M] [--python PATH] [--baseline OLD-benchmarks.jar] [--out DIR]
#   --torch-layouts  the layouts torch runs (default 1M,16M: its 10,000-tensor and GPT-2 steps take seconds)
#   --python    the interpreter with torch (default: $PYTHON, else python3); without torch only fusedopt runs
#   --baseline  a benchmarks.jar built from another commit: timed in the same rounds, reported as "before"
#   --out       where the runs' results go (default target/cpu-vs-torch); results already there are removed
# Needs target/benchmarks.jar (mvn -B -P jmh package -DskipTests).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
layouts=1M,10000x100,16M,64M,gpt2-small
torch_layouts=1M,16M
python=${PYTHON:-python3}
baseline=
out=target/cpu-vs-torch
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --layouts) layouts=$2; shift 2 ;;
    --torch-layouts) torch_layouts=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "error: --rounds $rounds: must be a whole number >= 1" >&2; exit 2 ;; esac
jar=target/benchmarks.jar
[ -f "$jar" ] || { echo "error: $jar is missing: run mvn -B -P jmh package -DskipTests" >&2; exit 1; }
[ -z "$baseline" ] || [ -f "$baseline" ] || { echo "error: --baseline $baseline: no such file" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.jsonl

torch=yes
if ! "$python" -c 'import torch' 2>/dev/null; then
  torch=no
  echo "NOTE: PyTorch is not installed for $python: timing fusedopt only (install a CPU torch, e.g."
  echo "      python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch numpy, and pass --python /tmp/venv/bin/python)"
fi

jmh() { # jar label threads round
  local f="$out/$2-t$3-r$4.json"
  java -jar "$1" LayoutBenchmark -p layout="$layouts" -f 1 -wi 2 -i 5 -w 500ms -r 500ms -bm sample -tu ms \
      -jvmArgsAppend "-XX:ActiveProcessorCount=$3" -rf json -rff "$f" >"$out/$2-t$3-r$4.log" 2>&1 \
    || { echo "error: JMH failed, see $out/$2-t$3-r$4.log" >&2; exit 1; }
}

for r in $(seq "$rounds"); do
  echo "round $r of $rounds: $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for t in 2 1; do
    [ -z "$baseline" ] || jmh "$baseline" before "$t" "$r"
    jmh "$jar" fusedopt "$t" "$r"
    if [ "$torch" = yes ]; then
      "$python" native-build/torch_cpu_adamw.py --layouts "$torch_layouts" --threads "$t" --seconds 2 \
        >>"$out/torch.jsonl"
    fi
  done
done

"$python" - "$out" <<'EOF'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
rows = {}  # (who, threads, layout) -> [ms]
def round_of(f):
    return int(re.search(r"-r(\d+)\.json$", f).group(1))
for f in sorted(glob.glob(os.path.join(out, "*-t*-r*.json")), key=round_of):
    who, t = re.match(r"(\w+)-t(\d+)-r\d+\.json", os.path.basename(f)).groups()
    for b in json.load(open(f)):
        # The median step of the run: a preempted step on a busy machine moves the mean, not the median.
        rows.setdefault((who, int(t), b["params"]["layout"]), []).append(b["primaryMetric"]["scorePercentiles"]["50.0"])
tp = os.path.join(out, "torch.jsonl")
if os.path.exists(tp):
    for line in open(tp):
        j = json.loads(line)
        rows.setdefault(("torch", j["threads"], j["layout"]), []).append(j["step_ms_median"])
order = ["before", "fusedopt", "torch"]
layouts = []
for k in rows:
    if k[2] not in layouts:
        layouts.append(k[2])
print("\nms per AdamW step, median of the rounds (each round: the median step of JMH's 5 x 0.5 s samples;"
      " torch: the median step of 2 s)")
print("%-12s %-9s %7s %10s %s" % ("layout", "who", "threads", "median ms", "rounds, in order"))
for lay in layouts:
    for who in order:
        for t in (2, 1):
            v = rows.get((who, t, lay))
            if v:
                print("%-12s %-9s %7d %10.3f %s" % (lay, who, t, statistics.median(v),
                                                    " ".join("%.3f" % x for x in v)))
    f = rows.get(("fusedopt", 2, lay))
    tt = [statistics.median(v) for t in (1, 2) for v in [rows.get(("torch", t, lay))] if v]
    if f and tt:
        print("%-12s torch's best / fusedopt at 2 threads: %.2fx (above 1: fusedopt is faster)"
              % (lay, min(tt) / statistics.median(f)))
per = {}
for who in order:
    for t in (2, 1):
        a, b = rows.get((who, t, "10000x100")), rows.get((who, t, "1M"))
        if a and b and who != "torch":
            # 10,000 x 100 is 1,000,000 elements: what it costs beyond 1M elements in one tensor, per tensor.
            print("%-9s %d threads: overhead per tensor %.3f us" % (who, t, (statistics.median(a)
                  - statistics.median(b) * 1_000_000 / 1_048_576) * 1e3 / 10_000))
EOF
