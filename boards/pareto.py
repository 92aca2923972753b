"""The Pareto fronts of a sweep and its report: a table, a PNG and a self-contained HTML page.

Area is what nextpnr placed, harness included (``logic_cells``: iCE40 logic cells, ECP5
``TRELLIS_COMB``, i.e. LUT4s); speed is Fmax, and latency is in ns at that Fmax. A front is
taken per target part, since their units of area differ.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from .figures import pareto_png

__all__ = ["COLUMNS", "front", "table_text", "write_report"]

# (row field, table heading)
COLUMNS = (("target", "target"), ("goal", "goal"), ("pipeline", "pipeline"), ("roms", "roms"),
           ("seed", "seed"), ("status", "status"), ("logic_cells", "logic"), ("luts", "LUT4"),
           ("ffs", "FF"), ("brams", "BRAM"), ("fmax_mhz", "Fmax MHz"), ("latency_cycles", "cycles"),
           ("latency_ns", "latency ns"), ("synth_s", "P&R s"), ("cached", "cached"))


def front(rows: list[dict], speed: str) -> list[dict]:
    """The rows no other row of the same target beats: no more logic and a better ``speed``
    (``fmax_mhz``: higher; ``latency_ns``: lower), better in at least one; sorted by logic."""
    sign = -1 if speed == "fmax_mhz" else 1
    ok = [r for r in rows if r["status"] == "ok"]
    kept = []
    for r in ok:
        a = (r["logic_cells"], sign * r[speed])
        if not any(o["target"] == r["target"] and (o["logic_cells"], sign * o[speed]) != a
                   and o["logic_cells"] <= a[0] and sign * o[speed] <= a[1] for o in ok):
            kept.append(r)
    # equal points (another seed landing on the same figures) are one point of the front
    unique = {(r["target"], r["logic_cells"], r[speed]): r for r in kept}
    return sorted(unique.values(), key=lambda r: (r["target"], r["logic_cells"]))


def _cell(row: dict, field: str) -> str:
    value = row.get(field)
    if value is None:
        return "auto" if field in ("pipeline", "roms") else "-"
    if field == "cached":
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def table_text(rows: list[dict]) -> str:
    """The rows as an aligned text table; failed rows' reasons follow it."""
    cells = [[h for _, h in COLUMNS]] + [[_cell(r, f) for f, _ in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "failed:"] + [f"  {r['target']} {r['goal']} pipeline={_cell(r, 'pipeline')} "
                                    f"roms={_cell(r, 'roms')} seed={r['seed']}: {r['reason']}" for r in failed]
    return "\n".join(lines) + "\n"


def _html(title: str, rows: list[dict], png: bytes, meta: dict) -> str:
    # a row is on a front when its figures are a front's point (another seed may have landed on them)
    points = {(speed, r["target"], r["logic_cells"], r[speed])
              for speed in ("fmax_mhz", "latency_ns") for r in front(rows, speed)}
    on_front = [r["status"] == "ok" and any((speed, r["target"], r["logic_cells"], r[speed]) in points
                                            for speed in ("fmax_mhz", "latency_ns")) for r in rows]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in COLUMNS) + "<th>reason</th>"
    body = "\n".join(
        f'<tr class="{"front" if front_row else r["status"]}">'
        + "".join(f"<td>{html.escape(_cell(r, f))}</td>" for f, _ in COLUMNS)
        + f"<td>{html.escape(r.get('reason') or '')}</td></tr>" for r, front_row in zip(rows, on_front))
    facts = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in meta.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
tr.front {{ background: #e6f2ff; font-weight: bold; }}
tr.failed {{ color: #a00; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<img alt="Pareto fronts: logic against Fmax and against latency" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<ul>{facts}</ul>
<p>Bold rows are on a Pareto front (per part: no other design has less logic and a higher Fmax,
or less logic and a lower latency). Area is what nextpnr placed, the synthesis harness included.</p>
<table><tr>{head}</tr>
{body}
</table></body></html>
"""


def write_report(rows: list[dict], out: Path, title: str, meta: dict) -> None:
    """Write ``explore.json`` (rows and ``meta``), ``explore.txt``, ``pareto.png`` and
    ``report.html`` (the PNG and the table in one file) into the directory ``out``."""
    png = pareto_png(rows, front(rows, "fmax_mhz"), front(rows, "latency_ns"), title)
    (out / "explore.json").write_text(json.dumps({"format": "lgn2rtl-explore/1", **meta, "rows": rows},
                                                 indent=1) + "\n")
    (out / "explore.txt").write_text(table_text(rows))
    (out / "pareto.png").write_bytes(png)
    (out / "report.html").write_text(_html(title, rows, png, meta))
