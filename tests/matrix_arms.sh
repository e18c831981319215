#!/usr/bin/env bash
# The paper's ablations in one matrix: FineCLIPER's low level and two arms of it (finecliper:low@less with
# [set@less] model.negative = less, finecliper:low@s03 with [set@s03] model.mlp_adapter_scale = 0.3) from the same
# method file. Each arm trains what its section says (config.ini, its origin), its jobs' ids, jobs.json,
# --status --json and result.json name the arm and the ablation, and the tables give Table 1 a row per arm and
# print Tables 7 and 9 (not 5 or 6: nothing of theirs ran).
# usage: matrix_arms.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") python=$4
tmp=$(mktemp -d /tmp/dfer-matrix-arms-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck source=tests/lib/matrix_fixture.sh
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=arms
fc=$src/configs/synth/finecliper.ini
# the fixture's matrix with the arms: one fold, three methods entries of one file
sed -i -e "s|^methods = .*|methods = finecliper:low=$fc, finecliper:low@less=$fc, finecliper:low@s03=$fc|" \
  -e 's|^folds = .*|folds = 1|' "$tmp/matrix.ini"
printf '[set@less]\nmodel.negative = less\n[set@s03]\nmodel.mlp_adapter_scale = 0.3\n' >>"$tmp/matrix.ini"

"$dfer" matrix --list "$tmp/matrix.ini" >"$tmp/list" 2>&1 || { cat "$tmp/list"; fail "--list"; }
for id in finecliper-low__dfew__f1__tiny__s1 finecliper-low--less__dfew__f1__tiny__s1 \
  finecliper-low--s03__dfew__f1__tiny__s1; do
  grep -q "$id" "$tmp/list" || { cat "$tmp/list"; fail "--list lacks $id"; }
done
"$dfer" matrix --status --json "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/status.json" 2>"$tmp/status.err" ||
  { cat "$tmp/status.err"; fail "--status"; }
"$python" - "$tmp/status.json" <<'EOF'
import json, sys
jobs = {j["job"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
# the paper's model: no arm, and an ablation of none (recorded: a file without the key is an older one)
assert "arm" not in jobs["finecliper-low__dfew__f1__tiny__s1"] and \
    jobs["finecliper-low__dfew__f1__tiny__s1"]["ablation"] == "", jobs
less, s03 = jobs["finecliper-low--less__dfew__f1__tiny__s1"], jobs["finecliper-low--s03__dfew__f1__tiny__s1"]
assert (less["arm"], less["ablation"]) == ("less", "negative=less"), less
assert (s03["arm"], s03["ablation"]) == ("s03", "mlp_adapter_scale=0.3"), s03
assert all(j["state"] == "pending" for j in jobs.values()), jobs
EOF

mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; fail "the matrix failed"; }
# what each arm trained: its section's key, said to come from it
grep -q '^negative = less$' "$tmp/res/finecliper-low--less__dfew__f1__tiny__s1/config.ini" || fail "less: negative"
grep -q '^negative = no$' "$tmp/res/finecliper-low--s03__dfew__f1__tiny__s1/config.ini" || fail "s03: negative"
grep -q '^mlp_adapter_scale = 0.3$' "$tmp/res/finecliper-low--s03__dfew__f1__tiny__s1/config.ini" ||
  fail "s03: mlp_adapter_scale"
"$dfer" config --config "$tmp/res/finecliper-low--less__dfew__f1__tiny__s1/config.ini" >/dev/null ||
  fail "the arm's config.ini does not load"
"$python" - "$tmp/res" <<'EOF'
import json, os, sys
res = sys.argv[1]
want = {"finecliper-low__dfew__f1__tiny__s1": (None, ""),
        "finecliper-low--less__dfew__f1__tiny__s1": ("less", "negative=less"),
        "finecliper-low--s03__dfew__f1__tiny__s1": ("s03", "mlp_adapter_scale=0.3")}
listed = {j["job"]: j for j in json.load(open(os.path.join(res, "jobs.json")))}
for job, (arm, ablation) in want.items():
    r = json.load(open(os.path.join(res, job, "result.json")))
    assert r["status"] == "done", r
    assert (r.get("arm"), r.get("ablation")) == (arm, ablation), (job, r.get("arm"), r.get("ablation"))
    assert (listed[job].get("arm"), listed[job].get("ablation")) == (arm, ablation), listed[job]
text = open(os.path.join(res, "tables.md")).read()
def section(title):
    at = text.index("### " + title)
    nxt = text.find("\n### ", at + 4)
    return text[at:nxt if nxt >= 0 else len(text)]
t1 = section("Table 1")
for row in ("| finecliper (low) |", "| finecliper (low) [less] |", "| finecliper (low) [s03] |"):
    assert row in t1, (row, t1)
t7 = section("Table 7: the negative descriptor")
assert t7.index("| finecliper (low) [negative=less] |") < t7.index("| finecliper (low) |"), t7
t9 = section("Table 9: the MLP adapter's scale s")
assert t9.index("| finecliper (low) [mlp_adapter_scale=0.3] |") < t9.index("| finecliper (low) |"), t9
assert "### Table 5" not in text and "### Table 6" not in text, text
EOF
echo "PASS: matrix arms"
