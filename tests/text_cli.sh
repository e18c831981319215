#!/usr/bin/env bash
# CLI tests of `dfer tokenize`: exact output, exit codes and messages.
#   tests/text_cli.sh DFER_BINARY VOCAB
set -u
dfer=$1
vocab=$2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_run NAME WANT_RC WANT_STDOUT [ARGS...]: exit code and exact stdout
expect_run() {
  local name=$1 want_rc=$2 want_out=$3
  shift 3
  local out rc
  out=$("$dfer" tokenize "$@" 2>/tmp/text_cli.$$.err)
  rc=$?
  [ "$rc" = "$want_rc" ] || fail "$name: exit $rc, want $want_rc ($(cat /tmp/text_cli.$$.err))"
  [ "$out" = "$want_out" ] || fail "$name: output '$out', want '$want_out'"
}
# expect_message NAME PATTERN: the last command's stderr matches PATTERN
expect_message() {
  grep -qE -e "$2" /tmp/text_cli.$$.err || fail "$1: stderr '$(cat /tmp/text_cli.$$.err)' lacks /$2/"
}

expect_run "two texts" 0 $'49406 320 1125 539 320 2368 49407\n49406 3306 267 1002 256 49407' \
  --vocab "$vocab" "a photo of a cat" "Hello, world!"
expect_run "text after --" 0 "49406 268 320 1125 539 320 2368 49407" --vocab "$vocab" -- "-a photo of a cat"
DFER_VOCAB=$vocab expect_run "DFER_VOCAB" 0 "49406 2759 261 8855 49407" "fish &amp; chips"
expect_run "fits the context" 0 "49406 320 1125 539 320 2368 49407" --vocab "$vocab" --context 7 "a photo of a cat"
expect_run "too long" 1 "" --vocab "$vocab" --context 6 "a photo of a cat"
expect_message "too long" 'text 1 \("a photo of a cat"\) has 7 tokens, more than the context of 6'
# the message quotes 60 bytes of the text: byte 60 is inside the e-acute here, which the quote must leave out whole
expect_run "too long, accented" 1 "" --vocab "$vocab" --context 4 "$(printf 'a%.0s' {1..59})"$'\xc3\xa9'" b c"
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' /tmp/text_cli.$$.err 2>/dev/null \
  || fail "too long, accented: the message is not valid UTF-8: $(od -c /tmp/text_cli.$$.err | head -3)"
expect_message "too long, accented" 'aaaa\.\.\."\) has'
expect_run "truncated" 0 "49406 320 1125 539 320 49407" --vocab "$vocab" --context 6 --truncate "a photo of a cat"
expect_run "--truncate without --context" 2 "" --vocab "$vocab" --truncate "a photo of a cat"
expect_message "--truncate without --context" "give --context too"
# a vocabulary cut short (a partial download): zlib's soft end of stream, named as such
head -c 200000 "$vocab" >/tmp/text_cli.$$.cut.gz
expect_run "truncated vocabulary" 1 "" --vocab /tmp/text_cli.$$.cut.gz "a cat"
expect_message "truncated vocabulary" "cut.gz: truncated"
rm -f /tmp/text_cli.$$.cut.gz
DFER_VOCAB= expect_run "no vocabulary" 2 "" "a cat"
expect_message "no vocabulary" "--vocab"
expect_run "missing vocabulary file" 1 "" --vocab /nonexistent/bpe.txt.gz "a cat"
expect_message "missing vocabulary file" "/nonexistent/bpe.txt.gz"
expect_run "bad context" 2 "" --vocab "$vocab" --context x "a cat"
expect_run "no text" 2 "" --vocab "$vocab"
expect_run "invalid UTF-8" 1 "" --vocab "$vocab" $'ok \xff'
expect_message "invalid UTF-8" "text 1: .*UTF-8"
expect_run "help" 0 "$("$dfer" tokenize --help)" --help
"$dfer" tokenize --help | grep -q -- "--truncate" || fail "help: no --truncate"

rm -f /tmp/text_cli.$$.err
[ "$failures" = 0 ] && echo "text_cli: all passed"
exit "$failures"
