#!/usr/bin/env python3
"""Turns `jumplabel bench --json` output into the plots of the Performance article.

    swift run -c release jumplabel bench --json > bench.json
    Scripts/plot-bench.py bench.json Sources/JumpLabel/Documentation.docc/Resources/

Writes DIR/toggle-vs-sites.png (toggle latency against the number of
sites, log-log, with the physical floor drawn) and DIR/stall.png (the HDR
percentile curves of the per-call latency a running thread sees: no
toggling, our engine, a stop-the-world patcher). Needs matplotlib
(Debian: python3-matplotlib)."""
import json
import sys
import pathlib

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    report = json.loads(pathlib.Path(sys.argv[1]).read_text())
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    m = report["machine"]
    where = f'{m["cpu"]}, {m["cpus"]} CPUs, Linux {m["kernel"]}'

    # Toggle latency against sites.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_writer = {}
    for row in report.get("sites", []):
        by_writer.setdefault(row["writer"], []).append(row)
    for writer, rows in by_writer.items():
        rows.sort(key=lambda r: r["sites"])
        xs = [r["sites"] for r in rows]
        ax.plot(xs, [r["toggle"]["medianNs"] / 1000 for r in rows], marker="o", label=f"median, {writer}")
        ax.fill_between(xs, [r["toggle"]["medianNs"] / 1000 for r in rows], [r["toggle"]["p99Ns"] / 1000 for r in rows], alpha=0.15)
    if report.get("floor"):
        f = report["floor"]["medianNs"] / 1000
        ax.axhline(f, color="gray", linestyle="--", label=f"floor: 3 pwrites + 3 membarriers ({f:.1f} µs)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sites switched in one batch")
    ax.set_ylabel("toggle latency (µs), median (band to p99)")
    ax.set_title("Toggle latency against the number of sites")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, where, fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(out / "toggle-vs-sites.png", dpi=120)

    # The stall a running thread sees: HDR percentile curves.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in report.get("stall", []):
        pts = [(q, v) for q, v in row["percentiles"] if q < 1.0]
        xs = [1 / (1 - q) for q, _ in pts]
        ax.plot(xs, [v / 1000 for _, v in pts], marker="o", label=f'{row["condition"]} (max {row["maxNs"] / 1000:.0f} µs)')
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("one call of a 100-site function (µs)")
    ax.set_title("What a running thread sees while the key toggles")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, where, fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(out / "stall.png", dpi=120)
    print(f"wrote {out / 'toggle-vs-sites.png'} and {out / 'stall.png'}")


if __name__ == "__main__":
    main()
