#!/usr/bin/env bash
# dfer report end to end: a real 4-job matrix (FineCLIPER and DFER-CLIP, 2
# folds, 2 epochs) on a synthetic set with a random tiny CLIP, a hand-made
# failed job (with markup in its names and error, to check the escaping) and a
# job of jobs.json that never ran, then:
#  - bad input: a missing directory, a directory without results, a malformed
#    result.json: each a clear message and status 1;
#  - the HTML: a section per job with its charts, the summary and paper tables
#    with the expected rows, each <svg> well-formed XML, confusion heat maps with
#    C x C cells, nothing loaded from elsewhere (no scripts, links, images, no
#    http(s) reference outside text), names escaped;
#  - headless Chromium from Debian with no network: the DOM it builds still has
#    every chart, and the screenshot is a rendered page (many colours, ink
#    coverage, the heat maps' palette colours and the series colours present).
# Skips (77) only when chromium is not installed (scripts/setup installs it).
# usage: report.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") py=$4
tmp=$(mktemp -d /tmp/dfer-report-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
start=$SECONDS
. "$src/tests/lib/matrix_fixture.sh"

# ---- a small real matrix -------------------------------------------------------------------
matrix_fixture name=report-test ranks_per_job=1 methods="finecliper dfer_clip" epochs=2 set="train.log_every = 2"
res=$tmp/results
mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$res" >"$tmp/matrix.log" 2>&1 \
  || { echo "the matrix failed"; tail -n 30 "$tmp/matrix.log"; exit 1; }
echo "matrix: 4 jobs in $((SECONDS - start)) s"

# a failed job with markup, a control character and invalid UTF-8 in its names, error and config, and a
# listed job that never ran
mkdir -p "$res/bad-job"
cat >"$res/bad-job/result.json" <<'JSON'
{"job": "bad-job", "method": "finecliper", "variant": "mid & <high>", "dataset": "dfew", "eval_dataset": "dfew",
 "fold": 1, "backbone": "tiny", "seed": 1, "setting": "supervised", "status": "failed",
 "error": "<script>alert(\"x\")</script> & a 'quoted'\u0001 cause: see http://example.invalid/help",
 "commit": "0123456789ab", "command": "dfer matrix m.ini", "host": "node<1>"}
JSON
printf '[model]\nmethod = finecliper\nprompt = A <b>person</b> & "friends"\n' >"$res/bad-job/config.ini"
"$py" -c 'import sys; p = sys.argv[1]; b = open(p, "rb").read(); open(p, "wb").write(b.replace(b" cause:", b" cause \xff\xc3(:"))' \
  "$res/bad-job/result.json" # invalid UTF-8 too: the page must stay valid
"$py" - "$res/jobs.json" <<'PY'
import json, sys
jobs = json.load(open(sys.argv[1]))
extra = dict(jobs[-1], job="never-ran__dfew__f3", fold=3)
bad = dict(jobs[-1], job="bad-job", method="finecliper", variant="mid & <high>", dataset="dfew", eval_dataset="dfew",
           fold=1, backbone="tiny", seed=1, setting="supervised")  # a job of the matrix: its tables count it
json.dump(jobs + [bad, extra], open(sys.argv[1], "w"), indent=1)  # the job that never ran last
PY

# ---- bad input -----------------------------------------------------------------------------------
expect_fail() { # message command...
  local msg=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then echo "accepted: $*"; exit 1; fi
  grep -qF -- "$msg" "$tmp/out" || { echo "expected '$msg' from: $*"; cat "$tmp/out"; exit 1; }
}
expect_fail "no such results directory" "$dfer" report "$tmp/nowhere" -o "$tmp/x.html"
mkdir "$tmp/empty"
expect_fail "no <job>/result.json found" "$dfer" report "$tmp/empty" -o "$tmp/x.html"
mkdir -p "$tmp/broken/j1" && printf '{"job": "j1",\n "status": "done",\n "uar": 1,, }\n' >"$tmp/broken/j1/result.json"
expect_fail "$tmp/broken/j1/result.json: malformed JSON (line 3)" "$dfer" report "$tmp/broken" -o "$tmp/x.html"
[ ! -e "$tmp/x.html" ] || { echo "a failed report left a page behind"; exit 1; }
# beside readable results a malformed one does not stop the page (as dfer table): its section shows the
# error, the tables a note; a folder jobs.json does not list stays out of the tables, with a note, as in dfer table
"$dfer" report --help | grep -q "usage: dfer report"
echo "bad input: missing directory, no results and malformed JSON each named, status 1"

# ---- --paper: a FineCLIPER-dagger result on ViT-B/16 gets FineCLIPER Table 1's FERV39k row under it --
mkdir -p "$tmp/paper/j1"
printf '%s\n' '{"job": "j1", "method": "finecliper", "variant": "low+high", "dataset": "ferv39k", "fold": 0,
 "backbone": "b16", "seed": 1, "setting": "supervised", "status": "done", "uar": 40.5, "war": 50.25,
 "clip_arch": "ViT-B/16"}' >"$tmp/paper/j1/result.json"
