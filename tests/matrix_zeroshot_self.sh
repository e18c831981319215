#!/usr/bin/env bash
# zeroshot:A->A where A has folds (FineCLIPER Table 3's MAFW->MAFW): the matrix makes a job per fold of
# matrix.folds, trained on that fold's training split and tested on its own test split alone (fold 1's training
# split holds the other folds' test clips), beside an A->B job of one id; dfer table's A->A cell is the mean of the
# folds' results and its caption says how each kind of cell was made; a clip in both splits of a fold is refused.
# usage: matrix_zeroshot_self.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") python=$4
tmp=$(mktemp -d /tmp/dfer-matrix-zeroshot-self-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck source=tests/lib/matrix_fixture.sh
. "$src/tests/lib/matrix_fixture.sh"
zeroshot_fixture
cat >"$tmp/matrix.ini" <<EOF
[matrix]
name = zs-self
ranks_per_job = 1
methods = finecliper=$src/configs/synth/finecliper.ini
datasets = mafw=$tmp/mafw, dfew=$tmp/dfew
folds = 1, 2
backbones = tiny=$tmp/clip.safetensors
settings = zeroshot:mafw->mafw, zeroshot:mafw->dfew
[set]
train.epochs = 2
train.batch = 4
train.eval_batch = 8
data.frames = 2
train.threads = 1
data.loader_threads = 1
EOF
mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; fail "the matrix failed"; }
for fold in 1 2; do
  clips=$(($(wc -l <"$tmp/mafw/single/with_caption/set_$fold/test.txt")))
  grep -q "trained on mafw ($tmp/mafw, fold $fold, [0-9]* clips), tested on mafw ($tmp/mafw: $clips clips of the test split)" \
    "$tmp/log" || { cat "$tmp/log"; fail "fold $fold's job is not tested on its own test split ($clips clips)"; }
done
"$python" - "$tmp/res" "$tmp/mafw" <<'EOF'
import hashlib, json, os, re, sys
res, root = sys.argv[1], sys.argv[2]
self_ids = ["finecliper-low__zs-mafw-mafw__f%d__tiny__s1" % f for f in (1, 2)]
other_id = "finecliper-low__zs-mafw-dfew__tiny__s1"  # A->B: one job, its id unchanged
assert sorted(d for d in os.listdir(res) if os.path.isdir(os.path.join(res, d))) == sorted(self_ids + [other_id])
uars, wars = [], []
for fold, job in zip((1, 2), self_ids):
    r = json.load(open(os.path.join(res, job, "result.json")))
    assert r["status"] == "done" and r["fold"] == fold and r["eval_dataset"] == "mafw", r
    assert "eval_folds" not in r and "folds" not in r["best"], "A->A is tested on one split"
    split = os.path.join(root, "single/with_caption/set_%d/test.txt" % fold)
    entry = r["inputs"]["test_split"]
    assert entry["sha256"] == hashlib.sha256(open(split, "rb").read()).hexdigest(), (fold, entry)
    uars.append(r["uar"]), wars.append(r["war"])
other = json.load(open(os.path.join(res, other_id, "result.json")))
assert other["fold"] == 1 and other["eval_folds"] == [1, 2], other.get("eval_folds")
text = open(os.path.join(res, "tables.md")).read()
table = text[text.index("### Table 3"):]
caption = table.split("\n")[2]
assert "a dataset's cell of its own: trained on each fold's training split and evaluated on that fold's test " \
       "split" in caption and "a dataset's own: over folds and seeds" in caption, caption
lines = [l for l in table.split("\n") if l.startswith("|")]
head = [c.strip() for c in lines[0].strip("|").split("|")]
row = next(l for l in lines if "trained on MAFW" in l)
cells = [c.strip() for c in row.strip("|").split("|")]
for name, values in (("MAFW UAR", uars), ("MAFW WAR", wars)):
    cell = cells[head.index(name)]
    want = "%.2f ± " % (sum(values) / 2)
    assert cell.startswith(want) and cell.endswith("(2)"), (name, cell, want, values)
print("A->A: a job per fold on its own test split; Table 3's cell", cells[head.index("MAFW UAR")], "from", uars)
EOF
# fold 1's test split sharing a clip with its training split: --check refuses the A->A job (its test split is of
# its own dataset, checked as a supervised run's), not the A->B one
head -n 1 "$tmp/mafw/single/with_caption/set_1/test.txt" >>"$tmp/mafw/single/with_caption/set_1/train.txt"
rc=0
"$dfer" matrix --check "$tmp/matrix.ini" >"$tmp/check" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "zs-mafw-mafw__f1__tiny__s1 .*share 1 clip" "$tmp/check" \
  && grep -q "zs-mafw-mafw__f2__tiny__s1 *ok" "$tmp/check" && grep -q "zs-mafw-dfew__tiny__s1 *ok" "$tmp/check" \
  || { cat "$tmp/check"; fail "a clip in fold 1's training and test splits: --check exit $rc"; }
echo "zero-shot A->A: OK"
