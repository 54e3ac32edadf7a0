#!/usr/bin/env python3
"""Draws docs/benchmarks.png from a peer-benchmark results file (fixtures/bench/results/*.jsonl).

Left: forward time vs sequence length (median over process runs of each run's in-process median_s), for
BigBirdSharp block_sparse and original_full, ONNX Runtime (the HF export) and HF PyTorch (block_sparse and
original_full). Right: peak RSS of the whole process. Uses matplotlib only (Debian's python3-matplotlib).

Usage:  python3 docs/plot_benchmarks.py [RESULTS.jsonl] [OUT.png]
        (default: the newest file in fixtures/bench/results/, docs/benchmarks.png)
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES = [  # engine key in the jsonl, label, style
    ("bigbirdsharp", "BigBirdSharp block_sparse", dict(color="C0", marker="o")),
    ("bigbirdsharp_full", "BigBirdSharp original_full", dict(color="C0", marker="o", linestyle="--")),
    ("onnxruntime", "ONNX Runtime (HF export, block_sparse)", dict(color="C1", marker="s")),
    ("pytorch", "HF PyTorch block_sparse", dict(color="C2", marker="^")),
    ("pytorch_full", "HF PyTorch original_full", dict(color="C2", marker="^", linestyle="--")),
]


def load(path):
    runs = defaultdict(list)  # (engine, seq) -> records
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[(r["engine"], r["seq_len"])].append(r)
    return runs


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else max(glob.glob(os.path.join(ROOT, "fixtures/bench/results/*.jsonl")))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs/benchmarks.png")
    runs = load(results)
    first = next(iter(runs.values()))[0]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    for engine, label, style in SERIES:
        seqs = sorted(s for (e, s) in runs if e == engine)
        if not seqs:
            continue
        t = [statistics.median(r["median_s"] for r in runs[(engine, s)]) for s in seqs]
        m = [statistics.median(r["peak_rss_mb"] for r in runs[(engine, s)]) / 1024 for s in seqs]
        ax_t.plot(seqs, t, label=label, **style)
        ax_m.plot(seqs, m, label=label, **style)
    for ax, title, unit in ((ax_t, "Forward time, batch 1 (median)", "seconds"),
                            (ax_m, "Peak RSS of the process", "GiB")):
        ax.set_xticks([512, 1024, 2048, 3072, 4096])
        ax.set_xticklabels(["512", "1024", "2048", "3072", "4096"])
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    ax_t.axvline(704, color="grey", linewidth=0.8, linestyle=":")
    ax_t.text(704, ax_t.get_ylim()[1], " full-attention\n fallback ≤ 704", va="top", fontsize=8, color="grey")
    ax_t.legend(fontsize=8)
    fig.suptitle("bigbird-roberta-base shape, batch 1, 2 threads; library commit %s, %s; shared, loaded machine: "
                 "medians of few runs" % (first["commit"], first["date"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()
