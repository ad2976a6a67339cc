"""The agent starts on its embedded default and scores a SimulatedTemperatureSensor message."""

from module.models import embedded, nab
from module.settings import load


def test_embedded_nab_forest_is_deterministic():
    first = embedded.manifest(embedded.build("nab-forest")[1], None)
    second = embedded.manifest(embedded.build("nab-forest")[1], None)
    assert first["sha256"] == second["sha256"]
    assert first["version"] == nab.FOREST_VERSION


def test_nab_features_have_default_width():
    _, values = nab.load_series()
    X = nab.to_features(values[:10])
    assert X.shape == (10, len(load(environ={}).scoring.features))
