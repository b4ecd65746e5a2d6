"""One config option, declared once: its key, converter, default as written in the file, and help.

A section's typed object is a frozen dataclass whose fields are declared with `option()`: the field's name is
the key, its annotation the type, and its metadata the `Option`. The parser (bcx.config), the commented
default.conf and the README's option table (bcx.config_docs) are all derived from those fields, and a
dataclass built with no arguments holds the declared defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

_OPTION = "bcx.option"  # the metadata key of a field declared with option()


@dataclass(frozen=True)
class Option:
    convert: Callable[[str], Any]  # the file's text -> the typed value; ValueError with a message on bad input
    default: str | None  # as written in the file; None: the key is required
    help: str  # one line: the README's table, and the first comment line above the key in default.conf
    more: str = ""  # further explanation, for default.conf only

    def default_value(self) -> Any:
        if self.default is None:
            raise LookupError("a required option has no default")
        return self.convert(self.default)


@dataclass(frozen=True)
class Section:
    """A section that is not one dataclass (each [exchange:NAME] declares its own endpoints' defaults)."""

    options: dict[str, Option]
    intro: str = ""  # a comment above the section's options in default.conf


def option(convert: Callable[[str], Any], default: str | None, help: str, more: str = "") -> Any:
    """A dataclass field declaring one option; its default is the converted default text."""
    declared = Option(convert, default, help, more)
    metadata = {_OPTION: declared}
    if default is None:
        return field(metadata=metadata)
    return field(default_factory=declared.default_value, metadata=metadata)


def options_of(cls: type) -> dict[str, Option]:
    """The options a dataclass declares, in declaration order (its other fields are not options)."""
    return {f.name: f.metadata[_OPTION] for f in fields(cls) if _OPTION in f.metadata}
