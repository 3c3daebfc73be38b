#!/bin/sh
# make test's phase timer. `phase.sh FILE NAME CMD...` runs CMD, appends
# "NAME<TAB>seconds<TAB>ok|failed" to FILE and, when CMD fails, prints the
# table so far before failing with CMD's status; `phase.sh FILE` prints
# the table. So a run's time is taken apart by phase whether it passes or
# not (issue: a make test that fits CI with room to grow). When CMD fails,
# the files named in PHASE_NOTES (those that exist) are printed after the
# table: one line per failure, so the end of the log says why.
set -u
file=$1
shift
table() {
	echo
	echo "make test phases ($(date -u +%Y-%m-%dT%H:%MZ)):"
	awk -F'\t' '{ t += $2; printf "  %-28s %4dm%02ds  %s\n", $1, $2/60, $2%60, $3 }
		END { printf "  %-28s %4dm%02ds\n", "total", t/60, t%60 }' "$file"
}
if [ $# -eq 0 ]; then
	table
	exit 0
fi
name=$1
shift
start=$(date +%s)
echo "==== make test: $name"
"$@"
rc=$?
end=$(date +%s)
status=ok
[ $rc -eq 0 ] || status="failed (exit $rc)"
printf '%s\t%s\t%s\n' "$name" $((end - start)) "$status" >>"$file"
if [ $rc -ne 0 ]; then
	table
	for f in ${PHASE_NOTES:-}; do
		[ -s "$f" ] && { echo; echo "why ($f):"; cat "$f"; }
	done
	exit $rc
fi
