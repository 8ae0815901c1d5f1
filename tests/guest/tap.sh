# TAP helpers for the guest's shell scripts (busybox sh; sourced, sets
# n=0 fails=0): ok/not_ok print one numbered line, step runs a command.
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
# step DESCRIPTION COMMAND...: one TAP line for one command.
step() {
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
