"""Type and range checks for every setting, declared beside the field they guard.

A field declared with :func:`setting` carries its allowed range or choices in the
dataclass metadata; :func:`check_section` walks a config and checks each value against its
type hint and those limits, so a wrong value fails with one line that names the setting
("stage1.epochs must be an integer, got 'ten'") before anything is trained, instead of a
``TypeError`` deep inside training or, worse, a silent run with ``lr: -1``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import MISSING, field, fields
from typing import Any

from ncvqvae.errors import ConfigError


def setting(
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    alias: str | None = None,
) -> Any:
    """A dataclass field with its limits: ``ge``/``gt``/``le``/``lt`` bound a number,
    ``choices`` lists the values a string may take; ``alias`` is another name a file or
    ``--set`` may use for it (``lambda``, which Python reserves)."""
    limits = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    metadata: dict[str, Any] = {"limits": {k: v for k, v in limits.items() if v is not None}}
    if alias:
        metadata["alias"] = alias
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_section(section: Any, where: str) -> None:
    """Check every field of a (possibly nested) config dataclass, recursing into sections."""
    hints = _hints(type(section))
    for f in fields(section):
        value = getattr(section, f.name)
        name = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value):
            check_section(value, name)
            continue
        check_type(value, hints[f.name], name)
        check_limits(value, f.metadata.get("limits", {}), name)


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})" if isinstance(value, str) else repr(value)


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    words = [names.get(o, "null") if o is not type(None) else "null" for o in options]
    return " or ".join(words)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _matches(value: Any, hint: Any) -> bool:
    if _is_union(hint):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # nested types are checked where they are declared


def check_type(value: Any, hint: Any, name: str) -> None:
    if _matches(value, hint):
        return
    fix = ""
    if isinstance(value, str) and value.strip() and _looks_numeric(value):
        fix = "; write it without quotes"
    raise ConfigError(f"{name} must be {_type_name(hint)}, got {_describe(value)}{fix}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_limits(value: Any, limits: dict[str, Any], name: str) -> None:
    if value is None or not limits:
        return
    choices = limits.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for key, ok, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = limits.get(key)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"{name} must be {word} {bound:g}, got {value:g}")
