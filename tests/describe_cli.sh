#!/usr/bin/env bash
# `dfer refine` and `dfer describe` on the synthetic benchmark: the planted
# emotion words of the descriptions (leaks_label=true) and of the captions are
# removed, every other text comes out byte for byte, refining again changes
# nothing (so no lexicon word is left: the check uses dfer's own lexicon), the
# landmark descriptions contain no lexicon word either, and bad input gives a
# clear message, a non-zero exit and leaves an existing OUT alone. describe finds nested tracks
# (Scene/Emotion/id) and gives a clip without a face prep's sentence; a repeated or no id in --ids is an error.
# usage: describe_cli.sh DFER PYTHON
set -u
dfer=$1 py=$2
tmp=$(mktemp -d /tmp/dfer-describe-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$dfer" synth --layout dfew --clips 200 --size 64 --seed 5 --threads 2 --out "$tmp/ds" 2>/dev/null ||
  { echo "FAIL: dfer synth"; exit 1; }
meta=$tmp/ds/synth/clips.jsonl

# {"clip","text"} inputs: the descriptions, and the captions (some name the emotion too)
"$py" - "$meta" "$tmp" <<'EOF' || { echo "FAIL: conversion"; exit 1; }
import json, sys
meta, tmp = sys.argv[1], sys.argv[2]
with open(meta) as f, open(tmp + "/desc.jsonl", "w") as d, open(tmp + "/cap.jsonl", "w") as c:
    for line in f:
        o = json.loads(line)
        d.write(json.dumps({"clip": o["id"], "text": o["description"]}) + "\n")
        c.write(json.dumps({"clip": o["id"], "text": o["caption"]}) + "\n")
EOF

for kind in desc cap; do
  "$dfer" refine --report "$tmp/$kind.jsonl" "$tmp/$kind.out.jsonl" 2>"$tmp/$kind.err" ||
    fail "$kind: dfer refine exited $? ($(cat "$tmp/$kind.err"))"
  grep -q "^refine: 200 clips" "$tmp/$kind.err" || fail "$kind: no summary: $(cat "$tmp/$kind.err")"
  # a second pass finds nothing: no lexicon word is left anywhere
  "$dfer" refine "$tmp/$kind.out.jsonl" "$tmp/$kind.again.jsonl" 2>"$tmp/$kind.again.err" || fail "$kind: second pass"
  grep -q "200 clips, 0 changed" "$tmp/$kind.again.err" || fail "$kind: second pass changed: $(cat "$tmp/$kind.again.err")"
  cmp -s "$tmp/$kind.out.jsonl" "$tmp/$kind.again.jsonl" || fail "$kind: second pass output differs"
done

# per clip: the planted word is gone and something was removed where it was planted;
# the other texts are unchanged byte for byte
"$py" - "$meta" "$tmp" <<'EOF' || fail "per-clip checks"
import json, re, sys
meta, tmp = sys.argv[1], sys.argv[2]
# the words dfer synth plants (src/data/synth.c), one per class
planted = {"happiness": "happy", "sadness": "sad", "neutral": "calm", "anger": "angry", "surprise": "surprised",
           "disgust": "disgusted", "fear": "afraid", "contempt": "contemptuous", "anxiety": "anxious",
           "helplessness": "helpless", "disappointment": "disappointed"}
def load(p):
    with open(p) as f:
        return {o["clip"]: o["text"] for o in map(json.loads, f)}
desc, cap = load(tmp + "/desc.out.jsonl"), load(tmp + "/cap.out.jsonl")
bad, leaks, named = 0, 0, 0
with open(meta) as f:
    for o in map(json.loads, f):
        cid, word = o["id"], planted[o["label_name"]]
        has = lambda t: re.search(r"\b" + word + r"\b", t, re.I) is not None
        for kind, out, src in (("description", desc, o["description"]), ("caption", cap, o["caption"])):
            got = out[cid]
            if has(got):
                print(f"{cid} {kind}: '{word}' left in: {got}"); bad += 1
            if has(src):
                if not (len(got) < len(src) and got.strip()):
                    print(f"{cid} {kind}: nothing removed or emptied: {got}"); bad += 1
            elif got != src:
                print(f"{cid} {kind}: changed without a planted word:\n  {src}\n  {got}"); bad += 1
        leaks += o["leaks_label"]
        named += has(o["caption"])
        if o["leaks_label"] != has(o["description"]):
            print(f"{cid}: leaks_label {o['leaks_label']} but planted word present: {has(o['description'])}"); bad += 1
print(f"refine on synth: {leaks} leaking descriptions and {named} naming captions cleaned, the rest unchanged")
if leaks < 20 or named < 20:
    print("too few leaking texts to test anything"); bad += 1
sys.exit(1 if bad else 0)
EOF

# descriptions from the landmarks: one per clip, no lexicon word (refine changes nothing)
"$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --out "$tmp/lm.jsonl" 2>"$tmp/lm.err" ||
  fail "describe: exit $? ($(cat "$tmp/lm.err"))"
[ "$(wc -l <"$tmp/lm.jsonl")" = 200 ] || fail "describe: $(wc -l <"$tmp/lm.jsonl") lines, want 200"
"$dfer" refine "$tmp/lm.jsonl" "$tmp/lm.refined.jsonl" 2>"$tmp/lm.refine.err"
grep -q "200 clips, 0 changed" "$tmp/lm.refine.err" || fail "describe: lexicon words in: $(cat "$tmp/lm.refine.err")"
printf '00003\n# a comment\n00001\n' >"$tmp/ids.txt"
"$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --ids "$tmp/ids.txt" --out "$tmp/two.jsonl" 2>/dev/null ||
  fail "describe --ids"
[ "$("$py" -c 'import json,sys; print(" ".join(json.loads(l)["clip"] for l in open(sys.argv[1])))' "$tmp/two.jsonl")" = "00003 00001" ] ||
  fail "describe --ids: $(cat "$tmp/two.jsonl")"
grep -qF "$(sed -n 3p "$tmp/lm.jsonl")" "$tmp/two.jsonl" || fail "describe --ids: another text for 00003 than without --ids"
# nested tracks (FERV39k's Scene/Emotion/id, as `dfer prep` writes them) are found without --ids, and a clip
# without a usable face gets prep's sentence instead of failing the command
mkdir -p "$tmp/nested/Scene/Happy"
cp "$tmp/ds/synth/landmarks/00001.txt" "$tmp/nested/Scene/Happy/0001.txt"
cp "$tmp/ds/synth/landmarks/00002.txt" "$tmp/nested/top.txt"
awk '{ printf "%s 10 10 20 20 mean\n", $0 }' "$tmp/ds/synth/landmarks/00003.txt" >"$tmp/nested/faceless.txt"
"$dfer" describe --landmarks "$tmp/nested" --out "$tmp/nested.jsonl" 2>"$tmp/nested.err" ||
  fail "describe of a nested folder: $(cat "$tmp/nested.err")"
[ "$("$py" -c 'import json,sys; print(" ".join(json.loads(l)["clip"] for l in open(sys.argv[1])))' "$tmp/nested.jsonl")" \
  = "Scene/Happy/0001 faceless top" ] || fail "describe of a nested folder: $(cat "$tmp/nested.jsonl")"
grep -qF '{"clip":"faceless","text":"No face was found in the clip."}' "$tmp/nested.jsonl" ||
  fail "describe: a clip without a face: $(grep faceless "$tmp/nested.jsonl")"
grep -q "3 clips (1 without a face)" "$tmp/nested.err" || fail "describe's summary: $(cat "$tmp/nested.err")"
grep -qF "$(sed -n 1p "$tmp/lm.jsonl" | sed 's/"00001"/"Scene\/Happy\/0001"/')" "$tmp/nested.jsonl" ||
  fail "describe: the nested track's text differs from the same track's at the top"
echo "describe: nested tracks found, a faceless clip described as prep does"

# bad input
expect_fail() { # NAME WANT_RC PATTERN CMD...
  local name=$1 want=$2 pat=$3
  shift 3
  "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
  local rc=$?
  [ "$rc" = "$want" ] || fail "$name: exit $rc, want $want ($(cat "$tmp/err.txt"))"
  grep -qE -e "$pat" "$tmp/err.txt" || fail "$name: stderr '$(cat "$tmp/err.txt")' lacks /$pat/"
}
printf '{"clip": "a", "text": "He is happy."}\n{"clip": "b", "text": \n' >"$tmp/bad.jsonl"
echo "keep me" >"$tmp/existing.jsonl"
expect_fail "malformed line" 1 "bad.jsonl:2: not valid JSON" "$dfer" refine "$tmp/bad.jsonl" "$tmp/existing.jsonl"
[ "$(cat "$tmp/existing.jsonl")" = "keep me" ] || fail "a failed refine touched OUT"
printf 'a\tThe brows rise.\na\tHe is sad.\n' >"$tmp/dup.tsv"
expect_fail "duplicate id" 1 "dup.tsv:2: duplicate clip id 'a' \(first on line 1\)" "$dfer" refine "$tmp/dup.tsv" "$tmp/x.jsonl"
expect_fail "missing input" 1 "/nonexistent/in.jsonl" "$dfer" refine /nonexistent/in.jsonl "$tmp/x.jsonl"
expect_fail "unwritable output" 1 "/nonexistent/dir/out.jsonl" "$dfer" refine "$tmp/desc.jsonl" /nonexistent/dir/out.jsonl
expect_fail "one argument" 2 "expected IN and OUT" "$dfer" refine "$tmp/desc.jsonl"
# JSON lines under a .tsv or .txt name would be read back as tab-separated (and refused): such a name is refused first
expect_fail "refine to a .tsv" 2 "refused.tsv: the descriptions are written as JSON lines" "$dfer" refine "$tmp/desc.jsonl" "$tmp/refused.tsv"
expect_fail "describe to a .txt" 2 "refused.txt: the descriptions are written as JSON lines" \
  "$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --out "$tmp/refused.txt"
[ ! -e "$tmp/refused.tsv" ] && [ ! -e "$tmp/refused.txt" ] || { echo "a refused output name was written"; exit 1; }
expect_fail "unknown option" 2 "see: dfer refine --help" "$dfer" refine --bogus a b
"$dfer" refine --help | grep -q -- "--report" || fail "refine --help"
printf 'a\tThe brows rise. He is sad.\nb\tThe lips part.\n' >"$tmp/in.tsv"
"$dfer" refine --report "$tmp/in.tsv" "$tmp/in.out.jsonl" 2>"$tmp/in.err" || fail "TSV input"
[ "$(cat "$tmp/in.out.jsonl")" = $'{"clip":"a","text":"The brows rise."}\n{"clip":"b","text":"The lips part."}' ] ||
  fail "TSV input: $(cat "$tmp/in.out.jsonl")"
grep -q "^a (line 1): 1 sentence(s), 1 clause(s) removed; words: sad" "$tmp/in.err" || fail "report: $(cat "$tmp/in.err")"
printf '00001\nnope\n' >"$tmp/ids2.txt"
expect_fail "describe: missing landmark file" 1 "ids2.txt:2: clip nope has no landmark track .*landmarks/nope.txt" \
  "$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --ids "$tmp/ids2.txt" --out "$tmp/x.jsonl"
# an id as a path or a file name would never match the dataset's (it was written as "./00002")
for bad in ./00002 00003.txt 00001/; do
  printf '00001
%s
' "$bad" >"$tmp/ids3.txt"
  expect_fail "describe: '$bad' as a clip id" 1 "ids3.txt:2: '$bad' is not a clip id" \
    "$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --ids "$tmp/ids3.txt" --out "$tmp/x.jsonl"
done
printf '1 2 3\n' >"$tmp/short.txt"
expect_fail "describe: malformed landmark file" 1 "short.txt:1:" "$dfer" describe --landmarks "$tmp" --ids <(echo short) --out "$tmp/x.jsonl"
printf '00001\n00002\n\n00001\n' >"$tmp/ids_dup.txt"
expect_fail "describe: a repeated id" 1 "ids_dup.txt:4: clip id '00001' again \(first on line 1\)" \
  "$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --ids "$tmp/ids_dup.txt" --out "$tmp/x.jsonl"
printf '# nothing\n\n' >"$tmp/ids_empty.txt"
expect_fail "describe: an id list without ids" 1 "ids_empty.txt: no clip ids" \
  "$dfer" describe --landmarks "$tmp/ds/synth/landmarks" --ids "$tmp/ids_empty.txt" --out "$tmp/x.jsonl"
expect_fail "describe: no --out" 2 "--out is required" "$dfer" describe --landmarks "$tmp"
"$dfer" describe --help | grep -q -- "--landmarks" || fail "describe --help"

[ "$failures" = 0 ] && echo "describe_cli: all passed"
exit "$failures"
