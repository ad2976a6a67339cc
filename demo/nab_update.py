"""Train the NAB update offline and bundle it: a windowed IsolationForest for the NAB machine.

    .venv/bin/python demo/nab_update.py --out bundles/nab-1 --url http://127.0.0.1:8081/nab-1/payload.zst

Writes into --out: spec.yaml (the feature spec), series.csv (the NAB series as the messages
demo/stream_nab.py sends), model.pkl, then runs `python -m deployment bundle model.pkl --features
spec.yaml --canary-data series.csv` into the same directory (manifest.json, payload.zst, desired.json).
The training matrix comes from module.features.training_matrix, the code the agent runs per message, so
the model is trained on exactly the rows it will be served. Prints what the update costs on the wire.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from module.features import load_spec, training_matrix  # noqa: E402
from module.models import nab  # noqa: E402

#: The four columns the issue measured: the reading, its change, and the level and spread of the last hour.
SPEC_YAML = """\
# The NAB update's features: one machine temperature and its recent history (12 readings = 1 hour).
columns:
  - machine.temperature
  - diff(machine.temperature)
  - mean(machine.temperature, 12)
  - std(machine.temperature, 12)
time: {field: timeCreated, fallback: arrival}
partition: sender
"""
TREES, CONTAMINATION, SEED = 100, 0.01, 0
#: The reference an image update costs: the seed's model baked into a new ~60 MB layer (docs/operators.md).
IMAGE_LAYER_BYTES = 60_000_000
SERIES_HEADER = ("machine.temperature", "machine.pressure", "ambient.temperature", "ambient.humidity", "timeCreated")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bundles/nab-1"), help="the bundle directory")
    p.add_argument("--version", default="nab-1", help="the model version the agent will report")
    p.add_argument("--url", help="where payload.zst will be served (a 100-tree model is too large for the twin)")
    return p.parse_args(argv)


def time_created(stamp: str) -> str:
    """A NAB timestamp ("2013-12-02 21:15:00") as SimulatedTemperatureSensor's timeCreated."""
    return stamp.replace(" ", "T") + ".0000000Z"


def write_series(path: Path) -> list[dict]:
    """The NAB series as messages (module/models/nab.py's mapping), and as a CSV of field paths."""
    stamps, values = nab.load_series()
    messages = [nab.to_message(row, time_created(s)) for row, s in zip(nab.to_features(values), stamps)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SERIES_HEADER)
        for m in messages:
            writer.writerow([repr(m["machine"]["temperature"]), repr(m["machine"]["pressure"]),
                             repr(m["ambient"]["temperature"]), repr(m["ambient"]["humidity"]), m["timeCreated"]])
    return messages


def train(spec_path: Path, series_path: Path):
    """IsolationForest on the warm rows of the training matrix, as serving will judge them."""
    from sklearn.ensemble import IsolationForest

    spec = load_spec(spec_path)
    matrix = training_matrix(spec, series_path)
    model = IsolationForest(n_estimators=TREES, contamination=CONTAMINATION, random_state=SEED)
    return model.fit(matrix.X[matrix.warm]), matrix


def bundle_command(out: Path, version: str, url: str | None) -> list[str]:
    command = [sys.executable, "-m", "deployment", "bundle", str(out / "model.pkl"), "--version", version,
               "--features", str(out / "spec.yaml"), "--canary-data", str(out / "series.csv"), "--out", str(out)]
    return command + (["--url", url] if url else [])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.yaml").write_text(SPEC_YAML, encoding="utf-8")
    write_series(out / "series.csv")
    model, matrix = train(out / "spec.yaml", out / "series.csv")
    with (out / "model.pkl").open("wb") as fh:
        pickle.dump(model, fh, protocol=5)
    print(f"trained IsolationForest ({TREES} trees, contamination {CONTAMINATION}, random_state {SEED}) on "
          f"{int(matrix.warm.sum()):,} warm rows of {len(matrix.X):,} (training_matrix, {out / 'spec.yaml'})")
    command = bundle_command(out, args.version, args.url)
    print("$ python -m deployment " + " ".join(command[3:]), flush=True)
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        return done.returncode
    payload = (out / "payload.zst").stat().st_size
    print(f"update cost: payload.zst {payload:,} bytes (model.pkl {(out / 'model.pkl').stat().st_size:,}), "
          f"{payload / IMAGE_LAYER_BYTES:.2%} of a ~60 MB image layer ({IMAGE_LAYER_BYTES / payload:,.0f}x fewer bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
