#!/usr/bin/env bash
# Every shipped configuration is valid, and docs/config.md is current: the method configs load (no unknown
# keys or bad values) and the matrices expand, each job with a valid
# configuration or waiting for a feature not built yet: the paper's supervised
# matrix (5 methods x 11 splits x 3 seeds = 165 jobs, indented continuation
# lines), the level ablation (4 variants x 11 splits x 3 seeds = 132), the other ablations (11 methods entries, arms
# among them, x 11 x 3 = 363; each arm's jobs, run, make the paper's Tables 5, 6, 7 and 9 with a published row under
# every row of ours), the backbone
# sweep (33), DFER-CLIP on B/32 (33) and the zero-shot pairs (6 and 11 A->A jobs, and MAFW's
# descriptions rows: 2 and 5), the demo (10),
# and the synthetic ablation (75) and zero-shot (3) matrices. A matrix whose method config has an unknown key is reported as an error.
# usage: configs_check.sh DFER SOURCE_DIR
set -euo pipefail
dfer=$1 src=$2
cd "$src"
tmp=$(mktemp -d /tmp/dfer-configs-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for f in configs/paper/finecliper.ini configs/paper/dfer_clip.ini configs/synth/finecliper.ini configs/synth/dfer_clip.ini \
         configs/synth/pretrain.ini; do
  "$dfer" config --config "$f" >"$tmp/resolved.ini" || { echo "$f does not load"; exit 1; }
done
echo "method configs load: paper and synth, FineCLIPER and DFER-CLIP"
"$dfer" config --markdown | cmp -s - docs/config.md \
  || { echo "docs/config.md is out of date: regenerate it with dfer config --markdown > docs/config.md"; exit 1; }
echo "docs/config.md is what dfer config --markdown prints"
expect() { # matrix jobs runnable waiting
  local line
  line=$("$dfer" matrix --list "$1" | tail -n 1)
  [ "$line" = "matrix $(sed -n 's/^name = //p' "$1"): $2 jobs, $3 runnable, $4 waiting for features not built yet, 0 with errors" ] \
    || { echo "$1: $line"; exit 1; }
  echo "$1: $line"
}
expect configs/paper/supervised.ini 165 165 0
expect configs/paper/levels.ini 132 132 0
expect configs/paper/ablations.ini 363 363 0
# the ablations' jobs as their identities say they would finish (--status --json: arm and ablation from each job's
# configuration), each with a result on ViT-B/16: dfer table --paper has Tables 5, 6, 7 and 9, every row of ours in
# them followed by its published row
"$dfer" matrix --status --json configs/paper/ablations.ini --results "$tmp/none" >"$tmp/ablations.json"
/usr/bin/python3 - "$tmp/ablations.json" "$tmp/ablation-results" <<'EOF'
import json, os, sys
jobs, out = json.load(open(sys.argv[1]))["jobs"], sys.argv[2]
keys = ("job", "method", "variant", "arm", "ablation", "dataset", "eval_dataset", "fold", "backbone", "seed", "setting")
for j in jobs:
    r = {k: j[k] for k in keys if k in j}
    r.update(status="done", uar=50.0, war=60.0, clip_arch="ViT-B/16")
    os.makedirs(os.path.join(out, j["job"]))
    json.dump(r, open(os.path.join(out, j["job"], "result.json"), "w"))
EOF
"$dfer" table "$tmp/ablation-results" --paper >"$tmp/ablation-tables.md"
/usr/bin/python3 - "$tmp/ablation-tables.md" <<'EOF'
import sys
text = open(sys.argv[1]).read()
for title, n in {"Table 5": 4, "Table 6": 5, "Table 7": 2, "Table 9": 3}.items():
    at = text.index("### " + title)
    end = text.find("\n### ", at + 4)
    table = [l for l in text[at:end if end >= 0 else None].splitlines() if l.startswith("| finecliper")]
    assert len(table) == 2 * n, (title, table)
    for ours, paper in zip(table[0::2], table[1::2]):  # each row of ours, then the published row of its model
        model = ours.split(" | ")[0][2:]
        assert paper.startswith(f"| {model}, paper (ViT-B/16) |"), (title, ours, paper)
print("configs/paper/ablations.ini: Tables 5, 6, 7 and 9 with a published row under each of its rows")
EOF
expect configs/paper/backbones.ini 33 33 0
expect configs/paper/dfer_clip_b32.ini 33 33 0
expect configs/paper/zeroshot.ini 24 24 0
expect configs/demo/matrix.ini 10 10 0
expect configs/synth/ablation.ini 75 75 0
expect configs/synth/zeroshot.ini 3 3 0
printf '[model]\nmethod = finecliper\nnosuch = 1\n' >"$tmp/bad.ini"
printf '[matrix]\nname = bad\nmethods = finecliper=%s\ndatasets = dfew=/data\nbackbones = b16=/w\n' "$tmp/bad.ini" >"$tmp/m.ini"
if "$dfer" matrix --list "$tmp/m.ini" >"$tmp/out" 2>&1; then echo "a bad method config was accepted"; exit 1; fi
grep -q "ERROR: .*nosuch" "$tmp/out" || { echo "unclear report:"; cat "$tmp/out"; exit 1; }
echo "a matrix whose method config has an unknown key: $(grep ERROR "$tmp/out" | head -n 1 | cut -c1-160)"
