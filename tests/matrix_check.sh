#!/usr/bin/env bash
# dfer matrix --check: each job's inputs opened as its start would open them, before anything is
# submitted. One matrix whose jobs each lack one thing, and the ones that lack nothing:
#   - the low level on the synthetic set: ok;
#   - a backbone whose weights file does not exist: MISSING, naming the backbone and the file; with the high and
#     middle levels' inputs missing too, each is named after it (the weights' message hid them until mended);
#   - weights in a folder without the BPE vocabulary: MISSING, "no CLIP vocabulary";
#   - the high level without its descriptions file, and with a file that lacks one training clip's:
#     MISSING, naming the file and then the clip;
#   - the middle level with every landmark track: ok; with one track removed: MISSING, naming it (ok within
#     data.max_bad_fraction);
#   - zero-shot onto a dataset root that does not exist: MISSING, naming the test split file;
#   - a method config with an unknown key: ERROR, as --list says;
#   - a method file whose variant the matrix entry would overrule, a batch that does not split over
#     matrix.ranks_per_job: ERROR;
#   - a job whose ranks would not fit train.gpu_mem on a GPU (train.device cuda or auto): NOFIT, with what it
#     needs; on the CPU the cap is not checked.
# --check exits 1 and counts each kind; --list on the same matrix still says "ok" for the jobs
# whose configuration is valid (it reads no inputs). With the inputs made whole, --check exits 0.
# usage: matrix_check.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-check-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=check-test
fc=$src/configs/synth/finecliper.ini
mkdir "$tmp/novocab" && cp "$tmp/clip.safetensors" "$tmp/novocab/"
# a clip of fold 1's training split (the split file: a header, then video_name,label)
train_clip=$(printf '%05d' "$(sed -n 2p "$tmp/data/EmoLabel_DataSplit/train(single-labeled)/set_1.csv" | cut -d, -f1)")
# descriptions of every clip (the synthetic set's label-free ones), and a copy without that clip's
python3 - "$tmp/data/synth/clips.jsonl" "$tmp/desc.jsonl" "$tmp/desc_short.jsonl" "$train_clip" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as full, open(sys.argv[3], "w") as short:
    for r in rows:
        line = json.dumps({"clip": r["id"], "text": r["description"]}) + "\n"
        full.write(line)
        if r["id"] != sys.argv[4]: short.write(line)
EOF
cp -r "$tmp/data/synth/landmarks" "$tmp/tracks"
printf '[model]\nmethod = finecliper\nnosuch = 1\n' >"$tmp/bad.ini"
write_matrix() { # write_matrix FILE NAME METHODS DATASETS BACKBONES SETTINGS [SET LINES]
  printf '[matrix]\nname = %s\nranks_per_job = 1\nmethods = %s\ndatasets = %s\nfolds = 1\nbackbones = %s\nseeds = 1\nsettings = %s\n[set]\ntrain.epochs = 1\n%s\n' \
    "$2" "$3" "$4" "$5" "$6" "${7:-}" >"$1"
}
# one matrix per kind of input, so that each job's line says one thing
write_matrix "$tmp/m_weights.ini" w "finecliper=$fc" "dfew=$tmp/data" \
  "tiny=$tmp/clip.safetensors, gone=$tmp/nothere.safetensors, novocab=$tmp/novocab/clip.safetensors" supervised
write_matrix "$tmp/m_levels.ini" l "finecliper:low+high=$fc, finecliper:low+mid=$fc" "dfew=$tmp/data" \
  "tiny=$tmp/clip.safetensors" supervised \
  "$(printf 'model.descriptions = %s\ndata.landmarks = %s\ndata.max_bad_fraction = 0' "$tmp/none.jsonl" "$tmp/tracks")"
write_matrix "$tmp/m_short.ini" s "finecliper:low+high=$fc" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised \
  "model.descriptions = $tmp/desc_short.jsonl"
write_matrix "$tmp/m_zs.ini" z "finecliper=$fc" "dfew=$tmp/data, mafw=$tmp/gone" "tiny=$tmp/clip.safetensors" \
  "zeroshot:dfew->mafw" "data.captions = descriptions
model.descriptions = $tmp/desc.jsonl"
write_matrix "$tmp/m_bad.ini" b "finecliper=$fc, odd=$tmp/bad.ini" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised

