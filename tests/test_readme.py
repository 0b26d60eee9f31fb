"""The README's claims about the CLI match the CLI: the command list names every command and
every option of each (and nothing else), and its examples name contracts that still trade."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from streams.cli.main import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text()
FILE_OPTIONS_GROUP = "reading files"  # documented once, in the FILE OPTIONS table
_OPTION = re.compile(r"(?<![\w-])--?[a-zA-Z][a-zA-Z0-9-]*")
MONTH_CODES = "FGHJKMNQUVXZ"  # futures month codes, January to December


def _command_block() -> str:
    section = README.split("\n## Commands\n", 1)[1]
    return section.split("```bash\n", 1)[1].split("\n```", 1)[0]


def _documented() -> dict[tuple[str, ...], tuple[set[str], bool]]:
    """Each command of the list -> (the long options its line names, whether it says [FILE
    OPTIONS])."""
    lines: list[str] = []
    for line in _command_block().splitlines():
        if line.startswith((" ", "\t")) and lines:
            lines[-1] += " " + line.strip()  # a continuation
        else:
            lines.append(line)
    found: dict[tuple[str, ...], tuple[set[str], bool]] = {}
    for line in lines:
        text = line.split("  #", 1)[0].removeprefix("nautilus-streams ")
        for segment in _alternatives(text):
            words = segment.split()
            path = tuple(w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w))
            if not path:  # `nautilus-streams --log-level ... COMMAND`: the global options
                continue
            named, file_options = found.get(path, (set(), False))  # a command on two lines
            found[path] = (named | set(_OPTION.findall(segment)),
                           file_options or "FILE OPTIONS" in segment)
    return found


def _alternatives(text: str) -> list[str]:
    """`a [x | y] | b` -> `a [x | y]`, `b`: split at the ` | ` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0 and text.startswith(" | ", i):
            parts.append(text[start:i])
            start = i + 3
    return [*parts, text[start:]]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
              ) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every leaf command of the CLI -> its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    found = {}
    for name, child in subs[0].choices.items():
        found.update(_commands(child, (*path, name)))
    return found


def _options(parser: argparse.ArgumentParser) -> list[tuple[list[str], bool]]:
    """Each option of a parser: its spellings, and whether it is a FILE OPTION."""
    file_actions = {id(a) for g in parser._action_groups if g.title == FILE_OPTIONS_GROUP
                    for a in g._group_actions}
    return [(a.option_strings, id(a) in file_actions)
            for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


COMMANDS = _commands(build_parser())


def test_the_command_list_names_every_command() -> None:
    assert sorted(set(COMMANDS) - set(_documented())) == []
    assert sorted(set(_documented()) - set(COMMANDS)) == []


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_the_command_list_names_every_option_and_no_other(path: tuple[str, ...]) -> None:
    named, file_options = _documented().get(path, (set(), False))
    table = README.split("**Other CSVs**", 1)[1].split("\n\n**", 1)[0]

    options = _options(COMMANDS[path])
    missing = [spellings[0] for spellings, in_table in options
               if not (in_table and file_options and any(f"`{s}" in table for s in spellings))
               and not named & set(spellings)]
    unknown = named - {s for spellings, _ in options for s in spellings}

    assert missing == [] and unknown == set()


def test_the_global_options_are_documented() -> None:
    options = [spellings for spellings, _ in _options(build_parser())]
    assert options and all(any(s in _command_block() for s in spellings) for spellings in options)


def _expiries() -> list[str]:
    """Every futures contract month the README's IBKR examples use, as YYYYMM."""
    ibkr = README.split("### Interactive Brokers", 1)[1].split("\n### ", 1)[0]
    months = re.findall(r"--future [A-Z]+:(\d{6})", README)
    months += re.findall(r'expiry: "(\d{6})"', ibkr)
    for code, digit in re.findall(r"\bES([FGHJKMNQUVXZ])(\d)\b", ibkr):
        months.append(f"202{digit}{MONTH_CODES.index(code) + 1:02d}")
    return months


def test_the_futures_examples_name_one_contract() -> None:
    # One contract month across the README's IBKR examples, so rolling an expired example is
    # one edit (not checked against today's date: a test must not start failing by itself).
    months = _expiries()

    assert months and len(set(months)) == 1, months
