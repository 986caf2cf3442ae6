"""Journey yield on REAL pairs: every problem where one model is right and the other wrong, by
REVIEWED verdicts (tests/journey_pairs.py): MATH-500 (Sky-T1 long CoT vs Qwen2.5-14B short CoT)
and OlympiadBench (Qwen2.5-14B vs gemma-2-27b short CoT). Builds one journey sample per pair
with the project's math verifier and prints the funnel: pairs in, valid samples out, the yield,
each drop by name, where the wrong attempts were cut, the mistake kinds the reflections name and
how many distinct reflections there are. `--cut earlier` exercises the earlier cut.

    python bench/journey_yield.py [--cut earlier] [--show 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def run(cut: str = "conclusion", show: int = 0) -> dict[str, dict]:
    from journey_pairs import math500_pairs, olympiad_pairs

    from factory.curate.journey import AnswerChecker, JourneyConfig, build, funnel

    out = {}
    checker = AnswerChecker()
    try:
        for name, (pairs, ref) in (("math500", math500_pairs()), ("olympiadbench", olympiad_pairs())):
            kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(cut=cut, max_tokens=16384), checker=checker)
            f = funnel(kept, drops, len(pairs))
            f["most_repeated_reflection"] = max(Counter(d.transition for d in kept).values(), default=0)
            out[name] = f
            for d in kept[:show]:
                print(f"--- {name} {d.problem_id} ({d.cut_point}, {d.kind}) ---")
                print(d.wrong_part[-400:], "\n\n>>>", d.transition, "<<<\n\n", d.correct_reasoning[:300], "...\n")
    finally:
        checker.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cut", choices=["conclusion", "earlier"], default="conclusion")
    ap.add_argument("--show", type=int, default=0, help="print the first N samples of each set")
    args = ap.parse_args()
    res = run(args.cut, args.show)
    total_p = sum(r["pairs"] for r in res.values())
    total_b = sum(r["built"] for r in res.values())
    for name, r in res.items():
        print(f"{name}: {r['pairs']} pairs -> {r['built']} samples ({r['yield']:.1%})")
        print("  drops:", json.dumps(r["drops"]))
        print("  cut points:", json.dumps(r["cut_points"]), " mistake kinds:", json.dumps(r["mistake_kinds"]))
        print(f"  distinct reflections: {r['distinct_reflections']} of {r['built']} "
              f"(most repeated: {r['most_repeated_reflection']}x)")
    print(f"all: {total_p} pairs -> {total_b} samples ({total_b / total_p:.1%}), cut {args.cut}")


if __name__ == "__main__":
    main()