"$dfer" report "$tmp/paper" --paper -o "$tmp/paper.html" >/dev/null
grep -q "<td>finecliper (low+high), paper (ViT-B/16)</td><td>43.86</td><td>53.02</td>" "$tmp/paper.html" \
  || { echo "dfer report --paper: no published row"; exit 1; }
! grep -q "epoch nan" "$tmp/paper.html" || { echo "a result without its best epoch is shown 'at epoch nan'"; exit 1; }
# FERV39k has no folds: its job (fold 0 in result.json) shows no "fold 0", in the jobs table nor its section
grep -q '<td>ferv39k</td><td></td><td class="num">—</td>' "$tmp/paper.html" \
  || { echo "the FERV39k job's fold is not shown as —"; exit 1; }
! grep -q "fold 0" "$tmp/paper.html" || { echo "the FERV39k job is shown with a fold 0"; exit 1; }
"$dfer" report "$tmp/paper" -o "$tmp/paper0.html" >/dev/null
! grep -q "paper (ViT" "$tmp/paper0.html" || { echo "dfer report without --paper shows published rows"; exit 1; }

# ---- the page ---------------------------------------------------------------------------------------
"$dfer" report "$res" -o "$tmp/report.html" >"$tmp/report.log"
grep -q "6 jobs, 4 done, 1 failed, 1 missing" "$tmp/report.log" || { cat "$tmp/report.log"; exit 1; }
# each trained job's provenance names the weights it read with the start of their digest
sha=$(sha256sum "$tmp/clip.safetensors" | cut -c1-16)
[ "$(grep -c "<tr><td>weights</td><td><code>$(realpath "$tmp/clip.safetensors") (sha256 $sha)</code>" "$tmp/report.html")" = 4 ] \
  || { echo "the report's provenance does not give the weights' digest for the 4 trained jobs"; exit 1; }
"$py" - "$tmp/report.html" "$res/jobs.json" <<'PY'
import json, re, sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

html = open(sys.argv[1], encoding="utf-8").read()
jobs = [j["job"] for j in json.load(open(sys.argv[2]))]
ran = [j for j in jobs if j not in ("never-ran__dfew__f3", "bad-job")]
assert len(ran) == 4, jobs

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.tags, self.bad = {}, [], []
        self.section = None
        self.tables, self.row, self.cell, self.in_cell = [], None, None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for k, v in attrs:  # no reference to anything outside the page (the SVG namespace is a name, not a fetch)
            if v and "://" in v and not (k == "xmlns" and v == "http://www.w3.org/2000/svg"):
                self.bad.append((tag, k, v))
        if tag == "section" and "job" in a.get("class", ""):
            self.section = a["id"][len("job-"):]
            self.sections[self.section] = []
        elif tag == "svg" and self.section is not None:
            self.sections[self.section].append(a.get("class", ""))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.row = []
            self.tables[-1].append(self.row)
        elif tag in ("td", "th"):
            self.cell, self.in_cell = "", True
    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        elif tag in ("td", "th") and self.in_cell:
            self.row.append(self.cell.strip())
            self.in_cell = False
    def handle_data(self, data):
        if self.in_cell:
            self.cell += data

p = Page()
p.feed(html)
assert not p.bad, f"references outside the page: {p.bad}"
for tag in ("script", "link", "img", "iframe", "object", "embed"):
    assert tag not in p.tags, f"<{tag}> in the page"
