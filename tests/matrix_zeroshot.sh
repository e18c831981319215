#!/usr/bin/env bash
# A zero-shot job of the matrix (zeroshot:mafw->dfew) is tested on the test split of each of the matrix's folds of
# the target, each scored alone, UAR and WAR their mean (the five-fold protocol; EmoCLIP tests DFEW so):
#  - result.json: eval_folds, each fold's clips and scores (best.folds, last.folds), uar/war their mean, and the
#    digest of every fold's split file; each fold's scores recomputed from predictions.csv (its fold column);
#  - dfer eval --dataset on the finished run gives the last epoch's scores, per fold and their mean; --folds 2
#    gives fold 2's alone; on its own training dataset one split; --folds without --dataset, on the run's own
#    dataset or on one without folds, a fold outside 1..5 and data.eval_folds on a supervised run are refused;
#  - Table 3's caption names the folds;
#  - the job killed midway (SIGKILL) and started again ends as the uninterrupted run: the per-fold confusion
#    matrices come back from the checkpoint (the same result.json and parameters). The learning rate is 0 there:
#    every epoch scores the same, so the best epoch is the first, evaluated before the cut, and the resumed run
#    reports its per-fold scores only if the checkpoint kept them.
# usage: matrix_zeroshot.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") python=$4
tmp=$(mktemp -d /tmp/dfer-matrix-zeroshot-XXXXXX)
pgid=
cleanup() { [ -n "$pgid" ] && pkill -KILL -s "$pgid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. "$src/tests/lib/session.sh"
# shellcheck source=tests/lib/matrix_fixture.sh
. "$src/tests/lib/matrix_fixture.sh"
zeroshot_fixture
cat >"$tmp/matrix.ini" <<EOF
[matrix]
name = zs-test
ranks_per_job = 2
methods = finecliper=$src/configs/synth/finecliper.ini
datasets = mafw=$tmp/mafw, dfew=$tmp/dfew
folds = 1, 2, 3
backbones = tiny=$tmp/clip.safetensors
settings = zeroshot:mafw->dfew
[set]
train.epochs = 5
train.batch = 4
train.eval_batch = 8
data.frames = 2
train.threads = 1
data.loader_threads = 1
EOF
job=finecliper-low__zs-mafw-dfew__tiny__s1
mpi=(mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini")
"${mpi[@]}" --results "$tmp/full" >"$tmp/full.log" 2>&1 || { cat "$tmp/full.log"; fail "the matrix failed"; }
run=$tmp/full/$job
grep -q "tested on dfew ($tmp/dfew: [0-9]* clips of the test splits of folds 1, 2, 3)" "$tmp/full.log" \
  || { cat "$tmp/full.log"; fail "the log does not say which test splits the job is tested on"; }
grep -q "evaluated on another's test splits of folds 1, 2, 3, each scored alone" "$tmp/full/tables.md" \
  || { cat "$tmp/full/tables.md"; fail "Table 3's caption does not name the folds"; }

# result.json against the split files and predictions.csv
"$python" - "$run" "$tmp/dfew" <<'EOF'
import csv, hashlib, json, sys
run, root = sys.argv[1], sys.argv[2]
r = json.load(open(run + "/result.json"))
assert r["eval_folds"] == [1, 2, 3], r.get("eval_folds")
names = r["classes"]
for which in ("best", "last"):
    folds = r[which]["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3], folds
    for key in ("uar", "war"):
        mean = sum(f[key] for f in folds) / 3
        assert abs(r[which][key] - mean) < 1e-9, (which, key, r[which][key], mean)
    assert sum(f["clips"] for f in folds) == sum(map(sum, r[which]["confusion"])), "the summed matrix covers every fold"
assert r["uar"] == r["best"]["uar"] and r["war"] == r["best"]["war"]
for f in (1, 2, 3):
    path = "%s/EmoLabel_DataSplit/test(single-labeled)/set_%d.csv" % (root, f)
    rows = [l for l in open(path).read().splitlines()[1:] if l.strip()]
    entry = r["inputs"]["test_split_fold%d" % f]
    assert entry["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest(), "fold %d's digest" % f
    assert entry["clips"] == len(rows), (f, entry["clips"], len(rows))
    assert r["last"]["folds"][f - 1]["clips"] == len(rows), "every clip of fold %d scored" % f
# the last evaluation's predictions, fold by fold
pred = list(csv.DictReader(open(run + "/predictions.csv")))
for i, f in enumerate(r["last"]["folds"]):
    rows = [p for p in pred if p["fold"] == str(f["fold"])]
    assert len(rows) == f["clips"], (f, len(rows))
    war = 100.0 * sum(p["predicted"] == p["label"] for p in rows) / len(rows)
    # the classes of the split and those predicted, one predicted but absent recalling 0 (sklearn's
    # confusion_matrix(normalize="true").diagonal().mean())
    scored = sorted({p["label"] for p in rows} | {p["predicted"] for p in rows})
    uar = sum(100.0 * sum(p["predicted"] == c for p in rows if p["label"] == c) / max(1, sum(p["label"] == c for p in rows))
              for c in scored) / len(scored)
    assert abs(war - f["war"]) < 1e-9 and abs(uar - f["uar"]) < 1e-9, (f, war, uar)
print("result.json: folds", [(f["fold"], f["clips"], round(f["war"], 2)) for f in r["last"]["folds"]],
      "mean WAR %.2f UAR %.2f" % (r["last"]["war"], r["last"]["uar"]))
EOF

# dfer report: the folds named, each one's scores at the reported epoch, every fold's split file
"$dfer" report "$tmp/full" -o "$tmp/report.html" >/dev/null || fail "dfer report"
"$python" - "$run/result.json" "$tmp/report.html" <<'EOF'
import json, re, sys
best = json.load(open(sys.argv[1]))["best"]
html = open(sys.argv[2]).read()
assert "evaluated on dfew (the test splits of folds 1, 2, 3, each scored alone; UAR and WAR their mean)" in html
rows = re.findall(r'<tr><td>(\d)</td><td class="num">(\d+)</td><td class="num">([\d.]+)</td><td class="num">([\d.]+)</td></tr>', html)
want = [(str(f["fold"]), str(f["clips"]), "%.2f" % f["uar"], "%.2f" % f["war"]) for f in best["folds"]]
assert rows == want, (rows, want)
assert all("test split, fold %d" % f in html for f in (1, 2, 3)) and "(mean over folds)" in html
print("dfer report: the folds named, their scores", rows)
EOF

# dfer eval of the finished run: the last epoch's scores (model.safetensors), per fold and their mean
"$dfer" eval --run "$run" --dataset dfew --root "$tmp/dfew" >"$tmp/eval.txt" || fail "dfer eval --dataset"
cat "$tmp/eval.txt"
"$dfer" eval --run "$run" --dataset dfew --root "$tmp/dfew" --folds 2 >"$tmp/eval2.txt" || fail "dfer eval --folds 2"
"$python" - "$run/result.json" "$tmp/eval.txt" "$tmp/eval2.txt" <<'EOF'
import json, re, sys
last = json.load(open(sys.argv[1]))["last"]
text, two = open(sys.argv[2]).read(), open(sys.argv[3]).read()
mean = re.search(r"^UAR ([0-9.]+)  WAR ([0-9.]+)  \(the mean over the folds\)$", text, re.M)
assert mean and mean.groups() == ("%.2f" % last["uar"], "%.2f" % last["war"]), (mean and mean.groups(), last["uar"])
for f in last["folds"]:
    line = "  fold %d: UAR %.2f  WAR %.2f  (%d clips)" % (f["fold"], f["uar"], f["war"], f["clips"])
    assert line in text.splitlines(), line
f2 = last["folds"][1]
# (a fold's small split may lack classes: the line then says over how many the UAR is)
assert "test split (%d clips;" % f2["clips"] in two and re.search(
    r"^UAR %.2f  WAR %.2f(  \(the UAR over the [0-9] classes the split holds or the model predicted, of 7\))?$"
    % (f2["uar"], f2["war"]), two, re.M), two
EOF
# without --dataset, a zero-shot job is evaluated on what it was scored on (result.json: eval_dataset, eval_root)
"$dfer" eval --run "$run" >"$tmp/eval-default.txt" 2>&1 || { cat "$tmp/eval-default.txt"; fail "dfer eval of the job"; }
grep -q "is a zero-shot job, scored on dfew ($tmp/dfew)" "$tmp/eval-default.txt" \
  && [ "$(grep "(the mean over the folds)" "$tmp/eval-default.txt")" = "$(grep "(the mean over the folds)" "$tmp/eval.txt")" ] \
  || { cat "$tmp/eval-default.txt"; fail "dfer eval --run of a zero-shot job did not score its target"; }
# --root alone: the job's dataset at another folder (moved): here the same folder through a link
ln -s "$tmp/dfew" "$tmp/dfew-moved"
"$dfer" eval --run "$run" --root "$tmp/dfew-moved" >"$tmp/eval-moved.txt" 2>&1 \
  && grep -q "scored on dfew ($tmp/dfew-moved)" "$tmp/eval-moved.txt" \
  && [ "$(grep "(the mean over the folds)" "$tmp/eval-moved.txt")" = "$(grep "(the mean over the folds)" "$tmp/eval.txt")" ] \
  || { cat "$tmp/eval-moved.txt"; fail "dfer eval --root of a zero-shot job did not read its dataset there"; }
rc=0
"$dfer" eval --run "$run" --dataset dfew >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "\-\-dataset needs \-\-root" "$tmp/out" || { cat "$tmp/out"; fail "--dataset without --root: exit $rc"; }
"$dfer" eval --run "$run" --folds 2 >"$tmp/eval-default2.txt" 2>&1 \
  && [ "$(grep "^UAR" "$tmp/eval-default2.txt")" = "$(grep "^UAR" "$tmp/eval2.txt")" ] \
  || { cat "$tmp/eval-default2.txt"; fail "dfer eval --folds 2 of a zero-shot job did not score its target's fold 2"; }
# a job recorded before result.json kept eval_root: its training dataset, with a warning that says what to give
cp -r "$run" "$tmp/old-job"
"$python" -c 'import json,sys; p=sys.argv[1]; r=json.load(open(p)); del r["eval_root"]; json.dump(r, open(p, "w"))' \
  "$tmp/old-job/result.json"
"$dfer" eval --run "$tmp/old-job" >"$tmp/out" 2>&1 && grep -q "on mafw test split" "$tmp/out" \
  && grep -q "predates the record of where that dataset is: .* give --dataset dfew --root DIR" "$tmp/out" \
  || { cat "$tmp/out"; fail "dfer eval of a zero-shot job without eval_root"; }
rc=0
"$dfer" eval --run "$tmp/old-job" --folds 2 >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "\-\-folds needs \-\-dataset" "$tmp/out" || { cat "$tmp/out"; fail "--folds without --dataset: exit $rc"; }
echo "dfer eval --run of a zero-shot job: its target's folds (and --folds 2 of them), as the job was scored"
# its own (training) dataset: fold 1's test split alone, whatever data.eval_folds says (the other folds' test
# clips are its training clips); --folds there, or on a dataset without folds, is a usage error
"$dfer" eval --run "$run" --dataset mafw --root "$tmp/mafw" >"$tmp/own.txt" || fail "dfer eval on the run's own dataset"
grep -q "on mafw test split ([0-9]* clips;" "$tmp/own.txt" || { cat "$tmp/own.txt"; fail "the own dataset is not one split"; }
for bad in "mafw --root $tmp/mafw --folds 1,2:is the run's own dataset" "ferv39k --folds 1:ferv39k has no folds"; do
  rc=0
  # shellcheck disable=SC2086 # (the words of the case)
  "$dfer" eval --run "$run" --dataset ${bad%%:*} >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "${bad#*:}" "$tmp/out" || { cat "$tmp/out"; fail "eval --dataset ${bad%%:*}: exit $rc"; }
done
rc=0
"$dfer" eval --run "$run" --dataset dfew --root "$tmp/dfew" --folds 2,7 >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "data.eval_folds: fold 7 is not one of 1..5" "$tmp/out" || { cat "$tmp/out"; fail "fold 7: exit $rc"; }
rc=0
"$dfer" train --config "$src/configs/synth/finecliper.ini" --set model.weights="$tmp/clip.safetensors" \
  --set data.root="$tmp/dfew" --set data.eval_folds=1,2 --set train.epochs=1 --out "$tmp/supervised" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "data.eval_folds is for zero-shot transfer to another dataset" "$tmp/out" \
  || { cat "$tmp/out"; fail "data.eval_folds on a supervised run: exit $rc"; }

# killed midway (an evaluation or two checkpointed, epochs left) and started again: the uninterrupted run's results
sed 's/^train.epochs = 5$/&\noptim.lr = 0/' "$tmp/matrix.ini" >"$tmp/matrix-still.ini"
mpi=(mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix-still.ini")
"${mpi[@]}" --results "$tmp/still" >"$tmp/still.log" 2>&1 || { cat "$tmp/still.log"; fail "the matrix (lr 0) failed"; }
"$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["best"]["epoch"] == 1 and r["epoch_counted_from"] == 1 and r["best"]["folds"], r["best"]' \
  "$tmp/still/$job/result.json" || fail "with lr 0 the best epoch is not the first"
setsid "${mpi[@]}" --results "$tmp/cut" >"$tmp/cut1.log" 2>&1 &
pgid=$!
killed=0
for _ in $(seq 3000); do
  evals=$({ grep -c '"type":"eval"' "$tmp/cut/$job/metrics.jsonl" 2>/dev/null || true; })
  if [ -f "$tmp/cut/$job/checkpoint.safetensors" ] && [ "${evals:-0}" -ge 1 ] && [ "${evals:-0}" -le 3 ]; then
    pkill -KILL -s "$pgid"; killed=1; break
  fi
  kill -0 "$pgid" 2>/dev/null || break
  sleep 0.02
done
wait "$pgid" 2>/dev/null || true
session_wait_gone "$pgid"
pgid=
[ "$killed" = 1 ] || { cat "$tmp/cut1.log"; fail "the run ended before it could be killed midway"; }
[ ! -f "$tmp/cut/$job/result.json" ] || fail "killed after the job finished"
"${mpi[@]}" --results "$tmp/cut" >"$tmp/cut2.log" 2>&1 || { cat "$tmp/cut2.log"; fail "the second start failed"; }
grep -q "resuming" "$tmp/cut2.log" || { cat "$tmp/cut2.log"; fail "the second start did not resume"; }
cmp "$tmp/still/$job/model.safetensors" "$tmp/cut/$job/model.safetensors" || fail "the resumed run's parameters differ"
"$python" - "$tmp/still/$job/result.json" "$tmp/cut/$job/result.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for key in ("uar", "war", "eval_folds", "best", "last"):
    assert a[key] == b[key], (key, a[key], b[key])
print("killed and resumed: the same best and last evaluations, fold by fold")
EOF
echo "zero-shot folds: OK"
