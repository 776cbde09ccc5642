"""Type validation of configuration dataclasses with pydantic, before anything runs.

:func:`type_errors` checks every field of a dataclass instance against its annotation in
pydantic's strict mode (no ``'64'`` for an int, no ``'rotation'`` split into letters for a
tuple, no ``True`` for a number) and returns one message per wrong field, naming the field,
the expected type and the value received. The values themselves are left untouched, so a
valid configuration is exactly what the user gave.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

_STRICT = ConfigDict(strict=True, arbitrary_types_allowed=True)

#: pydantic error types -> what the message says was expected
_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "none_required": "null",
}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint, config=_STRICT)


def is_tuple_type(hint: Any) -> bool:
    """Whether ``hint`` is a tuple type (optionally ``| None``): YAML and JSON give lists for those."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(is_tuple_type(arg) for arg in typing.get_args(hint))
    return hint is tuple or typing.get_origin(hint) is tuple


def tuple_fields(cls: type) -> frozenset[str]:
    """Names of the dataclass fields declared as tuples."""
    return frozenset(name for name, hint in _hints(cls).items() if is_tuple_type(hint))


def _describe(hint: Any) -> str:
    """A reader's name for a type: ``int | None`` -> 'an integer or null'."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if is_tuple_type(hint):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"a list of {_plural(args[0])}" if args else "a list"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is dict or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(hint, _describe(hint))


def type_errors(obj: Any, *, name: str = "{}") -> list[str]:
    """One message per field of dataclass ``obj`` whose value does not fit its annotation.

    ``name`` formats the field name for the message, e.g. ``"config key {!r}"``.
    """
    messages = []
    for field in dataclasses.fields(obj):
        hint = _hints(type(obj))[field.name]
        value = getattr(obj, field.name)
        try:
            _adapter(hint).validate_python(value)
        except ValidationError as err:
            first = err.errors()[0]
            where = "".join(f"[{p!r}]" for p in first["loc"])
            detail = f" ({where} should be {_EXPECTED[first['type']]})" if where and first["type"] in _EXPECTED else ""
            shown = list(value) if isinstance(value, tuple) else value  # lists were made tuples; show what was given
            messages.append(
                f"{name.format(field.name)} should be {_describe(hint)}, but got {shown!r} "
                f"({type(shown).__name__}){detail}"
            )
    return messages
