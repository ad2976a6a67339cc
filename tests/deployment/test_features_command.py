"""`python -m deployment features` and `bundle --features`: the matrix on the command line, the spec signed."""

import csv
import json
import pickle
from pathlib import Path

from sklearn.ensemble import IsolationForest

from deployment.__main__ import main
from module.features import training_matrix
from module.updates import signing

NAB = Path(__file__).resolve().parents[2] / "module" / "data" / "nab" / "machine_temperature_system_failure.csv"
SPEC = {"columns": ["value", "diff(value)", "mean(value, 4)"]}


def test_features_command_writes_the_offline_matrix(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    assert main(["features", str(tmp_path / "spec.json"), str(NAB), "--out", str(tmp_path / "m.csv")]) == 0
    with open(tmp_path / "m.csv", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["value", "diff(value)", "mean(value, 4)", "warm", "partition"]
    expected = training_matrix(SPEC, NAB)
    assert [float(v) for v in lines[10][:3]] == expected.X[9].tolist()
    assert lines[2][3:] == ["false", "offline"] and lines[10][3] == "true"
    assert len(lines) == len(expected.X) + 1


def test_features_command_names_a_bad_column(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(json.dumps({"columns": ["value", "mode(value, 3)"]}))
    assert main(["features", str(tmp_path / "spec.json"), str(NAB)]) == 2
    assert "'mode(value, 3)'" in capsys.readouterr().err


def test_bundle_puts_the_spec_under_the_signature(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    m = training_matrix(SPEC, NAB)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(IsolationForest(n_estimators=5, random_state=0).fit(m.X)))
    assert main(["bundle", str(tmp_path / "model.pkl"), "--version", "3", "--features", str(tmp_path / "spec.json"),
                 "--out", str(tmp_path / "b")]) == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["features"]["columns"] == SPEC["columns"]
    assert b'"features"' in signing.canonical_manifest(manifest)
    section = json.loads((tmp_path / "b" / "desired.json").read_text())["model"]
    assert json.loads(section["features"])["columns"] == SPEC["columns"]


def test_bundle_refuses_a_spec_of_the_wrong_width(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(json.dumps({"columns": ["value"]}))
    m = training_matrix(SPEC, NAB)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(IsolationForest(n_estimators=5, random_state=0).fit(m.X)))
    assert main(["bundle", str(tmp_path / "model.pkl"), "--version", "3", "--features", str(tmp_path / "spec.json"),
                 "--out", str(tmp_path / "b")]) == 2
    assert "1 columns" in capsys.readouterr().err
