"""Pictures of synthesis results as PNG bytes (matplotlib, Agg): a sweep's Pareto fronts and
where one design's logic goes.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: no global state, no GUI
backend, safe in worker processes and threads.
"""
from __future__ import annotations

import io

__all__ = ["pareto_png", "resources_png"]

# one colour per part, the same in every picture
COLOURS = {"ice40-up5k": "tab:blue", "ecp5-85k": "tab:orange"}
# what the estimate's ``by_part`` keys stand for in hardware
PARTS = {"core": "logic layers", "popcount": "popcounts", "argmax": "argmax",
         "score delay": "score delay", "valid": "valid pipeline"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def pareto_png(rows: list[dict], fmax_front: list[dict], latency_front: list[dict], title: str) -> bytes:
    """Two panels, logic against Fmax and against latency: every design that placed as a dot,
    each part's front as a line; ``title`` on top."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.5))
    ok = [r for r in rows if r["status"] == "ok"]
    for ax, speed, label, best in ((fig.add_subplot(1, 2, 1), "fmax_mhz", "Fmax (MHz), higher is better", fmax_front),
                                   (fig.add_subplot(1, 2, 2), "latency_ns", "latency (ns), lower is better",
                                    latency_front)):
        for target in dict.fromkeys(r["target"] for r in ok):
            colour = COLOURS.get(target, "tab:gray")
            mine = [r for r in ok if r["target"] == target]
            ax.scatter([r["logic_cells"] for r in mine], [r[speed] for r in mine], s=18, alpha=0.45,
                       color=colour, label=f"{target} ({mine[0]['logic_cell_type']})")
            line = [r for r in best if r["target"] == target]
            ax.plot([r["logic_cells"] for r in line], [r[speed] for r in line], "-o", color=colour,
                    markersize=6, label=f"{target} front")
            for r in line:
                ax.annotate(f"p{'a' if r['pipeline'] is None else r['pipeline']} r{'a' if r['roms'] is None else r['roms']}",
                            (r["logic_cells"], r[speed]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlabel("logic placed (harness included)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ok:
            ax.legend(fontsize=7)
    failed = len(rows) - len(ok)
    fig.suptitle(f"{title}: {len(ok)} designs placed" + (f", {failed} failed" if failed else "")
                 + " (labels: pN = pipeline, rN = ROMs per class, a = the goal's choice)", fontsize=10)
    return _png(fig)


def resources_png(report: dict) -> bytes:
    """Where one synthesized design's logic goes: the estimate's split over logic layers,
    popcounts, argmax, score delay and valid pipeline, the harness, and what nextpnr placed."""
    from matplotlib.figure import Figure
    estimate = report.get("estimate") or {}
    split = {PARTS.get(k, k): v for k, v in estimate.get("by_part", {}).items()}
    split["harness"] = report["harness"]["logic_cells"] if report["logic_cell_type"] == "ICESTORM_LC" \
        else report["harness"]["xor_luts"]
    fig = Figure(figsize=(7, 0.45 * (len(split) + 2) + 1))
    ax = fig.add_subplot(1, 1, 1)
    names = list(split) + ["placed (measured)"]
    values = list(split.values()) + [report["logic_cells"]]
    colours = ["tab:blue"] * len(split) + ["tab:green"]
    ax.barh(names[::-1], values[::-1], color=colours[::-1])
    for y, v in enumerate(values[::-1]):
        ax.annotate(f"{v:,}", (v, y), textcoords="offset points", xytext=(3, -3), fontsize=8)
    ax.set_xlabel(f"{report['logic_cell_type']} (parts: the estimate before synthesis; "
                  "last bar: after place and route)")
    ax.set_title(f"{report['top']} on {report['target']}: {report['logic_cells']:,} of "
                 f"{report['logic_cells_available']:,}, {report['brams']} block RAMs, "
                 + (f"{report['fmax_mhz']:.1f} MHz" if report["fmax_mhz"] else "no timing"), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
