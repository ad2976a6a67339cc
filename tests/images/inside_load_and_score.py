"""Run INSIDE an image (and in the project's venv, for comparison): load a bundle the agent's way, score rows.

Usage: python inside_load_and_score.py BUNDLE_DIR ROWS_JSON -> prints one JSON line: the runtime fingerprint
and either the scores (float.hex, for bit-for-bit comparison) or the refusal (stage and message).
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from module.errors import UpdateError
from module.runtime import fingerprint
from module.settings import load
from module.updates import candidate


def main(bundle: Path, rows_file: Path) -> None:
    settings = load(environ={}, overrides={"agent": {"data_dir": tempfile.mkdtemp()}})
    manifest = json.loads((bundle / "manifest.json").read_text())
    rows = np.array(json.loads(rows_file.read_text()), dtype=np.float64)
    out = {"fingerprint": fingerprint()}
    try:
        model = candidate.load(bundle / manifest["file"], manifest, settings, "test")
    except UpdateError as exc:
        out["refused"] = {"stage": exc.stage, "error": str(exc)}
    else:
        out["scorer"] = model.scorer.name
        out["agent_scores"] = [float(s).hex() for s in model.scorer.score(rows)]
        out["estimator_scores"] = [float(s).hex() for s in model.estimator.score_samples(rows)]
    print(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
