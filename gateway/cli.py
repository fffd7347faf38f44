"""`perimeter`: the command line of the gateway and its tools."""

import argparse
import sys

from gateway import frame_tool


def parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    top = argparse.ArgumentParser(prog="perimeter", description="Perimeter intrusion detection: gateway and tools")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    frame_tool.add_parser(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `perimeter` console script; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return frame_tool.run(args)
    except frame_tool.UsageError as exc:
        print("perimeter: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