assert "@import" not in html and "url(" not in html, "a style loads something"
# a section per job that has a result; done jobs have 4 charts, the failed one none (it never trained)
assert sorted(p.sections) == sorted(ran + ["bad-job"]), sorted(p.sections)
for j in ran:
    kinds = " ".join(p.sections[j])
    for k in ("line-chart", "heatmap", "bar-chart"):
        assert k in kinds, (j, k, kinds)
    assert len(p.sections[j]) == 4, (j, p.sections[j])
assert p.sections["bad-job"] == [], p.sections["bad-job"]
# escaping: the failed job's markup arrives as text, never as markup
assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a &#39;quoted&#39;" in html
assert "\x01" not in html and "cause \ufffd\ufffd(: see http://example.invalid" in html  # read as strict UTF-8 above
assert "mid &amp; &lt;high&gt;" in html and "node&lt;1&gt;" in html and "A &lt;b&gt;person&lt;/b&gt; &amp;" in html
assert re.search(r'id="missing".*never-ran__dfew__f3</code>: not started', html, re.S), "the missing job is not listed"
# every SVG is well-formed XML, every heat map has C x C cells
svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
assert len(svgs) == 4 * 4 + 1, f"{len(svgs)} charts"
cells = []
for s in svgs:
    root = ET.fromstring(s)
    ns = "{http://www.w3.org/2000/svg}"
    if "heatmap" in root.get("class"):
        rects = [r for r in root.iter(ns + "rect") if r.get("class") == "hm-cell"]
        assert len(rects) == 49, len(rects)  # DFEW's 7 classes
        cells.append(len(rects))
        texts = [t.text for t in root.iter(ns + "text")]
        for name in ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"):
            assert texts.count(name) == 2, (name, texts)  # a row and a column
    if "strip-plot" in root.get("class"):
        assert len([c for c in root.iter(ns + "circle") if c.get("class") == "point"]) == 2 * 2 * 2
assert len(cells) == 4
# the summary table: one row per job; the paper's Table 1: one row per method, the failed variant as failed
summary = next(t for t in p.tables if t and t[0][:2] == ["job", "method"])
assert len(summary) == 1 + 6 and sum("failed" in r for r in summary) == 1, summary
t1 = next(t for i, t in enumerate(p.tables) if t and t[0] == ["method", "DFEW UAR", "DFEW WAR"])
rows = {r[0]: r[1:] for r in t1[1:]}
assert set(rows) == {"finecliper (low)", "dfer_clip", "finecliper (mid & <high>)"}, rows
assert rows["finecliper (mid & <high>)"] == ["failed (1)", "failed (1)"], rows
never = json.load(open(sys.argv[2]))[-1]  # the listed job that never ran counts as missing in its row
never = never["method"] + (f' ({never["variant"]})' if never["variant"] else "")
for m in ("finecliper (low)", "dfer_clip"):
    n = r"\(2/3\)" if m == never else r"\(2\)"
    assert len(rows[m]) == 2 and all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d " + n, c) for c in rows[m]), rows[m]
print(f"html: {len(html)} bytes, {len(p.sections)} job sections, {len(svgs)} well-formed SVGs, tables as expected")
PY
echo "report checks: $((SECONDS - start)) s"

