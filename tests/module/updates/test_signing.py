"""Ed25519 signatures over the canonical manifest: off, on, bad, missing, downgrade and signed rollback."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from module.updates import signing

from .conftest import desired_of, settle


@pytest.fixture
def keys(tmp_path):
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode("ascii")


def _update(agent, section, version=1):
    agent.handle_desired({"model": section, "$version": version})
    return settle(agent)


def test_canonical_manifest_is_sorted_compact_utf8():
    text = signing.canonical_manifest({"version": "7", "format": "pickle", "sha256": "ab", "size": 5, "url": "x"})
    assert text == b'{"format":"pickle","sha256":"ab","size":5,"version":"7"}'
    with_rollback = signing.canonical_manifest({"version": "7", "format": "pickle", "sha256": "ab", "size": 5,
                                                "rollback": True})
    assert with_rollback == b'{"format":"pickle","rollback":true,"sha256":"ab","size":5,"version":"7"}'


def test_signing_off_accepts_an_unsigned_update(start_agent, bundle):
    agent = start_agent()
    assert _update(agent, bundle("2").section)["status"] == "active"


def test_signed_update_is_accepted_with_the_key_as_pem_path_or_raw(start_agent, bundle, keys, tmp_path):
    private, public = keys
    b = bundle("2", sign_key=private)
    pem_file = tmp_path / "public.pem"
    pem_file.write_text(public)
    raw = base64.b64encode(signing.load_public_key(public).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    for key in (public, str(pem_file), raw):
        agent = start_agent(updates={"public_key": key}, data_dir=tmp_path / f"d{len(key)}")
        assert _update(agent, b.section)["status"] == "active"


def test_unsigned_update_is_refused_when_a_key_is_set(start_agent, bundle, keys):
    agent = start_agent(updates={"public_key": keys[1]})
    before = agent.slot.current
    state = _update(agent, bundle("2").section)
    assert state["status"] == "failed" and "signature is required" in state["error"]
    assert agent.slot.current is before


@pytest.mark.parametrize("tamper", ["other key", "garbage", "changed sha256", "changed version", "added rollback"])
def test_bad_signature_is_refused_before_download(start_agent, bundle, keys, tamper):
    private, public = keys
    b = bundle("2", sign_key=private)
    other = bundle("3", seed=9)
    section = {
        "other key": lambda: desired_of(b, signature=signing.sign(b.manifest, Ed25519PrivateKey.generate())),
        "garbage": lambda: desired_of(b, signature="not base64!"),
        "changed sha256": lambda: desired_of(other, signature=b.section["signature"], version="2"),
        "changed version": lambda: desired_of(b, version="9"),
        "added rollback": lambda: desired_of(b, rollback=True),
    }[tamper]()
    agent = start_agent(updates={"public_key": public})
    before = agent.slot.current
    state = _update(agent, section)
    assert state["status"] == "failed" and state["error"].startswith("verify: ")
    assert agent.slot.current is before
    assert not (agent.settings.agent.data_dir / "models" / section["version"]).exists()


def test_downgrade_refused_under_signing_unless_signed_as_rollback(start_agent, tmp_path, model_file, keys):
    from deployment.bundling import build_bundle

    private, public = keys
    path = model_file(3)
    old = build_bundle(path, "4", tmp_path / "b4", sign_key=private)
    new = build_bundle(model_file(5), "10", tmp_path / "b10", sign_key=private)
    agent = start_agent(updates={"public_key": public})
    assert _update(agent, new.section, 1)["version"] == "10"
    state = _update(agent, old.section, 2)
    assert state["status"] == "failed" and "older than the active 10" in state["error"]
    assert agent.slot.current.version == "10"
    back = build_bundle(path, "4", tmp_path / "b4r", sign_key=private, rollback=True)
    state = _update(agent, back.section, 3)
    assert state["status"] in ("active", "rolled_back") and agent.slot.current.version == "4"


def test_downgrade_allowed_without_signing(start_agent, tmp_path, model_file):
    from deployment.bundling import build_bundle

    agent = start_agent()
    assert _update(agent, build_bundle(model_file(5), "10", tmp_path / "b10").section, 1)["version"] == "10"
    assert _update(agent, build_bundle(model_file(3), "4", tmp_path / "b4").section, 2)["version"] == "4"
