#!/usr/bin/env bash
# dfer matrix --status on a real matrix (2 ranks, 4 jobs: two on a synthetic set, two on a
# dataset root that does not exist) at each stage of its life:
#   - before it runs: every job pending, no estimate;
#   - after the run: the two good jobs done with their result.json's UAR and WAR, the two bad ones
#     failed with the error naming the missing split file, nothing left; the run itself went on past
#     the failures and exited 1 (one failing job does not take the other group down);
#   - a failed job run again (its metrics.jsonl newer than its result.json): started;
#   - a job stopped midway (dfer train --stop-after on the job's own config.ini, into a second
#     results folder): started, at the exact epoch and step it logged, with its last evaluation and
#     checkpoint; the work left estimated from the one finished job's time, as JSON too;
#   - the matrix changed (another batch size): the started job refuses to resume, naming the key,
#     until --allow-config-change; the finished job's result stands, and the log says it differs.
# usage: matrix_status.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-status-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=status-test ranks_per_job=1 epochs=2
sed -i "s|^datasets = .*|&, mafw=$tmp/missing|" "$tmp/matrix.ini"
good1=finecliper-low__dfew__f1__tiny__s1 good2=finecliper-low__dfew__f2__tiny__s1
bad1=finecliper-low__mafw__f1__tiny__s1

# ---- before the run --------------------------------------------------------------------------
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/s0.txt"
cat "$tmp/s0.txt"
[ "$(grep -c '  pending$' "$tmp/s0.txt")" = 4 ] || fail "before the run, not every job is pending"
grep -q "^0 done, 0 failed, 0 started, 4 pending; no job has finished yet" "$tmp/s0.txt" || fail "summary before the run"
[ ! -e "$tmp/res" ] || fail "--status created the results folder"
grep -q "^note: $tmp/res does not exist: no job of this matrix has run there" "$tmp/s0.txt" \
  || fail "--status of a results folder that does not exist does not say so"

# ---- the run: two jobs fail, two finish ------------------------------------------------------
rc=0
mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" \
  >"$tmp/run.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { tail -n 30 "$tmp/run.log"; fail "the matrix with two failing jobs exited $rc, not 1"; }
grep -q "2 jobs failed" "$tmp/run.log" || { tail -n 30 "$tmp/run.log"; fail "the run does not count its failed jobs"; }
# the Markdown tables it prints at the end (straight to standard output) are those of its tables.md
python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' "$tmp/res/tables.md" \
  "$tmp/run.log" || { cat "$tmp/run.log"; fail "the run did not print the tables of its tables.md"; }
grep -q "^### Table 1: supervised results (backbone tiny)" "$tmp/run.log" || fail "the run printed no Table 1"
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/s1.txt"
cat "$tmp/s1.txt"
for j in $good1 $good2; do
  want=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("UAR %.2f  WAR %.2f" % (r["uar"], r["war"]))' \
    "$tmp/res/$j/result.json")
  grep -qE "^$j +done +$want  \(" "$tmp/s1.txt" || fail "$j: not shown as done with $want"
done
grep -qE "^$bad1 +failed +mafw split file: $tmp/missing/.*cannot open" "$tmp/s1.txt" || fail "$bad1: not failed with its error"
grep -q "^2 done, 2 failed, 0 started, 0 pending; nothing left to run$" "$tmp/s1.txt" || fail "summary after the run"
! grep -q "does not exist: no job" "$tmp/s1.txt" || fail "the note of a missing results folder after the run"
# each result names its backbone's architecture (for dfer table --paper; the tiny CLIP has no published numbers)
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("clip_arch"))' "$tmp/res/$good1/result.json")" \
  = "custom ViT (W=128, L=2, P=8, R=32)" ] || fail "$good1: no clip_arch in result.json"
# and the backend it ran on, with the BLAS kernels the CPU's digits depend on
python3 -c 'import json,re,sys; b=json.load(open(sys.argv[1])).get("backend", ""); sys.exit(not re.fullmatch(r"cpu \(\d+ threads?, OpenBLAS [0-9.]+, \S+ kernels\)", b))' \
  "$tmp/res/$good1/result.json" || fail "$good1: result.json's backend does not name the BLAS kernels"
"$dfer" table "$tmp/res" --paper >"$tmp/table.txt" 2>"$tmp/table.err" && grep -q "finecliper (low) | " "$tmp/table.txt" \
  && ! grep -q "paper (" "$tmp/table.txt" && grep -q "^note: --paper: no published numbers for these results" "$tmp/table.err" \
  || { cat "$tmp/table.txt" "$tmp/table.err"; fail "dfer table --paper on the tiny CLIP's results"; }
! "$dfer" table "$tmp/res" 2>&1 >/dev/null | grep -q "note: --paper" || fail "the --paper note without --paper"
# the CSV is numbers, a column each (mean, sample sd, jobs, expected jobs), the mean and sd those of the result.json
# files (two DFEW folds done; MAFW's two failed: no mean, 0 of 2)
"$dfer" table "$tmp/res" --format csv 2>/dev/null >"$tmp/table.csv"
python3 - "$tmp/table.csv" "$tmp/res/$good1/result.json" "$tmp/res/$good2/result.json" <<'PY' \
  || { cat "$tmp/table.csv"; fail "dfer table --format csv: Table 1's columns"; }
