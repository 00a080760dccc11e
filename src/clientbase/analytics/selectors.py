"""Reads of the analytics app for the RFM grid: cell sizes and money, named segment sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Avg, Count

from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.models import CustomerScore, ModelFit


@dataclass
class RfmCell:
    r: int
    f: int
    customers: int = 0
    average_monetary: Decimal | None = None


@dataclass
class RfmGrid:
    rows: list[list[RfmCell]] = field(default_factory=list)  # R from 5 down to 1, F from 1 to 5
    segments: list[tuple[str, str, int]] = field(default_factory=list)  # (code, label, size)
    last_fit: ModelFit | None = None


def rfm_grid() -> RfmGrid:
    """The 5×5 R×F grid (one aggregate query) and the named segment sizes (one more)."""
    cells = {
        (row["r_score"], row["f_score"]): row
        for row in CustomerScore.objects.filter(r_score__gt=0, f_score__gt=0)
        .values("r_score", "f_score")
        .annotate(customers=Count("pk"), average_monetary=Avg("monetary"))
        .order_by()
    }
    grid = RfmGrid()
    for r in range(5, 0, -1):
        row = []
        for f in range(1, 6):
            found = cells.get((r, f))
            cell = RfmCell(r=r, f=f)
            if found:
                cell.customers = found["customers"]
                cell.average_monetary = Decimal(found["average_monetary"]).quantize(Decimal("0.01"))
            row.append(cell)
        grid.rows.append(row)
    sizes = dict(
        CustomerScore.objects.values_list("rfm_segment")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("rfm_segment", "n")
    )
    grid.segments = [(code, str(label), sizes.get(code, 0)) for code, label in RfmSegment.choices]
    grid.last_fit = ModelFit.objects.order_by("-at", "-pk").first()
    return grid
