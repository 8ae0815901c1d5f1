#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench-engine.sh CXLMS WORKDIR [bench-engine.py options] - `make bench-engine`:
# fetch and build llama.cpp (tools/ggml/fetch.sh --tools), find a python3
# with numpy (installing Debian's python3-numpy if none has it), then run
# tools/ggml/bench-engine.py with gguf-py from the fetched source.
set -eu
cli=$1 work=$2
shift 2
here=$(dirname "$0")
dir=$("$here/fetch.sh" --tools)
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "bench-engine.sh: installing python3-numpy" >&2
	$sudo apt-get install -y --no-install-recommends python3-numpy >&2 ||
		{ echo "bench-engine.sh: no python3 with numpy, and apt-get could not install python3-numpy" >&2; exit 1; }
	py=/usr/bin/python3
fi
PYTHONPATH=$dir/llama.cpp/gguf-py${PYTHONPATH:+:$PYTHONPATH} exec "$py" "$here/bench-engine.py" \
	--cxlms "$cli" --ggml "$dir/llama.cpp/build/bin" --work "$work" "$@"
