"""The commented default.conf and the README's option table, rendered from the one declaration (bcx.config).

`python -m bcx.config_docs` (`make config-docs`) rewrites both after an option changes; tests check that the
committed files equal the rendering, so neither can drift from what the parser reads.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from bcx.config import EXCHANGE_SECTIONS, SECTIONS, AlertConfig, packaged_default
from bcx.options import Option, options_of

WIDTH = 116
README = Path(__file__).resolve().parents[1] / "README.md"
TABLE_START = "<!-- options: rendered from bcx/config.py by `make config-docs`; a test checks it -->"
TABLE_END = "<!-- /options -->"

HEADER = """\
bcx.conf: the one config file of bcx-tracker, bcx-watcher and bcx-web.

Looked up in this order: --config PATH, then $BCX_CONFIG, then /etc/bcx/bcx.conf, then this packaged default. \
Every option is shown with its default value. Durations are written like 250ms, 30s, 15m, 2h, 7d; an unknown \
section or key, or a bad value, stops every daemon before it starts, naming file, section and key. A comment may \
also follow a value after a space: `hysteresis = 50  # re-arm below 99950`.

(Rendered from the declaration in bcx/config.py by `make config-docs`: change an option there, not here.)"""

ALERTS = """\
Alert rules: one [alert:NAME] section per rule, with `product` and `when`, and optionally these keys:"""

ALERT_EXAMPLES = """\
# Price, bid, ask, change and spread rules fire once when the value crosses the line (not on every tick that
# stays beyond it), and again only after the value went back and crossed again.
#
# Threshold on price, bid or ask (> >= < <=):
# [alert:btc-above-100k]
# product = BTC-USD
# when = price > 100000
# hysteresis = 50
#
# [alert:btc-bid-below-90k]
# product = BTC-USD
# when = bid <= 90000
#
# The price moved 5% within 15 minutes, either way (or only `rise` / only `fall`):
# [alert:btc-moves]
# product = BTC-USD
# when = change >= 5% in 15m
#
# [alert:eth-drops]
# product = ETH-USD
# when = fall >= 3% in 1h
#
# One minute's volume at least 3 times the average minute of the hour before:
# [alert:btc-volume]
# product = BTC-USD
# when = spike volume 3x 1h
# cooldown = 15m
#
# The book's spread, (ask - bid) / mid, above half a percent:
# [alert:btc-thin-book]
# product = BTC-USD
# when = spread > 0.5%
#
# No tick for 60 seconds (feed or tracker down); a recovery alert follows when ticks come back:
# [alert:btc-feed-down]
# product = BTC-USD
# when = stale 60s
"""


def file_sections() -> list[tuple[str, str, dict[str, Option]]]:
    """(section, intro, options) in the file's order: each exchange's endpoints right after [tracker]."""
    found = []
    for name, cls in SECTIONS.items():
        found.append((name, "", options_of(cls)))
        if name == "tracker":
            found.extend(
                (f"exchange:{ex}", section.intro, section.options) for ex, section in EXCHANGE_SECTIONS.items()
            )
    return found


def render_conf() -> str:
    """default.conf: every option with its default, under a comment saying what it does."""
    parts = [_comment(paragraph) for paragraph in HEADER.split("\n\n")]
    text = "\n#\n".join(parts) + "\n"
    for name, intro, options in file_sections():
        text += f"\n[{name}]\n" + (_comment(intro) + "\n#\n" if intro else "")
        for key, declared in options.items():
            text += _comment(_sentence(declared.help) + (" " + declared.more if declared.more else "")) + "\n"
            text += f"{key} = {declared.default}".rstrip() + "\n"
    text += "\n" + _comment(ALERTS) + "\n"
    for key, declared in options_of(AlertConfig).items():
        if declared.default is not None:
            line = f"  {key} (default {declared.default}): {declared.help}. {declared.more}".rstrip()
            text += _comment(line, indent="      ") + "\n"
    return text + ALERT_EXAMPLES


def render_options_table() -> str:
    """The README's table: one row per option, its section named on the section's first row."""
    rows = ["| section | key | default | meaning |", "| --- | --- | --- | --- |"]
    sections = [(name, options) for name, _, options in file_sections()]
    for name, options in [*sections, ("alert:NAME", options_of(AlertConfig))]:
        for i, (key, declared) in enumerate(options.items()):
            section = f"`[{name}]`" if i == 0 else ""
            rows.append(f"| {section} | `{key}` | {_shown(declared.default)} | {declared.help} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    """The README with the text between the table's markers replaced by `table`."""
    pattern = re.compile(re.escape(TABLE_START) + r"\n.*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"README.md has no {TABLE_START} ... {TABLE_END} block")
    return pattern.sub(lambda _: f"{TABLE_START}\n{table}\n{TABLE_END}", readme)


def _shown(default: str | None) -> str:
    if default is None:
        return "required"
    return f"`{default}`" if default else "empty"


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _comment(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent="# ",
        subsequent_indent="# " + indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def main() -> None:
    packaged_default().write_text(render_conf(), encoding="utf-8")
    README.write_text(with_table(README.read_text(encoding="utf-8"), render_options_table()), encoding="utf-8")


if __name__ == "__main__":
    main()