import csv, json, statistics, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0].startswith("# Table 1: "), lines[0]
assert lines[1].startswith("# X: mean over the jobs"), lines[1]
rows = list(csv.DictReader(lines[2:4]))
head = "method," + ",".join(f"{d} {m}{s}" for d in ("DFEW", "MAFW") for m in ("UAR", "WAR")
                            for s in ("", " sd", " n", " expected"))
assert lines[2] == head, lines[2]
row = rows[0]
assert row["method"] == "finecliper (low)", row
results = [json.load(open(f)) for f in sys.argv[2:]]
for m in ("uar", "war"):
    values = [r[m] for r in results]
    assert abs(float(row[f"DFEW {m.upper()}"]) - statistics.mean(values)) <= 0.005, (m, row, values)
    assert abs(float(row[f"DFEW {m.upper()} sd"]) - statistics.stdev(values)) <= 0.005, (m, row, values)
    assert row[f"DFEW {m.upper()} n"] == "2" and row[f"DFEW {m.upper()} expected"] == "2", row
    assert row[f"MAFW {m.upper()}"] == "" and row[f"MAFW {m.upper()} sd"] == "", row
    assert row[f"MAFW {m.upper()} n"] == "0" and row[f"MAFW {m.upper()} expected"] == "2", row
PY
# the run wrote its tables in the three formats, as dfer table prints them; --out writes the same files
"$dfer" table "$tmp/res" --out "$tmp/tables-out" >/dev/null 2>&1 || fail "dfer table --out"
for f in md:md latex:tex csv:csv; do
  "$dfer" table "$tmp/res" --format "${f%%:*}" 2>/dev/null >"$tmp/want.${f#*:}"
  cmp -s "$tmp/want.${f#*:}" "$tmp/res/tables.${f#*:}" || fail "the run's tables.${f#*:} differs from dfer table --format ${f%%:*}"
  cmp -s "$tmp/want.${f#*:}" "$tmp/tables-out/tables.${f#*:}" || fail "dfer table --out: tables.${f#*:} differs from --format ${f%%:*}"
done

# a failed job being run again (the matrix restarted: its metrics.jsonl grows after its result.json) is started
sleep 0.01
echo '{"type":"step","epoch":1,"epochs":2,"step":2,"steps":5,"loss":2}' >"$tmp/res/$bad1/metrics.jsonl"
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/s1b.txt"
grep -qE "^$bad1 +started +epoch 1/2 step 2/5 \(20%\); no checkpoint yet" "$tmp/s1b.txt" \
  || { cat "$tmp/s1b.txt"; fail "$bad1: run again after failing, not shown as started"; }
grep -q "^2 done, 1 failed, 1 started, 0 pending; left: about " "$tmp/s1b.txt" || fail "summary with a re-run"

# ---- a job stopped midway, and one finished: the estimate ------------------------------------
# 2 epochs of 5 steps (20 training clips, batch 4); 6 steps: epoch 1 evaluated, 1 step into epoch 2
"$dfer" train --config "$tmp/res/$good1/config.ini" --out "$tmp/res2/$good1" --stop-after 6 --set train.log_every=1 \
  >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "dfer train --stop-after"; }
grep -q "epoch 2/2 step 1/5" "$tmp/train.log" || { cat "$tmp/train.log"; fail "the stopped run is not 1 step into epoch 2 of 5 steps"; }
cp -r "$tmp/res/$good2" "$tmp/res2/"
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res2" >"$tmp/s2.txt"
cat "$tmp/s2.txt"
eval1=$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if "\"eval\"" in l]
print("UAR %.2f WAR %.2f" % (ev[-1]["uar"], ev[-1]["war"]))' "$tmp/res2/$good1/metrics.jsonl")
grep -qE "^$good1 +started +epoch 2/2 step 1/5 \(60%\), epoch 1's test $eval1; checkpointed; last written [0-9]+ s ago$" \
  "$tmp/s2.txt" || fail "$good1: not started at epoch 2 step 1 of 5 with epoch 1's $eval1"