# ---- headless Chromium, offline -----------------------------------------------------------------------
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (scripts/setup installs Debian's chromium); the HTML checks above passed"
  exit 77
fi
# no network: a network namespace of its own where we may make one, and in any case no DNS and a dead proxy
nonet=()
if unshare -rn true 2>/dev/null; then nonet=(unshare -rn); fi
browse() {
  timeout 180 "${nonet[@]}" "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-extensions --disable-background-networking --disable-sync --disable-component-update \
    --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server="http://127.0.0.1:9" \
    --user-data-dir="$tmp/profile" --window-size=1280,8000 "$@" "file://$tmp/report.html"
}
browse --screenshot="$tmp/shot.png" >"$tmp/chromium.log" 2>&1 || { echo "chromium failed"; tail -n 20 "$tmp/chromium.log"; exit 1; }
browse --dump-dom >"$tmp/dom.html" 2>"$tmp/chromium-dom.log" || { echo "chromium --dump-dom failed"; tail -n 20 "$tmp/chromium-dom.log"; exit 1; }
"$py" - "$tmp/report.html" "$tmp/dom.html" "$tmp/shot.png" <<'PY'
import re, sys
from PIL import Image

html, dom = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
n_svg = len(re.findall(r"<svg\b", html))
assert len(re.findall(r"<svg\b", dom)) == n_svg, "the browser's DOM lost charts"
assert dom.count('class="hm-cell"') == html.count('class="hm-cell"') and "Table 1: supervised results" in dom
img = Image.open(sys.argv[3]).convert("RGB")
assert img.size == (1280, 8000), img.size
colours = img.getcolors(maxcolors=1 << 24)
counts = {c: n for n, c in colours}
ink = sum(n for c, n in counts.items() if sum(c) < 3 * 235) / (img.size[0] * img.size[1])
assert len(counts) > 300, f"only {len(counts)} colours: a blank or broken render"
assert ink > 0.03, f"only {ink:.1%} of the page is not white"
hexes = lambda h: tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))
near = lambda c: any(max(abs(a - b) for a, b in zip(c, k)) <= 2 for k in counts)
# the heat map cells' colours (those of the first heat map, high in the page) and the series colours
first_map = re.search(r'<svg[^>]*class="chart heatmap".*?</svg>', html, re.S).group(0)
fills = sorted(set(re.findall(r'class="hm-cell"[^>]*fill="(#[0-9a-f]{6})"', first_map)))
assert fills, "no heat map cell colours found in the page"
present = [f for f in fills if near(hexes(f))]
assert len(present) >= 0.9 * len(fills), f"heat map colours missing from the screenshot: {set(fills) - set(present)}"
# its colour scale: ten steps of the ramp (a model that predicts one class leaves few cell colours)
scale = re.findall(r'class="hm-scale"[^>]*fill="(#[0-9a-f]{6})"', first_map)
assert len(set(scale)) == 10 and sum(near(hexes(f)) for f in scale) >= 9, f"the heat map's scale is not rendered: {scale}"
for f in ("#0072b2", "#d55e00", "#08306b"):  # UAR/bars, WAR/reference line, the ramp's darkest (the colour scale)
    assert near(hexes(f)), f"{f} is not in the screenshot"
print(f"chromium: {n_svg} charts in the DOM; screenshot {img.size[0]}x{img.size[1]} with {len(counts)} colours, "
      f"{ink:.1%} ink, {len(present)}/{len(fills)} heat map cell colours and the 10-step colour scale")
PY
# notes: one weights file and one commit behind every job say nothing; a job retrained from another weights
# file (another digest) under another commit is named, by dfer table (stderr) and in the report
"$dfer" table "$res" >/dev/null 2>"$tmp/table.err"
! grep -q "^note:" "$tmp/table.err" || { cat "$tmp/table.err"; echo "notes for a consistent matrix"; exit 1; }
! grep -q 'class="note"' "$tmp/report.html" || { echo "the report has notes for a consistent matrix"; exit 1; }
cp -r "$res" "$tmp/mixed"
odd=$(cd "$tmp/mixed" && ls -d finecliper*/ | head -n 1) odd=${odd%/}
"$py" - "$tmp/mixed/$odd/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["inputs"]["weights"]["sha256"] = "f" * 64
r["commit"] = "0123456789ab"
json.dump(r, open(sys.argv[1], "w"))
PY
"$dfer" table "$tmp/mixed" >/dev/null 2>"$tmp/table.err"
note=$(grep "^note: backbone 'tiny' was read from 2 different weights files (sha256 .*): its rows mix them$" "$tmp/table.err") \
  && grep -qF "$(cut -c1-12 <<<"$sha") in 3 jobs (the first " <<<"$note" && grep -qF "ffffffffffff in 1 job ($odd)" <<<"$note" \
  && grep -q "^note: the results come from 2 commits of dfer: .*0123456789ab in 1 job ($odd)" "$tmp/table.err" \
  || { cat "$tmp/table.err"; echo "dfer table does not name the mixed weights and commits"; exit 1; }
