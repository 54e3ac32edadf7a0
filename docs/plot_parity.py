#!/usr/bin/env python3
"""Draws docs/parity.png: for each PyTorch golden fixture, the worst error as a fraction of the tolerance.

The data is what the parity tests write with BIGBIRD_PARITY_REPORT set (BigBirdSharp.Tests/Parity/ParityReport.cs):
one JSON line per compared output tensor, with worst_ratio = max over its elements of |a - b| / (1e-4 + 1e-4*|b|),
b being PyTorch's value. The tests require worst_ratio <= 1. Each fixture runs twice (the library and `bigbird run`),
so a tensor has two lines; the plot takes the larger. One row per fixture: a small dot for each output tensor, a
large one for the worst, whose name is printed beside it. Uses matplotlib only (Debian's python3-matplotlib).

Regenerate (from the repository root):
    rm -f docs/parity_report.jsonl
    BIGBIRD_PARITY_REPORT=docs/parity_report.jsonl dotnet test BigBirdSharp.Tests -c Release \\
        --filter "FullyQualifiedName~Parity.FixtureParityTests|FullyQualifiedName~Parity.HeadFixtureParityTests"
    /usr/bin/python3 docs/plot_parity.py [docs/parity_report.jsonl] [docs/parity.png]
"""
import json
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR = 1e-4  # ratios below this (exact results included) are drawn at the floor
PANELS = [  # set in the report, title
    ("cases", "fixtures/cases: BigBirdModel"),
    ("heads/cases", "fixtures/heads/cases: task heads, losses, decoder"),
]


def ratio(value):
    return math.inf if value in ("Infinity", "NaN") else float(value)


def load(path):
    worst = defaultdict(float)  # (set, fixture, output) -> worst ratio over the runs
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                key = (r["set"], r["fixture"], r["output"])
                worst[key] = max(worst[key], ratio(r["worst_ratio"]))
    fixtures = defaultdict(dict)  # set -> fixture -> {output: ratio}
    for (s, fixture, output), value in worst.items():
        fixtures[s].setdefault(fixture, {})[output] = value
    return fixtures


def draw(fixtures, out):
    panels = [(s, title) for s, title in PANELS if s in fixtures]
    panels += [(s, f"fixtures/{s}") for s in sorted(fixtures) if s not in dict(PANELS)]
    rows = [len(fixtures[s]) for s, _ in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 0.16 * max(rows) + 1.6), squeeze=False)
    everything = [v for s in fixtures for outs in fixtures[s].values() for v in outs.values()]
    hi = max(1.5, max(v for v in everything if math.isfinite(v)) * 1.5)
    for ax, (s, title) in zip(axes[0], panels):
        names = sorted(fixtures[s], key=lambda f: (max(fixtures[s][f].values()), f))
        for y, fixture in enumerate(names):
            outs = fixtures[s][fixture]
            xs = [min(max(v, FLOOR), hi) for v in outs.values()]
            ax.scatter(xs, [y] * len(xs), s=6, color="0.65", zorder=2)
            name, value = max(outs.items(), key=lambda kv: (kv[1], kv[0]))
            color = "C3" if value > 1 else "C0"
            ax.scatter([min(max(value, FLOOR), hi)], [y], s=26, color=color, zorder=3)
            ax.annotate(f"{name} {value:.2g}", (min(max(value, FLOOR), hi), y), xytext=(5, -2.5),
                        textcoords="offset points", fontsize=5.5, color="0.3")
        ax.axvline(1.0, color="C3", linewidth=1)
        ax.text(1.0, len(names) - 0.2, " tolerance", color="C3", fontsize=7, va="bottom")
        ax.set_xscale("log")
        ax.set_xlim(FLOOR / 1.5, hi * 6)
        ax.set_ylim(-0.8, len(names) + 0.6)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=6)
        ax.set_xlabel("worst |a - b| / (1e-4 + 1e-4 |b|) over each output tensor (log)", fontsize=8)
        ax.set_title(f"{title}\n{len(names)} fixtures, {sum(len(o) for o in fixtures[s].values())} output tensors", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.9", zorder=0)
    fig.suptitle("BigBirdSharp against PyTorch (transformers 4.27.1): each fixture's worst element, "
                 "as a fraction of the tolerance (1 = the limit the tests enforce)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    return sum(rows), max(everything)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "parity_report.jsonl")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "parity.png")
    count, worst = draw(load(src), out)
    print(f"{out}: {count} fixtures, worst ratio {worst:.3g}")


if __name__ == "__main__":
    main()