check() { # check MATRIX: --check's output in $tmp/out, its exit status in $rc
  rc=0
  "$dfer" matrix --check "$1" >"$tmp/out" 2>&1 || rc=$?
}
job() { grep "^$1 " "$tmp/out" | sed 's/^[^ ]* *//'; }

check "$tmp/m_weights.ini"
cat "$tmp/out"
[ "$rc" = 1 ] || fail "--check with missing inputs exited $rc"
[ "$(job finecliper-low__dfew__f1__tiny__s1)" = ok ] || fail "a whole job is not ok"
job finecliper-low__dfew__f1__gone__s1 | grep -q "^MISSING: backbone gone (model.weights): $tmp/nothere.safetensors: cannot open" || fail "missing weights"
job finecliper-low__dfew__f1__novocab__s1 | grep -q "^MISSING: no CLIP vocabulary" || fail "missing vocabulary"
grep -q "^matrix w: 3 jobs, 1 runnable, 0 waiting for features not built yet, 0 with errors, 2 with missing or unreadable inputs, 0 over train.gpu_mem$" \
  "$tmp/out" || fail "summary line"
grep -q "2 jobs would fail at their start" "$tmp/out" || fail "the error line"
"$dfer" matrix --list "$tmp/m_weights.ini" >"$tmp/list" || fail "--list reads inputs"
[ "$(grep -c '  ok$' "$tmp/list")" = 3 ] || fail "--list does not say ok for valid configurations"

# every missing input of a job, not the first only: weights, descriptions and face tracks of one job
write_matrix "$tmp/m_all.ini" a "finecliper:low+mid+high=$fc" "dfew=$tmp/data" "gone=$tmp/nothere.safetensors" supervised \
  "$(printf 'model.descriptions = %s\ndata.landmarks = %s\ndata.max_bad_fraction = 0' "$tmp/none.jsonl" "$tmp/notracks")"
check "$tmp/m_all.ini"
job finecliper-low_mid_high__dfew__f1__gone__s1 \
  | grep -q "^MISSING: backbone gone (model.weights): $tmp/nothere.safetensors: cannot open.*; also: the high level needs per-clip descriptions: $tmp/none.jsonl does not exist .*; also: [0-9]* of the [0-9]* clips of .* have no middle-level input (the first: $tmp/notracks/" \
  || { cat "$tmp/out"; fail "every missing input of a job"; }

check "$tmp/m_levels.ini"
cat "$tmp/out"
[ "$rc" = 1 ] || fail "levels: exit $rc"
job finecliper-low_high__dfew__f1__tiny__s1 | grep -q "^MISSING: the high level needs per-clip descriptions: $tmp/none.jsonl does not exist" \
  || fail "missing descriptions file"
[ "$(job finecliper-low_mid__dfew__f1__tiny__s1)" = ok ] || fail "the middle level with every track is not ok"
rm "$tmp/tracks/$train_clip.txt"
check "$tmp/m_levels.ini"
job finecliper-low_mid__dfew__f1__tiny__s1 | grep -q "^MISSING: 1 of the [0-9]* clips of .* have no middle-level input (the first: $tmp/tracks/$train_clip.txt)" \
  || { cat "$tmp/out"; fail "a missing landmark track"; }
echo "a removed track: $(job finecliper-low_mid__dfew__f1__tiny__s1 | cut -c1-160)"
# within data.max_bad_fraction the clip is one more unreadable clip (dfer prep leaves those it cannot read without a
# track): the job is ready
sed 's/^data.max_bad_fraction = 0$/data.max_bad_fraction = 0.5/' "$tmp/m_levels.ini" >"$tmp/m_levels_tolerant.ini"
check "$tmp/m_levels_tolerant.ini"
[ "$(job finecliper-low_mid__dfew__f1__tiny__s1)" = ok ] || { cat "$tmp/out"; fail "a removed track within data.max_bad_fraction"; }

check "$tmp/m_short.ini"
cat "$tmp/out"
job finecliper-low_high__dfew__f1__tiny__s1 | grep -q "^MISSING: 1 of the [0-9]* clips of .* have no description in $tmp/desc_short.jsonl (the first: clip $train_clip)" \
  || fail "a clip without a description"

check "$tmp/m_zs.ini"
cat "$tmp/out"
job finecliper-low__zs-dfew-mafw__tiny__s1 | grep -q "^MISSING: mafw split file: $tmp/gone/" || fail "zero-shot target missing"

