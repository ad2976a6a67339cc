"""Parses REGISTRY/REPOSITORY[:TAG|@DIGEST]; the registry must be named (there is no Docker Hub default)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import LayerError

_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    reference: str
    """A tag or a sha256 digest."""

    def __str__(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{sep}{self.reference}"


def parse(text: str, *, tag_required: bool = False) -> Reference:
    registry, slash, rest = text.partition("/")
    if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
        raise LayerError(f"{text!r}: expected REGISTRY/REPOSITORY:TAG with the registry named, "
                         "e.g. myregistry.azurecr.io/edgemodelagent:0.1.0-amd64")
    if "@" in rest:
        repository, _, reference = rest.partition("@")
        if not _DIGEST.match(reference):
            raise LayerError(f"{text!r}: {reference!r} is not a sha256 digest")
        if tag_required:
            raise LayerError(f"{text!r}: a tag is needed here, not a digest")
    else:
        repository, colon, reference = rest.rpartition(":") if ":" in rest else (rest, "", "")
        if not colon:
            raise LayerError(f"{text!r}: no tag (add :TAG)")
        if not _TAG.match(reference):
            raise LayerError(f"{text!r}: {reference!r} is not a valid tag")
    if not _REPO.match(repository):
        raise LayerError(f"{text!r}: {repository!r} is not a valid repository name (lower case, digits, . _ - /)")
    return Reference(registry, repository, reference)
