# Sourced by the tests that SIGKILL a run's whole session (setsid ... &; pkill -KILL -s SID).
# session_wait_gone SID: waits (5 s at most) until no process of the session is left but zombies: SIGKILL takes
# a moment to end every rank, and a killed run's job locks count as held while its process lives.
session_wait_gone() {
  local sid=$1
  for _ in $(seq 100); do
    ps -eo sid=,stat= | awk -v s="$sid" '$1 == s && $2 !~ /^Z/' | grep -q . || return 0
    sleep 0.05
  done
}
