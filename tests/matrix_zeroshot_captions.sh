#!/usr/bin/env bash
# zeroshot:A->B/CAPTIONS (FineCLIPER Table 3's two MAFW rows from one matrix): zeroshot:mafw->dfew and
# zeroshot:mafw->dfew/descriptions make two jobs, the second's id with -descriptions in its setting's part; the
# second trains on the descriptions although [set] says data.captions = dataset (the setting's kind comes after it):
# config.ini and result.json say so, jobs.json lists its kind (the first's entry has none, as before); dfer table
# prints a row per kind, each of its one job (the published rows beside them need ViT-B/16: test_table_captions).
# usage: matrix_zeroshot_captions.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") python=$4
tmp=$(mktemp -d /tmp/dfer-matrix-zeroshot-captions-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck source=tests/lib/matrix_fixture.sh
. "$src/tests/lib/matrix_fixture.sh"
zeroshot_fixture
# the synthetic set's own per-clip descriptions (synth/clips.jsonl) as model.descriptions takes them
"$python" - "$tmp/mafw/synth/clips.jsonl" "$tmp/descriptions.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        c = json.loads(line)
        out.write(json.dumps({"clip": c["id"], "text": c["description"]}) + "\n")
PY
cat >"$tmp/matrix.ini" <<INI
[matrix]
name = zs-captions
ranks_per_job = 1
methods = finecliper=$src/configs/synth/finecliper.ini
datasets = mafw=$tmp/mafw, dfew=$tmp/dfew
folds = 1, 2
backbones = tiny=$tmp/clip.safetensors
settings = zeroshot:mafw->dfew, zeroshot:mafw->dfew/descriptions
[set]
data.captions = dataset
model.descriptions = $tmp/descriptions.jsonl
train.epochs = 1
train.batch = 4
train.eval_batch = 8
data.frames = 2
train.threads = 1
data.loader_threads = 1
INI
# without the descriptions file, --check says the descriptions job needs it because its setting asks for them (it
# said "where ... has no captions", of a split whose every clip has one); the plain job is ready
sed "s|^model.descriptions = .*|model.descriptions = $tmp/none.jsonl|" "$tmp/matrix.ini" >"$tmp/nodesc.ini"
rc=0; "$dfer" matrix --check "$tmp/nodesc.ini" >"$tmp/check.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "zs-mafw-dfew-descriptions.*MISSING: data.captions = descriptions (contrastive training on .*: .*none.jsonl" "$tmp/check.txt" \
  && grep -q "zs-mafw-dfew__tiny__s1 *ok" "$tmp/check.txt" && ! grep -q "has no captions" "$tmp/check.txt" \
  || { cat "$tmp/check.txt"; fail "--check of a descriptions job without them: exit $rc"; }
mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" \
  >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "the matrix failed"; }
"$python" - "$tmp/res" <<'PY' || fail "jobs.json, config.ini or result.json"
import configparser, json, os, sys
res = sys.argv[1]
plain, desc = "finecliper-low__zs-mafw-dfew__tiny__s1", "finecliper-low__zs-mafw-dfew-descriptions__tiny__s1"
jobs = {j["job"]: j for j in json.load(open(os.path.join(res, "jobs.json")))}
assert sorted(jobs) == sorted([plain, desc]), sorted(jobs)
assert "captions" not in jobs[plain] and jobs[desc]["captions"] == "descriptions", jobs
for job, kind in ((plain, "dataset"), (desc, "descriptions")):
    text = open(os.path.join(res, job, "result.json")).read()
    r = json.loads(text)
    # the kind used replaces the one the job's identity asked for (a second key would be read first by cJSON)
    assert text.count('"captions"') == 1, (job, text.count('"captions"'))
    assert r["status"] == "done" and r["captions"] == kind, (job, r.get("status"), r.get("captions"))
    assert r["eval_folds"] == [1, 2], (job, r.get("eval_folds"))
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cfg.read(os.path.join(res, job, "config.ini"))
    assert cfg["data"]["captions"] == kind and cfg["train"]["objective"] == "contrastive", (job, dict(cfg["data"]))
print("jobs.json, config.ini and result.json: video captions and descriptions")
PY
"$dfer" table "$tmp/res" >"$tmp/table.md" || fail "dfer table"
# a row per kind, each of its one job (a value alone, not "(1/2)")
row() { grep -E "^\| finecliper \(low\), trained on MAFW \($1\) \| [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2} \|\$" "$2"; }
row "video captions" "$tmp/table.md" >/dev/null && row "descriptions" "$tmp/table.md" >/dev/null \
  || { cat "$tmp/table.md"; fail "Table 3 has no row of one job for each kind of captions"; }
[ "$(grep -c "trained on MAFW" "$tmp/table.md")" = 2 ] || { cat "$tmp/table.md"; fail "not two MAFW rows"; }
echo "zero-shot captions per setting: OK"