grep -q "^1 done, 0 failed, 1 started, 2 pending; left: about " "$tmp/s2.txt" || fail "summary with a started job"
"$dfer" matrix --status --json "$tmp/matrix.ini" --results "$tmp/res2" >"$tmp/s2.json"
python3 - "$tmp/s2.json" "$tmp/res2/$good2/result.json" "$good1" <<'PY' || fail "the JSON status"
import json, sys
s, done = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert s["matrix"] == "status-test" and s["counts"] == {"done": 1, "failed": 0, "started": 1, "pending": 2}, s["counts"]
jobs = {j["job"]: j for j in s["jobs"]}
started = jobs[sys.argv[3]]
assert (started["state"], started["epoch"], started["epochs"], started["step"], started["steps"]) == ("started", 2, 2, 1, 5), started
assert abs(started["fraction"] - 0.6) < 1e-12 and started["checkpoint"] is True and started["epochs_evaluated"] == 1, started
assert abs(jobs[done["job"]]["uar"] - done["uar"]) < 1e-9, jobs[done["job"]]
# the started job needs 40% of the finished job of its kind, each pending one (other dataset) the mean
want = done["seconds"] * (0.4 + 2)
assert abs(s["seconds_left_one_group"] - want) <= 1e-9 * want, (s["seconds_left_one_group"], want)
print(f"JSON: counts {s['counts']}, work left {s['seconds_left_one_group']:.3f} s = 2.4 x the finished job's {done['seconds']:.3f} s")
PY
# ---- the matrix changed since: a started job refuses to resume, a finished one is said to differ -----
sed 's/^train.batch = 4$/train.batch = 2/' "$tmp/matrix.ini" >"$tmp/matrix-changed.ini"
rc=0
"$dfer" matrix "$tmp/matrix-changed.ini" --results "$tmp/res2" >"$tmp/changed.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$tmp/changed.log"; fail "a matrix whose started job changed exited $rc, not 1"; }
grep -q "$good1 failed: $tmp/res2/$good1/config.ini: the run was started with another configuration (train.batch: 4 -> 2)" \
  "$tmp/changed.log" || { cat "$tmp/changed.log"; fail "the started job with another batch size was not refused, naming it"; }
grep -q "$good2: finished with another configuration than the matrix gives now (train.batch: 4 -> 2); its result stands" \
  "$tmp/changed.log" || { cat "$tmp/changed.log"; fail "the finished job's changed configuration was not said"; }
"$dfer" matrix "$tmp/matrix-changed.ini" --results "$tmp/res2" --allow-config-change >"$tmp/changed.log" 2>&1 || true
grep -q "resuming with a changed configuration (--allow-config-change): train.batch: 4 -> 2" "$tmp/changed.log" \
  && [ "$(json_field "$tmp/res2/$good1/result.json" status)" = done ] \
  || { cat "$tmp/changed.log"; fail "--allow-config-change did not resume the started job"; }
echo "a changed matrix: the started job refused (train.batch: 4 -> 2) until --allow-config-change, the finished one said to differ"
# another CLIP at the weights' path (re-downloaded, re-exported): a finished job stands, and says it was trained on
# the file that was there before (the tables note nothing when every job of the backbone is alike)
cp "$tmp/clip.safetensors" "$tmp/clip-kept.safetensors"
"$dfer" init --arch tiny --seed 7 --out "$tmp/clip.safetensors" >/dev/null
"$dfer" matrix "$tmp/matrix-changed.ini" --results "$tmp/res2" >"$tmp/swapped.log" 2>&1 || true # (its MAFW jobs fail)
grep -q "$good1: finished with other model files than the matrix's paths hold now: $tmp/clip.safetensors (sha256 [0-9a-f]*\.\.\. in its result.json, [0-9a-f]*\.\.\. now); its result stands" \
  "$tmp/swapped.log" || { cat "$tmp/swapped.log"; fail "a finished job did not say its weights are another file now"; }
mv "$tmp/clip-kept.safetensors" "$tmp/clip.safetensors"
# another checkpoint under the same backbone name (the job id stays): said too
"$dfer" init --arch tiny --seed 8 --out "$tmp/clip-other.safetensors" >/dev/null
sed "s|tiny=$tmp/clip.safetensors|tiny=$tmp/clip-other.safetensors|" "$tmp/matrix-changed.ini" >"$tmp/matrix-weights.ini"
grep -q "tiny=$tmp/clip-other.safetensors" "$tmp/matrix-weights.ini" || fail "the weights were not replaced in the matrix"
"$dfer" matrix "$tmp/matrix-weights.ini" --results "$tmp/res2" >"$tmp/weights.log" 2>&1 || true
grep -q "$good1: finished with other model files than the matrix's paths hold now: $tmp/clip-other.safetensors (sha256" \
  "$tmp/weights.log" || { cat "$tmp/weights.log"; fail "a finished job trained on other weights (same backbone name) was not said"; }
echo "other weights at the matrix's path, or another checkpoint under the backbone's name: the finished job stands and says so"
# a results folder rank 0 cannot make (a file is in the way): both ranks stop with a message, no hang
touch "$tmp/a-file"
rc=0
timeout 120 mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/a-file/res" \
  >"$tmp/nofolder.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "$tmp/a-file/res.*cannot create directory" "$tmp/nofolder.log" \
  && grep -q "rank 0 could not write the results folder" "$tmp/nofolder.log" \
  || { cat "$tmp/nofolder.log"; fail "an unwritable results folder: exit $rc (124: hung), or no clear message"; }
echo "an unwritable results folder: both ranks stop with its error (exit $rc)"
# a usage error is an error
if "$dfer" matrix --json "$tmp/matrix.ini" >/dev/null 2>&1; then fail "--json without --status was accepted"; fi
echo "dfer matrix --status: pending, done with its result, failed with its error, started at its step, the work left"
