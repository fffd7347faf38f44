"""The command line has one shape: `perimeter COMMAND ACTION [options]`, and each action's help
lists its own options, every one explained, and none of its siblings'."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import parser, plugged_in_commands

PERIMETER = str(Path(sys.executable).with_name("perimeter"))
SINGLE = {"demo"}  # one thing to do: no actions


def sub_parsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def leaves() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for name, command in sub_parsers(parser(plugged_in_commands)).items():
        actions = sub_parsers(command)
        if not actions:
            found.append((name, command))
        for action, leaf in actions.items():
            found.append(("%s %s" % (name, action), leaf))
    return found


def options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.option_strings[-1]: a for a in p._actions if a.option_strings and a.dest != "help"}


def test_every_command_but_the_demo_has_actions_of_its_own() -> None:
    commands = sub_parsers(parser(plugged_in_commands))
    assert {"frame", "gateway", "node", "site", "operator", "journal", "request", "sim", "demo"} <= set(commands)
    for name, command in commands.items():
        assert bool(sub_parsers(command)) != (name in SINGLE), name


@pytest.mark.parametrize("name,leaf", leaves(), ids=[name for name, _ in leaves()])
def test_each_action_explains_every_option_it_has_and_no_siblings(name: str, leaf: argparse.ArgumentParser) -> None:
    command = name.split()[0]
    siblings = {other.split()[-1] for other, _ in leaves() if other.split()[0] == command and other != name}
    for flag, action in options(leaf).items():
        assert action.help, "%s %s has no help" % (name, flag)
        # The old shape said "deploy: ..." in an option's help when it served one action of many.
        prefix = re.match(r"([a-z-]+)( --[a-z-]+)?:", action.help)
        assert not (prefix and prefix.group(1) in siblings), "%s %s belongs to %s" % (name, flag, prefix.group(1))


def test_an_action_shows_only_what_it_uses() -> None:
    leaf = dict(leaves())
    assert {"--board", "--out"} == set(options(leaf["node build"]))
    assert {"--node-id", "--config", "--reason"} == set(options(leaf["node revoke"]))
    assert {"--port", "--node-id", "--config", "--site-key-file", "--site-id"} <= set(options(leaf["node deploy"]))
    assert {"--config"} == set(options(leaf["site rotate-key"]))
    assert "--witness" in options(leaf["journal verify"]) and "--witness" not in options(leaf["journal export"])
    assert "--design" in options(leaf["sim coverage"]) and "--design" not in options(leaf["sim run"])


def test_a_node_deploy_takes_its_site_from_the_config_or_is_told_it_explicitly() -> None:
    deploy = options(dict(leaves())["node deploy"])
    assert deploy["--site-id"].default is None  # no default: a forgotten flag makes a node the site refuses


def test_version_names_the_package_the_protocol_and_the_firmware() -> None:
    result = subprocess.run([PERIMETER, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert re.fullmatch(r"perimeter \S+, protocol \d+, node firmware \d+\.\d+\.\d+\n", result.stdout), result.stdout
