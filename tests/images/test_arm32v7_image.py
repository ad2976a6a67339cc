"""The arm32v7 image under qemu: a model trained here loads and scores bit for bit as here; another runtime's is refused."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers.model_bundle import fixed_rows, train, write_bundle
from tests.images.image_support import ROOT, require_image, run_inside, shared_dir

pytestmark = pytest.mark.images
SCRIPT = ROOT / "tests" / "images" / "inside_load_and_score.py"


@pytest.fixture(scope="module", autouse=True)
def built():
    return require_image("arm32v7")


def prepared(tmp_path, runtime=None):
    """A work folder with a bundle of a model trained in this environment, the rows and the script."""
    work = shared_dir(tmp_path / "work")
    write_bundle(work / "bundle", "5.0.0", train(n_estimators=100), runtime=runtime)
    (work / "rows.json").write_text(json.dumps(fixed_rows(20).tolist()))
    shutil.copy(SCRIPT, work / SCRIPT.name)
    return work


def avx512_features() -> str:
    """The AVX-512 features this CPU has, as numpy names them (NPY_DISABLE_CPU_FEATURES takes these)."""
    from numpy.core._multiarray_umath import __cpu_features__

    return " ".join(name for name, present in __cpu_features__.items() if present and name.startswith("AVX512"))


def here(work, without_avx512: bool) -> dict:
    """The project environment's scores. PyPI's numpy wheel computes `2 ** x` (the last step of an
    IsolationForest score) with Intel's SVML kernels on AVX-512 CPUs, which are not correctly rounded;
    Debian's numpy (both images) and glibc are. `without_avx512` turns those kernels off."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if without_avx512:
        env["NPY_DISABLE_CPU_FEATURES"] = avx512_features()
    out = subprocess.run([sys.executable, str(work / SCRIPT.name), str(work / "bundle"), str(work / "rows.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def inside(work) -> dict:
    out = run_inside("arm32v7", work, "python", f"/work/{SCRIPT.name}", "/work/bundle", "/work/rows.json")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_model_trained_here_scores_bit_for_bit_the_same_on_arm32v7(tmp_path):
    work = prepared(tmp_path)
    arm, local = inside(work), here(work, without_avx512=True)
    assert arm["fingerprint"]["machine"] == "armv7l"
    for key in ("scikit-learn", "numpy", "scipy", "joblib"):
        assert arm["fingerprint"][key] == local["fingerprint"][key], key
    assert "refused" not in arm, arm.get("refused")
    assert len(arm["estimator_scores"]) == 20
    assert arm["estimator_scores"] == local["estimator_scores"]
    assert arm["agent_scores"] == local["agent_scores"]


def test_a_model_bundled_for_another_runtime_is_refused_on_arm32v7(tmp_path):
    other = {"python": "3.12.3", "scikit-learn": "1.5.2", "numpy": "2.1.0", "scipy": "1.14.1", "joblib": "1.4.2"}
    arm = inside(prepared(tmp_path, runtime=other))
    assert arm["refused"]["stage"] == "runtime"
    message = arm["refused"]["error"]
    assert "scikit-learn 1.5.2 (this agent has 1.2.1)" in message and "another runtime" in message


def test_with_avx512_kernels_the_project_environment_differs_by_one_ulp_at_most(tmp_path):
    """What the bit-for-bit test works around, measured: not a model difference, the last bit of `2 ** x`."""
    work = prepared(tmp_path)
    arm, local = inside(work), here(work, without_avx512=False)
    for key in ("estimator_scores", "agent_scores"):
        for theirs, ours in zip(arm[key], local[key]):
            a, b = float.fromhex(theirs), float.fromhex(ours)
            assert abs(a - b) <= math.ulp(b), (key, theirs, ours)
