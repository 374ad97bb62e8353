#!/usr/bin/env python3
"""Reads wstest's reports/index.json (wstest itself exits 0 whatever the results).

Prints a Markdown summary (counts per status, then every case that is not OK with its
description and what the server did) and exits 1 if any case FAILED, in its behaviour
or its closing behaviour. NON-STRICT, INFORMATIONAL and UNIMPLEMENTED do not fail.
"""
import collections
import json
import os
import sys


def main(outdir, agent):
    with open(os.path.join(outdir, "index.json")) as f:
        index = json.load(f)
    cases = index.get(agent)
    if not cases:
        print(f"no results for agent {agent!r} in {outdir}/index.json", file=sys.stderr)
        return 1

    def key(case_id):
        return [int(p) for p in case_id.split(".")]

    behaviour = collections.Counter(c["behavior"] for c in cases.values())
    closing = collections.Counter(c["behaviorClose"] for c in cases.values())
    statuses = sorted(set(behaviour) | set(closing))
    print(f"Autobahn|Testsuite fuzzingclient, agent `{agent}`: {len(cases)} cases\n")
    print("| status | behaviour | closing behaviour |")
    print("| --- | ---: | ---: |")
    for s in statuses:
        print(f"| {s} | {behaviour[s]} | {closing[s]} |")

    notable = [
        cid for cid in sorted(cases, key=key)
        if cases[cid]["behavior"] != "OK" or cases[cid]["behaviorClose"] not in ("OK", "INFORMATIONAL")
    ]
    failed = [
        cid for cid in notable
        if "FAILED" in (cases[cid]["behavior"], cases[cid]["behaviorClose"])
    ]
    if notable:
        print("\n| case | behaviour | closing | close code | description | result |")
        print("| --- | --- | --- | --- | --- | --- |")
    for cid in notable:
        c = cases[cid]
        detail = {}
        try:
            with open(os.path.join(outdir, c["reportfile"])) as f:
                detail = json.load(f)
        except (OSError, KeyError, ValueError):
            pass

        def cell(text):
            return " ".join(str(text).split()).replace("|", "\\|")[:300]

        result = detail.get("result", "")
        if c["behaviorClose"] not in ("OK", "INFORMATIONAL"):
            result = f"{result} / close: {detail.get('resultClose', '')}"
        print(
            f"| {cid} | {c['behavior']} | {c['behaviorClose']} | {c.get('remoteCloseCode')} "
            f"| {cell(detail.get('description', ''))} | {cell(result)} |"
        )
    slowest = sorted(cases, key=lambda cid: -cases[cid].get("duration", 0))[:5]
    print("\nslowest cases (ms): " + ", ".join(f"{cid} {cases[cid].get('duration')}" for cid in slowest))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "tickcast"))
