#!/usr/bin/env bash
# dfer eval under the watchdog (core/watchdog.h): evaluated on a copy of its dataset whose every frame is a
# named pipe (a read that never returns, as on a dead network mount), a trained run's evaluation must end
# with status 4 and the watchdog's message naming the loader's wait, after the run's train.hang_minutes
# (0.05 here: 3 s), and write nothing into the run's folder; on the real frames the same command ends 0.
# usage: eval_hang.sh DFER SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") shared=$(realpath "$2")
tmp=$(mktemp -d /tmp/dfer-eval-hang-XXXXXX)
trap 'pkill -KILL -f "^$dfer eval --run $tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 24 --size 32 --min-frames 4 --max-frames 6 --seed 2 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 6 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
"$dfer" train --config "$(dirname "$0")/../configs/synth/finecliper.ini" --set data.root="$tmp/data" \
  --set model.weights="$tmp/clip.safetensors" --set train.epochs=1 --set train.max_steps_per_epoch=1 \
  --set train.batch=4 --set data.frames=2 --set train.threads=1 --set data.loader_threads=1 \
  --set train.hang_minutes=0.05 --out "$tmp/run" >"$tmp/train.log" 2>&1 || { tail -20 "$tmp/train.log"; exit 1; }

"$dfer" eval --run "$tmp/run" >"$tmp/ok.txt" 2>&1 || { cat "$tmp/ok.txt"; echo "dfer eval on the real frames failed"; exit 1; }
grep -q '^UAR' "$tmp/ok.txt" || { cat "$tmp/ok.txt"; echo "dfer eval printed no UAR"; exit 1; }

# the same layout, every frame a named pipe that nobody writes
(cd "$tmp/data" && find . -type d -exec mkdir -p "$tmp/stuck/{}" \; && find . -type f -name '*.jpg' -exec mkfifo "$tmp/stuck/{}" \; \
  && find . -type f ! -name '*.jpg' -exec cp {} "$tmp/stuck/{}" \;)
before=$(ls "$tmp/run" | sort | tr '\n' ' ')
rc=0
start=$SECONDS
timeout 120 "$dfer" eval --run "$tmp/run" --dataset dfew --root "$tmp/stuck" >"$tmp/stuck.txt" 2>&1 || rc=$?
[ "$rc" != 124 ] || { cat "$tmp/stuck.txt"; echo "dfer eval still waiting after 120 s: the watchdog did not end it"; exit 1; }
[ "$rc" = 4 ] || { cat "$tmp/stuck.txt"; echo "dfer eval on pipes exited $rc, not 4 (the watchdog's status)"; exit 1; }
grep -Eq "no progress for [0-9.]+ s in evaluation: waiting for batch 1 \(the loader\) \(evaluating $tmp/run\)" "$tmp/stuck.txt" \
  || { cat "$tmp/stuck.txt"; echo "no watchdog message naming the loader's wait"; exit 1; }
grep -q "running dfer eval again starts the evaluation over" "$tmp/stuck.txt" || { echo "the message does not say how to go on"; exit 1; }
[ "$(ls "$tmp/run" | sort | tr '\n' ' ')" = "$before" ] || { ls "$tmp/run"; echo "dfer eval wrote into the run's folder"; exit 1; }
echo "dfer eval on a stuck file system: $(grep -o 'no progress for [^(]*' "$tmp/stuck.txt" | head -1)-> status 4 after $((SECONDS - start)) s; run folder untouched"
