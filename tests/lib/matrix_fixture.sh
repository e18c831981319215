# Sourced by the matrix tests (report.sh, matrix_restart.sh, slurm_matrix.sh, matrix_zeroshot*.sh):
# the inputs of a small real matrix in $tmp, which the caller has set along
# with $dfer and $src (the source tree) and $shared (the shared directory):
#   $tmp/data                       a synthetic DFEW-layout set
#   $tmp/clip.safetensors           a random tiny CLIP, with the BPE vocabulary beside it
#   $tmp/matrix.ini                 the configs/synth methods on them, folds 1 and 2
# usage: matrix_fixture KEY=VALUE...
#   name=NAME             the matrix's name (required)
#   clips=N seed=S        the synthetic set's size and seed (24, 6)
#   methods="M..."        configs/synth/M.ini for each (finecliper)
#   ranks_per_job=N       (not set: the matrix's default)
#   epochs=N              train.epochs (1)
#   set="K = V"...        further [set] lines, newline-separated
# Every job trains on 2 frames, batch 4 (8 to evaluate), one thread.
# shellcheck disable=SC2154 # dfer, src, shared and tmp are the caller's
matrix_fixture() {
  local name='' clips=24 seed=6 methods=finecliper ranks_per_job='' epochs=1 set='' arg
  for arg in "$@"; do
    case ${arg%%=*} in
      name | clips | seed | methods | ranks_per_job | epochs | set) local "$arg" ;;
      *) echo "matrix_fixture: unknown argument '$arg'" >&2; return 1 ;;
    esac
  done
  [ -n "$name" ] || { echo "matrix_fixture: name= is required" >&2; return 1; }
  "$dfer" synth --layout dfew --clips "$clips" --size 48 --min-frames 6 --max-frames 10 --seed "$seed" \
    --out "$tmp/data" 2>/dev/null
  "$dfer" init --arch tiny --seed 1 --out "$tmp/clip.safetensors" >/dev/null
  cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
  local m list=
  for m in $methods; do list+="${list:+, }$m=$src/configs/synth/$m.ini"; done
  {
    printf '[matrix]\nname = %s\n' "$name"
    [ -z "$ranks_per_job" ] || printf 'ranks_per_job = %s\n' "$ranks_per_job"
    printf 'methods = %s\ndatasets = dfew=%s\nfolds = 1, 2\nbackbones = tiny=%s\n' "$list" "$tmp/data" \
      "$tmp/clip.safetensors"
    printf '[set]\ntrain.epochs = %s\ntrain.batch = 4\ntrain.eval_batch = 8\n' "$epochs"
    [ -z "$set" ] || printf '%s\n' "$set"
    printf 'data.frames = 2\ntrain.threads = 1\ndata.loader_threads = 1\n'
  } >"$tmp/matrix.ini"
}

# The inputs of the zero-shot matrix tests (matrix_zeroshot.sh, matrix_zeroshot_self.sh) in $tmp: synthetic
# DFEW- and MAFW-layout sets of 40 clips ($tmp/dfew, $tmp/mafw) and a random tiny CLIP with the vocabulary beside it.
zeroshot_fixture() {
  "$dfer" synth --layout dfew --clips 40 --size 48 --min-frames 6 --max-frames 10 --seed 6 --out "$tmp/dfew" 2>/dev/null
  "$dfer" synth --layout mafw --clips 40 --size 48 --min-frames 6 --max-frames 10 --seed 7 --out "$tmp/mafw" 2>/dev/null
  "$dfer" init --arch tiny --seed 1 --out "$tmp/clip.safetensors" >/dev/null
  cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
}
