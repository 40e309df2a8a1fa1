#!/usr/bin/env bash
# Renders a certify report.html in a real headless browser (Debian's chromium,
# installed if missing) and checks that the page renders with no console
# errors and that the verdict and the tables are in the rendered DOM.
#
#   scripts/check-report-html.sh DIR_OR_report.html
#
# Exit 0: renders cleanly; 1: a check failed; 2: a tool error.
set -uo pipefail
f=${1:?usage: check-report-html.sh DIR_OR_report.html}
[ -d "$f" ] && f="$f/report.html"
[ -f "$f" ] || { echo "check-report-html: no $f" >&2; exit 2; }
f=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
json=$(dirname "$f")/report.json

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "check-report-html: installing chromium (apt)" >&2
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || { echo "check-report-html: cannot install chromium" >&2; exit 2; }
    browser=$(command -v chromium) || exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Offline: any fetch the page tried would fail and be logged as an error.
timeout 120 "$browser" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$tmp/profile" --proxy-server=127.0.0.1:9 \
    --enable-logging=stderr --v=0 --virtual-time-budget=2000 \
    --dump-dom "file://$f" >"$tmp/dom.html" 2>"$tmp/log.txt"
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$tmp/dom.html" ]; then
    echo "check-report-html: chromium failed (exit $rc)" >&2
    tail -20 "$tmp/log.txt" >&2
    exit 2
fi

fail=0
check() { # description, then a command that must succeed
    local what=$1; shift
    if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}
# Console messages of the page (chromium logs them as CONSOLE lines, whatever
# their level) and failed loads. The page has no script, so any console
# message at all is an error.
errors=$(grep -E 'CONSOLE|Uncaught|net::ERR_' "$tmp/log.txt" || true)
check "no console errors" test -z "$errors"
[ -z "$errors" ] || printf '%s\n' "$errors" | head -10
if [ -f "$json" ]; then
    verdict=$(sed -n 's/^  "verdict": "\(.*\)",$/\1/p' "$json" | head -1)
    v=$(echo "$verdict" | tr a-z A-Z)
    check "the verdict ($v) is rendered" grep -q "Verdict: $v" "$tmp/dom.html"
else
    check "a verdict is rendered" grep -qE 'Verdict: (EQUIVALENT|DIVERGENT|WEAK-ORACLE)' "$tmp/dom.html"
fi
for t in thresholds identity campaign coverage outcomes mutation mutation-times mutants; do
    check "table #$t is rendered" grep -q "<table id=\"$t\"" "$tmp/dom.html"
done
check "coverage rows are rendered" grep -qE '<td>[a-z0-9-]+</td><td class="n">[0-9]+/[0-9]+</td>' "$tmp/dom.html"
check "the SHA-256 of the C is shown" grep -qE '[0-9a-f]{64}' "$tmp/dom.html"
check "plots are rendered" grep -q '<polyline' "$tmp/dom.html"
check "the time-to-kill plot is rendered" grep -q "<svg id=\"kill-times\"" "$tmp/dom.html"
[ $fail -eq 0 ] && echo "check-report-html: $f renders cleanly"
exit $fail
