# Sourced by the tests of `dfer predict` (predict.sh, predict_edges.sh, face_real.sh): synthetic MAFW-layout
# videos whose 160 px faces dlib finds, a random tiny CLIP with the BPE vocabulary beside it in $tmp, and the
# `dfer train` arguments for a tiny run trained two steps on them (what it predicts is not the point; the face
# scan, the windows and the crops in front of the model are). The caller has set $dfer, $shared and $tmp.
#   predict_fixture DATA CLIPS MIN_FRAMES MAX_FRAMES   the videos in DATA (seed 3), $tmp/clip.safetensors (seed 2)
#   predict_common DATA                                sets the array `common`: that data and CLIP, 1 epoch of 2
#                                                      steps, 4 frames, batch 4 (8 to evaluate), 2 threads
# shellcheck disable=SC2154 # dfer, shared and tmp are the caller's
predict_fixture() {
  "$dfer" synth --layout mafw --size 160 --difficulty easy --clips "$2" --min-frames "$3" --max-frames "$4" \
    --seed 3 --threads 2 --out "$1" >/dev/null 2>&1
  "$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
  cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
}

predict_common() {
  common=(--set data.dataset=mafw --set data.root="$1" --set model.weights="$tmp/clip.safetensors"
          --set train.epochs=1 --set train.batch=4 --set train.eval_batch=8 --set data.frames=4 --set train.threads=2
          --set train.max_steps_per_epoch=2)
}
