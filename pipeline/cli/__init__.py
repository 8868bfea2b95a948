"""The `gristmill` command. Each subcommand is a module of this package with HELP, add_arguments() and main()."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from ..errors import spark_error_message  # noqa: F401  (moved; kept importable here)


def commands() -> dict[str, object]:
    """Every module in this package that defines HELP, add_arguments and main is a command named after it."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):  # __main__ runs the CLI when imported
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if all(hasattr(mod, a) for a in ("HELP", "add_arguments", "main")):
            out[info.name.replace("_", "-")] = mod
    return dict(sorted(out.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gristmill", description="Raw text to LM pretraining mixtures.")
    parser.add_argument("--version", action="version", version=f"gristmill {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in commands().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("gristmill")
    except metadata.PackageNotFoundError:
        return "dev"


def main(argv: list[str] | None = None) -> int:
    from ..errors import explain
    from ..stage import StageError
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        return int(args._main(args) or 0)
    except StageError as e:
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except BrokenPipeError:  # `gristmill inspect ... | head` closed the pipe early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as e:
        print(f"error: {explain(e, getattr(e, 'stage', None))}", file=sys.stderr)
        return 130
    except Exception as e:  # Spark wraps worker errors; show the cause, not 200 lines of JVM
        msg = explain(e, getattr(e, "stage", None), getattr(e, "where", None))
        if msg is None:
            raise
        print(f"error: {msg}", file=sys.stderr)
        return 1
