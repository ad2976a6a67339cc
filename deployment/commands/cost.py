"""`cost`: bytes per device per update on each delivery path, measured from the artefacts, and the fleet's
monthly cost at the price used and at both readings of the article's price ($720/GB and $25/GB)."""

from __future__ import annotations

import argparse

from .. import cost
from ..errors import UsageError
from ..tables import table


def register(subparsers) -> None:
    p = subparsers.add_parser("cost", help="bytes per update per delivery path and the fleet's monthly cost",
                              description=__doc__)
    p.add_argument("--devices", type=int, default=cost.FLEET_DEVICES, help="fleet size (default 100,000)")
    p.add_argument("--price-per-gb", type=float, default=cost.PLAN_PRICE,
                   help="cellular price in $ per GB (10^9 bytes); default 720, the article's plan price")
    p.add_argument("--updates-per-month", type=float, default=1.0, help="model updates a month (default 1)")
    p.add_argument("--bundle", metavar="DIR", help="a bundle directory: twin inline and URL paths")
    p.add_argument("--url", help="the URL the twin would carry (default: a typical blob SAS URL)")
    p.add_argument("--layer", metavar="DIR[:REF]|FILE",
                   help="an OCI layout from `layer --oci-layout`, or the output of `layer --json`")
    p.add_argument("--chart", metavar="PNG", help="also draw the figures as a PNG chart")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def measured_paths(args: argparse.Namespace) -> list[cost.DeliveryPath]:
    paths = cost.twin_paths(args.bundle, args.url) if args.bundle else []
    if args.layer:
        total, source = cost.layer_numbers(args.layer)
        paths.append(cost.DeliveryPath("tiny image layer (layer+config+manifest)", total, source))
    return paths + [cost.reference_path()]


def rows(paths: list[cost.DeliveryPath], devices: int, per_month: float, prices: list[float]) -> list[dict]:
    out = []
    for path in paths:
        row = {"path": path.name, "bytes_per_update": path.bytes_per_update, "source": path.source}
        if path.bytes_per_update is not None:
            gb = cost.monthly_gb(path.bytes_per_update, devices, per_month)
            row["fleet_gb_per_month"] = gb
            row["usd_per_month"] = {f"{p:g}": gb * p for p in prices}
            row["share_of_full_image"] = path.bytes_per_update / cost.FULL_IMAGE_BYTES
        out.append(row)
    return out


def run(args: argparse.Namespace) -> int:
    if args.devices <= 0 or args.price_per_gb < 0 or args.updates_per_month < 0:
        raise UsageError("--devices must be positive, --price-per-gb and --updates-per-month not negative")
    prices = cost.prices(args.price_per_gb)
    result = rows(measured_paths(args), args.devices, args.updates_per_month, prices)
    args.result = {"devices": args.devices, "updates_per_month": args.updates_per_month,
                   "price_per_gb": args.price_per_gb, "prices": prices, "gb_bytes": cost.GB, "paths": result}
    if not args.json:
        print(f"price used: ${args.price_per_gb:,.2f}/GB; the article's readings: ${cost.PLAN_PRICE:,.2f}/GB "
              f"(its plan price) and ${cost.IMPLIED_PRICE_PER_GB:,.2f}/GB (what its own sums imply). "
              f"GB = 10^9 bytes.")
        print(f"fleet: {args.devices:,} devices x {args.updates_per_month:g} update(s) a month\n")
        headers = ["PATH", "BYTES/DEVICE/UPDATE", "FLEET GB/MONTH"] + [f"$/MONTH @ ${p:g}/GB" for p in prices]
        body = [[r["path"], r["bytes_per_update"], _gb(r.get("fleet_gb_per_month"))]
                + [_usd(r.get("usd_per_month", {}).get(f"{p:g}")) for p in prices] for r in result]
        print(table(headers, body))
        print("\nwhere the bytes come from:")
        for r in result:
            print(f"  {r['path']}: {r['source']}")
        print()
        print("\n".join(cost.seed_lines(args.price_per_gb)))
    if args.chart:
        from ..cost_chart import draw

        draw(result, prices, args.devices, args.updates_per_month, args.chart)
        print(f"\nchart: {args.chart}")
    return 0


def _gb(value: float | None) -> str | None:
    return None if value is None else f"{value:,.6f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.1f}"


def _usd(value: float | None) -> str | None:
    return None if value is None else f"${value:,.2f}"
