"""The cost report as a PNG: bytes per device per update by path, and the fleet's monthly cost at each
price reading, both on log scales (the paths differ by four orders of magnitude)."""

from __future__ import annotations

from pathlib import Path


def draw(rows: list[dict], prices: list[float], devices: int, per_month: float, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a build machine
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("bytes_per_update")]
    names = [r["path"].replace(" (", "\n(") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    bars = left.barh(names, [r["bytes_per_update"] for r in rows], color="#4c72b0")
    left.set_xscale("log")
    left.set_xlabel("bytes per device per update (log scale)")
    left.invert_yaxis()
    for bar, row in zip(bars, rows):
        left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {row['bytes_per_update']:,} B",
                  va="center", fontsize=8)
    height = 0.8 / len(prices)
    for i, price in enumerate(prices):
        values = [r["usd_per_month"][f"{price:g}"] for r in rows]
        ys = [y + i * height for y in range(len(rows))]
        for y, value in zip(ys, right.barh(ys, values, height=height, label=f"${price:g}/GB")):
            right.text(value.get_width(), y, f" ${value.get_width():,.0f}", va="center", fontsize=7)
    right.set_yticks([y + height * (len(prices) - 1) / 2 for y in range(len(rows))], names)
    right.set_xscale("log")
    right.invert_yaxis()
    right.set_xlabel("US$ a month for the fleet (log scale)")
    right.legend(title="price per GB")
    fig.suptitle(f"Model update delivery: bytes per device, and the monthly cost for {devices:,} devices x "
                 f"{per_month:g} update(s) (GB = 10^9 bytes)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
