#!/bin/bash
# `both-arches.sh CMD...` runs CMD once per architecture at the same time,
# CMD's arguments followed by ARCH=x86_64 and ARCH=aarch64, each line of
# output prefixed with its arch as it comes (progress stays visible), and
# fails if either fails, naming which. make test runs the two QEMU suites
# this way: under TCG one guest leaves much of the second core idle (a
# boot with the other arch's suite beside it measured ~7% slower), so the
# pair takes little more than the longer suite alone.
set -u
pids=()
archs=(x86_64 aarch64)
for a in "${archs[@]}"; do
	( "$@" ARCH="$a" 2>&1 | sed -u "s/^/[$a] /"; exit "${PIPESTATUS[0]}" ) &
	pids+=($!)
done
rc=0
failed=""
for i in "${!pids[@]}"; do
	if ! wait "${pids[$i]}"; then
		rc=1
		failed="$failed ${archs[$i]}"
	fi
done
if [ $rc -ne 0 ]; then
	echo "both-arches: failed:$failed" >&2
fi
exit $rc
