#!/usr/bin/env bash
# Check certify reports: every eligible mutant judged or shown equivalent,
# verdict EQUIVALENT at 100 %, and, given two reports of the same tree made
# with different seeds, the same verdict and the same mutant table (id,
# status, configurations run in, how it was caught).
#
#   scripts/certify-table.sh REPORT_DIR [REPORT_DIR_2]
#
# Exit 0: as required; 1: not.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,8p' "$0"; exit 2; }
python3 - "$@" <<'PY'
import json, sys
reports = [json.load(open(d + "/report.json")) for d in sys.argv[1:]]
fail = False
def bad(msg):
    global fail
    print("FAILED:", msg)
    fail = True
for d, r in zip(sys.argv[1:], reports):
    m = r["mutation"]
    rows = m["results"]
    if len(rows) != m["made"]:
        bad(f"{d}: {len(rows)} rows for {m['made']} mutants made")
    open_rows = [x["id"] for x in rows if x["status"] not in
                 ("caught", "equivalent-tce", "equivalent-list", "stillborn", "not-compiled")]
    if open_rows:
        bad(f"{d}: {len(open_rows)} mutants neither caught nor shown equivalent: {open_rows[:5]}")
    if r["verdict"] != "equivalent" or r["exit_code"] != 0:
        bad(f"{d}: verdict {r['verdict']} (exit {r['exit_code']}): {r['verdict_line']}")
    if r.get("mutation_score") != 1.0:
        bad(f"{d}: mutation score {r.get('mutation_score')}")
    judged = sum(1 for x in rows if x["status"] in ("caught", "equivalent-list"))
    print(f"{d}: {m['made']} made, {m['eligible']} eligible, {m['equivalent_tce']} TCE, "
          f"{judged} judged ({m['caught']} caught, {m['equivalent_list']} listed), verdict {r['verdict']}, "
          f"seed {r['identity']['seed']}")
if len(reports) == 2:
    a, b = ([(x["id"], x["status"], tuple(x["configs"]), x["how"]) for x in r["mutation"]["results"]]
            for r in reports)
    if reports[0]["identity"]["seed"] == reports[1]["identity"]["seed"]:
        bad("the two reports have the same seed")
    if a != b:
        diff = [(x, y) for x, y in zip(a, b) if x != y]
        bad(f"the mutant tables differ in {len(diff)} rows, e.g. {diff[:3]}")
    elif reports[0]["verdict"] == reports[1]["verdict"]:
        print(f"same verdict and the same {len(a)}-row mutant table with seeds "
              f"{reports[0]['identity']['seed']} and {reports[1]['identity']['seed']}")
sys.exit(1 if fail else 0)
PY
