#!/usr/bin/env bash
# Every shipped configuration is valid, and docs/config.md is current: the method configs load (no unknown
# keys or bad values) and the matrices expand, each job with a valid
# configuration or waiting for a feature not built yet: the paper's supervised
# matrix (5 methods x 11 splits x 3 seeds = 165 jobs, indented continuation
# lines), the level ablation (4 variants x 11 splits x 3 seeds = 132), the other ablations (11 methods entries, arms
# among them, x 11 x 3 = 363; each arm's jobs, run, make the paper's Tables 5, 6, 7 and 9 with a published row under
# every row of ours), Fig. 8's fixed weights (6 x 11 x 3 = 198), the backbone
# sweep (33), DFER-CLIP on B/32 (33), DFER-CLIP's ablations (13 methods entries x 11 x 3 = 429; run, they make its
# paper's Tables 1, 3 and 4 with a published row under every row of ours) and the zero-shot pairs (6 and 11 A->A jobs, and MAFW's
# descriptions rows: 2 and 5), the demo (10),
# and the synthetic ablation (75), fixed-weight (20) and zero-shot (3) matrices. A matrix whose method config has an unknown key is reported as an error.
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
expect configs/paper/fusion.ini 198 198 0
# The ablation matrices' jobs as their identities say they would finish (--status --json: arm and ablation from each
# job's configuration), each with a result on ViT-B/16: dfer table --paper has ablations.ini's Tables 5, 6, 7 and 9,
# every row of ours in them followed by its published row, and fusion.ini's Figure 8, its five fixed weights in order
# and the adaptive model, whose row alone has published numbers (Table 1's: the paper plots the figure)
finished_tables() { # MATRIX OUT.md [ARCH]
  local name
  name=$(basename "$1" .ini)
  "$dfer" matrix --status --json "$1" --results "$tmp/none" >"$tmp/$name.json"
  /usr/bin/python3 - "$tmp/$name.json" "$tmp/$name-results" "${3:-ViT-B/16}" <<'EOF'
import json, os, sys
jobs, out, arch = json.load(open(sys.argv[1]))["jobs"], sys.argv[2], sys.argv[3]
keys = ("job", "method", "variant", "arm", "ablation", "dataset", "eval_dataset", "fold", "backbone", "seed", "setting")
for j in jobs:
    r = {k: j[k] for k in keys if k in j}
    r.update(status="done", uar=50.0, war=60.0, clip_arch=arch)
    os.makedirs(os.path.join(out, j["job"]))
    json.dump(r, open(os.path.join(out, j["job"], "result.json"), "w"))
EOF
  "$dfer" table "$tmp/$name-results" --paper >"$2"
}
finished_tables configs/paper/ablations.ini "$tmp/ablations.md"
finished_tables configs/paper/fusion.ini "$tmp/fusion.md"
/usr/bin/python3 - "$tmp/ablations.md" "$tmp/fusion.md" <<'EOF'
import sys
def rows(path, title):
    text = open(path).read()
    at = text.index("### " + title)
    end = text.find("\n### ", at + 4)
    return [l for l in text[at:end if end >= 0 else None].splitlines() if l.startswith("| finecliper")]
for title, n in {"Table 5": 4, "Table 6": 5, "Table 7": 2, "Table 9": 3}.items():
    table = rows(sys.argv[1], title)
    assert len(table) == 2 * n, (title, table)
    for ours, paper in zip(table[0::2], table[1::2]):  # each row of ours, then the published row of its model
        model = ours.split(" | ")[0][2:]
        assert paper.startswith(f"| {model}, paper (ViT-B/16) |"), (title, ours, paper)
print("configs/paper/ablations.ini: Tables 5, 6, 7 and 9 with a published row under each of its rows")
figure = [l.split(" | ")[0][2:] for l in rows(sys.argv[2], "Figure 8")]
want = [f"finecliper (low+mid+high) [fusion_weights=fixed, fusion_video_weight={w}]" for w in (0.1, 0.3, 0.5, 0.7, 0.9)]
assert figure == want + ["finecliper (low+mid+high)", "finecliper (low+mid+high), paper (ViT-B/16)"], figure
print("configs/paper/fusion.ini: Figure 8's five fixed weights in order, then the adaptive model and its published row")
EOF
expect configs/paper/backbones.ini 33 33 0
expect configs/paper/dfer_clip_b32.ini 33 33 0
expect configs/paper/dfer_clip_ablations.ini 429 429 0
finished_tables configs/paper/dfer_clip_ablations.ini "$tmp/dfer_clip_ablations.md" ViT-B/32
/usr/bin/python3 - "$tmp/dfer_clip_ablations.md" <<'EOF'
import sys
text = open(sys.argv[1]).read()
def rows(title):
    at = text.index("### " + title)
    end = text.find("\n### ", at + 4)
    return [l for l in text[at:end if end >= 0 else None].splitlines() if l.startswith("| dfer_clip")]
for title, n in {"DFER-CLIP Table 1": 6, "DFER-CLIP Table 3": 6, "DFER-CLIP Table 4": 4}.items():
    table = rows(title)
    assert len(table) == 2 * n, (title, table)
    for ours, paper in zip(table[0::2], table[1::2]):  # each row of ours, then the published row of its model
        model = ours.split(" | ")[0][2:]
        assert paper.startswith(f"| {model}, paper (ViT-B/32) |"), (title, ours, paper)
print("configs/paper/dfer_clip_ablations.ini: DFER-CLIP's Tables 1, 3 and 4 with a published row under each of its rows")
EOF
expect configs/paper/zeroshot.ini 24 24 0
expect configs/demo/matrix.ini 10 10 0
expect configs/synth/ablation.ini 75 75 0
expect configs/synth/fusion.ini 20 20 0
expect configs/synth/zeroshot.ini 3 3 0
printf '[model]\nmethod = finecliper\nnosuch = 1\n' >"$tmp/bad.ini"
printf '[matrix]\nname = bad\nmethods = finecliper=%s\ndatasets = dfew=/data\nbackbones = b16=/w\n' "$tmp/bad.ini" >"$tmp/m.ini"
if "$dfer" matrix --list "$tmp/m.ini" >"$tmp/out" 2>&1; then echo "a bad method config was accepted"; exit 1; fi
grep -q "ERROR: .*nosuch" "$tmp/out" || { echo "unclear report:"; cat "$tmp/out"; exit 1; }
echo "a matrix whose method config has an unknown key: $(grep ERROR "$tmp/out" | head -n 1 | cut -c1-160)"
