"""The release history and exemption statistics of requests and agencies, as HTML pieces of
their pages and in their ``.json`` twins (the data is computed once, ``app.services.releases``).

The chart is inline SVG drawn on the server: stacked bars, one per period, of the pages on
which each exemption is claimed, the most claimed codes in their own colour and the rest as
"other". No script is needed to read it, and the table beside it holds the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.services.documents import exemption_label
from app.services.releases import ExemptionStats, ReleaseChange
from app.urls import production_path

CHART_CODES = 6  # codes drawn in their own colour; the others are stacked as "other"
CHART_WIDTH = 640
CHART_HEIGHT = 200
_PALETTE = ("#1b4f72", "#b9770e", "#1e8449", "#922b21", "#6c3483", "#117a65", "#7f8c8d")


def release_change_json(change: ReleaseChange) -> dict[str, Any]:
    production = change.production
    return {
        "production": {
            "id": production.id,
            "title": production.title,
            "url": production_path(production.id),
            "release_date": production.release_date.isoformat()
            if production.release_date
            else None,
        },
        "pages": change.pages,
        "new_pages": change.new_pages,
        "rereleased_pages": change.rereleased,
        "rereleased_with_fewer_redactions": change.fewer_redactions,
        "rereleased_with_more_redactions": change.more_redactions,
        "withheld_pages": change.withheld_pages,
        "rereleases": [
            {"id": p.id, "title": p.title, "url": production_path(p.id)} for p in change.earlier
        ],
    }


def exemption_stats_json(stats: ExemptionStats) -> dict[str, Any]:
    return {
        "codes": [{"code": c, "label": exemption_label(c)} for c in stats.codes],
        "periods": [
            {
                "label": row.label,
                "date": row.day.isoformat() if row.day else None,
                "pages": row.pages,
                "redaction_boxes": row.redaction_boxes,
                "withheld_pages": row.withheld_pages,
                "exemptions": {code: row.exemptions.get(code, 0) for code in stats.codes},
            }
            for row in stats.rows
        ],
        "totals": stats.totals,
    }


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # what a pointer or a screen reader is told


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]  # x of the centre of each period, its label
    legend: list[tuple[str, str]]  # colour, code label
    top: int  # the largest stacked total (the scale)


def exemption_chart(stats: ExemptionStats) -> Chart | None:
    """Stacked bars of exemption claims per period, or None when nothing was claimed."""
    shown = stats.codes[:CHART_CODES]
    colours = {code: _PALETTE[i] for i, code in enumerate(shown)}
    stacks = []
    for row in stats.rows:
        parts = [(code, row.exemptions.get(code, 0)) for code in shown]
        other = sum(n for code, n in row.exemptions.items() if code not in colours)
        parts.append(("other", other))
        stacks.append((row.label, [(c, n) for c, n in parts if n]))
    top = max((sum(n for _, n in parts) for _, parts in stacks), default=0)
    if not top:
        return None
    plot = CHART_HEIGHT - 30  # room for the labels under the bars
    slot = CHART_WIDTH / len(stacks)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for i, (label, parts) in enumerate(stacks):
        x = i * slot + slot * 0.15
        y = float(plot)
        for code, n in parts:
            height = plot * n / top
            y -= height
            name = exemption_label(code) if code != "other" else "other exemptions"
            bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(slot * 0.7, 1),
                    round(height, 1),
                    colours.get(code, _PALETTE[-1]),
                    f"{label}: {name} on {n:,} page{'s' if n != 1 else ''}",
                )
            )
        # Long production titles would run into their neighbours: the table has them whole.
        room = max(4, int(slot / 7))
        short = label if len(label) <= room else label[: room - 1] + "\u2026"
        labels.append((round(i * slot + slot / 2, 1), short))
    legend = [(colours[c], exemption_label(c)) for c in shown]
    if any(code not in colours for code in stats.codes):
        legend.append((_PALETTE[-1], "other exemptions"))
    return Chart(CHART_WIDTH, CHART_HEIGHT, bars, labels, legend, top)