check "$tmp/m_bad.ini"
cat "$tmp/out"
[ "$rc" = 1 ] && job odd__dfew__f1__tiny__s1 | grep -q "^ERROR: .*nosuch" && grep -q ", 1 with errors, 0 with missing" "$tmp/out" \
  || fail "a config error under --check"

# a method file that asks for another variant than its matrix entry, and a batch that does not split over
# the ranks of a job: ERROR before submission (the first trained the low level without a word, the second
# failed at the job's start)
printf '[model]\nvariant = low+mid\n' >"$tmp/mid.ini"
write_matrix "$tmp/m_variant.ini" v "finecliper=$tmp/mid.ini" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised
check "$tmp/m_variant.ini"
[ "$rc" = 1 ] && job finecliper-low__dfew__f1__tiny__s1 | grep -q "^ERROR: $tmp/mid.ini sets model.variant = low+mid, but the matrix entry 'finecliper' means finecliper:low" \
  || { cat "$tmp/out"; fail "a method file's variant overruled"; }
write_matrix "$tmp/m_ranks.ini" r "finecliper=$fc" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised "train.batch = 32"
sed -i 's/^ranks_per_job = 1$/ranks_per_job = 3/' "$tmp/m_ranks.ini"
check "$tmp/m_ranks.ini"
[ "$rc" = 1 ] && job finecliper-low__dfew__f1__tiny__s1 \
  | grep -q "^ERROR: train.batch = 32 does not split over the 3 ranks of a job .* (train.batch from $tmp/m_ranks.ini:12 \[set\])$" \
  || { cat "$tmp/out"; fail "a batch that does not split over ranks_per_job"; }

# a job whose ranks would not fit train.gpu_mem on a GPU (the planner, as its start plans; train.device cuda or auto):
# NOFIT, with what it needs, before submission (it failed at its start); on the CPU the cap is not the GPU's
# (a build without CUDA runs every job on the CPU: cuda waits, auto is ok)
cuda_build=1
for device in cuda auto cpu; do
  write_matrix "$tmp/m_mem.ini" g "finecliper=$fc" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised \
    "$(printf 'train.device = %s\ntrain.gpu_mem = 2.001' $device)"
  check "$tmp/m_mem.ini"
  if grep -q "built without CUDA" "$tmp/out"; then echo "(a build without CUDA: train.device = cuda waits)"; cuda_build=0; continue; fi
  if [ $device = cpu ] || [ $cuda_build = 0 ]; then
    [ "$rc" = 0 ] && [ "$(job finecliper-low__dfew__f1__tiny__s1)" = ok ] || { cat "$tmp/out"; fail "$device on the CPU: the GPU's cap applied"; }
    continue
  fi
  where="on its GPU"; [ $device = auto ] && where="on a GPU (train.device = auto)"
  [ "$rc" = 1 ] && job finecliper-low__dfew__f1__tiny__s1 | grep -q "^NOFIT: $where it needs 2\.[0-9]* GiB a rank where train.gpu_mem = 2.001 GiB" &&
    grep -q ", 0 with missing or unreadable inputs, 1 over train.gpu_mem$" "$tmp/out" || { cat "$tmp/out"; fail "$device: a job over train.gpu_mem"; }
  echo "train.device = $device over train.gpu_mem: $(job finecliper-low__dfew__f1__tiny__s1 | cut -c1-110)"
done
write_matrix "$tmp/m_mem.ini" g "finecliper=$fc" "dfew=$tmp/data" "tiny=$tmp/clip.safetensors" supervised "train.device = auto"
check "$tmp/m_mem.ini"
[ "$rc" = 0 ] || { cat "$tmp/out"; fail "auto under the default 24 GiB: not ok"; }

# the inputs made whole: exit 0
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/novocab/"
cp "$tmp/data/synth/landmarks/$train_clip.txt" "$tmp/tracks/"
sed -i "s|$tmp/nothere.safetensors|$tmp/clip.safetensors|; s|$tmp/none.jsonl|$tmp/desc.jsonl|" "$tmp/m_weights.ini" "$tmp/m_levels.ini"
sed -i "s|desc_short|desc|" "$tmp/m_short.ini"
for m in m_weights m_levels m_short; do
  check "$tmp/$m.ini"
  [ "$rc" = 0 ] || { cat "$tmp/out"; fail "$m: --check with every input exited $rc"; }
done
echo "matrix --check: missing weights, vocabulary, descriptions (file and clip), landmark track and zero-shot target named, a job over train.gpu_mem on a GPU too; whole inputs pass"
