"""Retrain the anomaly model for iot_score.py and write it as model.pkl (the file the script loads).

    python examples/azureml_iot_score/train.py model.pkl [--trees 100] [--seed 1]

Trained on the bundled NAB series mapped to SimulatedTemperatureSensor's four fields, with the
project's pinned scikit-learn, so every device running the same runtime loads it.
"""

import argparse
import pickle
import sys
from pathlib import Path

from sklearn.ensemble import IsolationForest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout, no install needed
from module.models import nab  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="where to write the model (model.pkl)")
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    _, values = nab.load_series()
    model = IsolationForest(n_estimators=args.trees, contamination=0.01, random_state=args.seed)
    model.fit(nab.to_features(values))
    # A plain pickle: the agent's restricted loader reads it, and joblib.load in the script reads it too.
    args.out.write_bytes(pickle.dumps(model, protocol=5))
    print(f"wrote {args.out} ({args.trees} trees, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
