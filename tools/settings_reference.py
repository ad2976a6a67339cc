"""The settings reference (docs/settings.md), written from module/settings/sections.py at build time: each
section's class docstring and each field's attribute docstring, type, default and bounds, so the page cannot
drift.

An MkDocs hook (mkdocs.yml `hooks:`): the marker below in a page is replaced by the tables.
`python tools/settings_reference.py` prints them.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- settings-reference -->"

_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
_MIB = 1 << 20


def _settings_module():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from module import settings

    return settings


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal right under its annotated assignment in the class body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def type_text(kind: Any) -> str:
    if get_origin(kind) is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(kind))
    if get_origin(kind) in (Union, UnionType):
        parts = [type_text(arg) for arg in get_args(kind) if arg is not type(None)]
        return " or ".join(parts) + (" or none" if type(None) in get_args(kind) else "")
    if get_origin(kind) is tuple:
        return f"list of {type_text(get_args(kind)[0])}"
    return {str: "text", Path: "path", bool: "true/false", int: "integer", float: "number"}.get(kind, str(kind))


def default_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(map(str, value)) + "]`" if value else "`[]`"
    if isinstance(value, int) and value >= _MIB and value % _MIB == 0:
        return f"`{value}` ({value // _MIB} MiB)"
    return f"`{value}`"


def bounds_text(field: Any) -> str:
    parts = []
    for item in field.metadata:
        for name, sign in _BOUNDS.items():
            if getattr(item, name, None) is not None:
                parts.append(f"{sign} {getattr(item, name)}")
        if getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
    return ", ".join(parts)


def render() -> str:
    settings = _settings_module()
    out = []
    for section, section_field in settings.Settings.model_fields.items():
        cls = section_field.annotation
        live = section in settings.LIVE_SECTIONS
        out.append(f"### `{section}`\n")
        if cls.__doc__ and cls.__doc__ != settings.Section.__doc__:
            out.append(" ".join(inspect.cleandoc(cls.__doc__).split()) + "\n")
        when = "live: changes apply from the desired state while the agent runs" if live else "read at start"
        out.append(f"Environment `{settings.ENV_PREFIX}{section.upper()}_<KEY>`; {when}.\n")
        out.append("| Key | Type | Default | Meaning |")
        out.append("|---|---|---|---|")
        docs = attribute_docstrings(cls)
        for key, field in cls.model_fields.items():
            bounds = bounds_text(field)
            kind = type_text(field.annotation) + (f" ({bounds})" if bounds else "")
            meaning = docs.get(key, "").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"| `{section}.{key}` | {kind} | {default_text(field.default)} | {meaning} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: put the generated tables where the page has the marker."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown


if __name__ == "__main__":
    print(render())