"$dfer" report "$tmp/mixed" -o "$tmp/mixed.html" >/dev/null
[ "$(grep -c '<p class="note">Note: ' "$tmp/mixed.html")" = 2 ] || { echo "the report does not show the 2 notes"; exit 1; }
echo "notes: none for the matrix as it ran; a job from other weights and another commit named by dfer table and the report"
# beside readable results a malformed result.json does not stop the page (as dfer table): its section shows the
# error, the tables a note; a results folder jobs.json does not list stays out of the tables with a note, as in
# dfer table (the report's tables counted it)
cp -r "$res" "$tmp/partly"
printf '{"status": "done", "uar": 1' >"$tmp/partly/$odd/result.json"
cp -r "$tmp/partly/$(cd "$res" && ls -d dfer_clip*/ | head -n 1)" "$tmp/partly/stray-copy"
"$dfer" report "$tmp/partly" -o "$tmp/partly.html" >"$tmp/partly.log" || { cat "$tmp/partly.log"; echo "a malformed result.json stopped the report"; exit 1; }
grep -q "1 with a result.json that cannot be read" "$tmp/partly.log" \
  && grep -q "<pre class=\"error\">$tmp/partly/$odd/result.json: malformed JSON" "$tmp/partly.html" \
  && grep -q "Note: left out of the tables: $tmp/partly/$odd/result.json: malformed JSON" "$tmp/partly.html" \
  && grep -q "Note: 1 result folder that jobs.json does not list .* left out of the tables: stray-copy" "$tmp/partly.html" \
  && grep -q "(1 of them left out of the tables and plots: see the notes)" "$tmp/partly.html" \
  || { cat "$tmp/partly.log"; echo "the report with a malformed result.json and a stray folder"; exit 1; }
# the spread plots count what the tables count: the stray copy is no point of them (it was)
"$py" - "$tmp/partly.html" "$tmp/partly/stray-copy" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
spread = html[html.index('id="spread"'):html.index('id="jobs"')]
points = len(re.findall(r"fold \d+, seed \d+", spread))
# every finished, readable job of jobs.json is one point per series (UAR and WAR); the copy and the malformed file none
import json, os
res = os.path.dirname(sys.argv[2])
listed = {j["job"] for j in json.load(open(f"{res}/jobs.json"))}
done = 0
for j in listed:
    try: done += json.load(open(f"{res}/{j}/result.json")).get("status") == "done"
    except (OSError, ValueError): pass
assert points == 2 * done, f"{points} points in the spread plots, {done} counted jobs (x2 series)"
print(f"spread plots: {points} points for {done} counted jobs; the stray copy left out")
PY
# a damaged line in the middle of a job's metrics.jsonl costs that job its curves past it, not the page
victim=$(cd "$res" && ls -d finecliper*/ | head -n 1)
victim=${victim%/}
sed -i '2s/.*/{"type": "step", "epoch": 1, "lo/' "$tmp/partly/$victim/metrics.jsonl"
"$dfer" report "$tmp/partly" -o "$tmp/partly2.html" >"$tmp/partly2.log" 2>&1 \
  && grep -q "<pre class=\"error\">$tmp/partly/$victim/metrics.jsonl:2: .* (the curves stop before it)" "$tmp/partly2.html" \
  || { cat "$tmp/partly2.log"; echo "a damaged metrics.jsonl line stopped the report or went unsaid"; exit 1; }
echo "a damaged metrics.jsonl line: the page written, the job's section says where its curves stop"
"$dfer" table "$tmp/partly" --format md >"$tmp/partly-table.md" 2>/dev/null
"$py" - "$tmp/partly.html" "$tmp/partly-table.md" <<'PY'
import re, sys
html, md = open(sys.argv[1]).read(), open(sys.argv[2]).read()
# the report's Table 1 cells are dfer table's: the same numbers in the same order
cells = lambda text: re.findall(r"\d+\.\d\d ± \d+\.\d\d|\d+\.\d\d", text)
t_html = html[html.index('id="tables"'):]
t_html = t_html[:t_html.index("</table>")]
t_md = md[:md.index("\n\n", md.index("| method"))]
assert cells(t_html) == cells(t_md), (cells(t_html), cells(t_md))
print("the report's Table 1 is dfer table's:", cells(t_md))
PY
echo "report rendered offline in headless Chromium ($([ ${#nonet[@]} -gt 0 ] && echo "own network namespace" || echo "no DNS, dead proxy")); $((SECONDS - start)) s in all"
