"""default.conf and the README document exactly the declared options, with their declared defaults."""

from __future__ import annotations

import re

import pytest

from bcx import config_docs
from bcx.config import LEGACY_TRACKER_KEYS, load_config, packaged_default
from bcx.options import Option

README = config_docs.README.read_text(encoding="utf-8")
DEFAULTS_STATED = re.findall(r"`(?:\[([\w:-]+)\] )?(\w+)`\**\s+\(default `([^`]*)`\)", README)  # `key` (default `x`)


def declared() -> dict[str, dict[str, Option]]:
    """Section as the README names it -> its options; every [exchange:NAME] also under exchange:NAME."""
    found: dict[str, dict[str, Option]] = {}
    for name, _, options in config_docs.file_sections():
        found[name] = options
        if name.startswith("exchange:"):
            found.setdefault("exchange:NAME", {}).update(options)
    found["alert:NAME"] = config_docs.options_of(config_docs.AlertConfig)
    return found


def test_the_packaged_default_conf_is_the_rendered_declaration():
    """`make config-docs` rewrites it: an option changed in bcx/config.py and not rendered fails here."""
    assert packaged_default().read_text(encoding="utf-8") == config_docs.render_conf()


def test_the_readme_option_table_is_the_rendered_declaration():
    assert config_docs.with_table(README, config_docs.render_options_table()) == README


def test_the_rendered_default_conf_loads_to_the_declared_defaults(tmp_path):
    """Every option shows its default, and reading them back gives what an empty file gives."""
    path, empty = tmp_path / "rendered.conf", tmp_path / "empty.conf"
    path.write_text(config_docs.render_conf())
    empty.write_text("")
    rendered, nothing = load_config(str(path)), load_config(str(empty))
    assert rendered.path != nothing.path
    assert {**vars(rendered), "path": ""} == {**vars(nothing), "path": ""}
    for name, options in declared().items():
        if name.endswith(":NAME"):
            continue
        for key, option in options.items():
            assert f"\n{key} = {option.default}".rstrip() + "\n" in config_docs.render_conf(), (name, key)


def test_every_option_the_readme_names_is_declared():
    sections = declared()
    legacy = {("tracker", key) for key in LEGACY_TRACKER_KEYS}  # documented as deprecated
    named = re.findall(r"`\[([\w:-]+)\](?: (\w+))?`", README)
    assert len(named) > 20
    for section, key in named:
        assert section in sections, f"[{section}] is not a declared section"
        assert not key or key in sections[section] or (section, key) in legacy, f"[{section}] {key} is not declared"


def test_the_readme_states_defaults_to_check():
    assert len(DEFAULTS_STATED) >= 3


@pytest.mark.parametrize("section, key, default", DEFAULTS_STATED)
def test_every_default_the_readme_states_is_the_declared_one(section, key, default):
    sections = declared()
    candidates = [sections[section]] if section else list(sections.values())
    assert default in {options[key].default for options in candidates if key in options}, (section, key)


def test_a_readme_without_the_table_markers_is_refused():
    with pytest.raises(ValueError, match="no <!-- options"):
        config_docs.with_table("# README\n", "| table |")
