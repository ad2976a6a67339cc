"""Train the release pipeline's model: a 100-tree IsolationForest on the NAB machine-temperature series
(replace with your own training; it must run on requirements/runtime.txt's versions)."""

import argparse
import pickle

from sklearn.ensemble import IsolationForest

from module.models import nab

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--trees", type=int, default=100)
parser.add_argument("--out", default="model.pkl")
args = parser.parse_args()
_, values = nab.load_series()
model = IsolationForest(n_estimators=args.trees, random_state=0).fit(nab.to_features(values))
with open(args.out, "wb") as fh:
    pickle.dump(model, fh, protocol=5)
print(f"trained {args.trees} trees -> {args.out}")
