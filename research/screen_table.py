"""The screen table: every screened idea against the baseline, by the rule.

Reads `research/results/screen.jsonl` (one record per `research/screen.py`
run; the newest record of each (idea, seed) counts) and prints the Markdown
table of `docs/screen.md`: per idea the two seeds' W4A4 and W8A8, their
mean, the `zoo_val` W4A4 mean (the block family; "—" where not scored),
the CPU-minutes (≥ where a resumed run's score was counted by an
earlier process), W4A4 per CPU-hour, the gain over the baseline and the
verdict. An idea is kept when its mean W4A4 beats the baseline's by more
than twice the baseline's seed spread (|seed 0 - seed 1|); an idea whose
first seed scores below the baseline's mean is dropped after that seed.

    .venv/bin/python research/screen_table.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "screen.jsonl"


def latest(path: Path = RESULTS) -> dict[str, dict[int, dict]]:
    """{idea: {seed: newest record}}, ideas in the order first screened."""
    ideas: dict[str, dict[int, dict]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            ideas.setdefault(record["idea"], {})[record["seed"]] = record
    return ideas


def table(ideas: dict[str, dict[int, dict]], baseline: str = "baseline") -> str:
    base = ideas.get(baseline, {})
    base_w4 = [r["w4a4"] for r in base.values()]
    spread = max(base_w4) - min(base_w4) if len(base_w4) >= 2 else None
    base_mean = statistics.mean(base_w4) if base_w4 else None
    rows = [
        "| idea | overrides | seeds | W4A4 per seed | W4A4 mean | W8A8 mean | zoo W4A4 "
        "| CPU-min per run | W4A4 per CPU-h | vs baseline | verdict |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for idea, runs in ideas.items():
        records = [runs[s] for s in sorted(runs)]
        w4 = [r["w4a4"] for r in records]
        w8 = [r["w8a8"] for r in records]
        cpu = statistics.mean(r["cpu_minutes"] for r in records)
        # A run whose `val` score was counted by an earlier, interrupted
        # process records training CPU only: a lower bound.
        partial = any(
            r["cpu_minutes"] - r["train_cpu_minutes"] < 1.0
            for r in records
            if "train_cpu_minutes" in r
        )
        bound_cpu, bound_rate = ("≥", "≤") if partial else ("", "")
        mean4 = statistics.mean(w4)
        zoo = [r["zoo_w4a4"] for r in records if "zoo_w4a4" in r]
        zoo_cell = f"{100 * statistics.mean(zoo):.1f}" if len(zoo) == len(records) else "—"
        gain = None if base_mean is None else mean4 - base_mean
        if idea == baseline:
            verdict = f"noise floor: spread {100 * spread:.1f}" if spread is not None else "—"
        elif len(records) < 2 and base_mean is not None and mean4 < base_mean:
            verdict = "dropped after one seed"
        elif len(records) < 2 or spread is None:
            verdict = "needs two seeds"
        elif gain > 2 * spread:
            verdict = "**kept**"
        else:
            verdict = "not kept"
        overrides = " ".join(records[0]["overrides"]) or "—"
        rows.append(
            f"| {idea} | `{overrides}` | {len(records)} | "
            + " / ".join(f"{100 * v:.1f}" for v in w4)
            + f" | {100 * mean4:.1f} | {100 * statistics.mean(w8):.1f} | {zoo_cell} | "
            f"{bound_cpu}{cpu:.0f} | {bound_rate}{100 * mean4 / (cpu / 60):.1f} | "
            + ("—" if idea == baseline or gain is None else f"{100 * gain:+.1f}")
            + f" | {verdict} |"
        )
    return "\n".join(rows)


def main() -> int:
    print(table(latest()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
