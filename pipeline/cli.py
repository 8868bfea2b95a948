"""The `gristmill` command. Each subcommand lives in its own module with add_arguments() and main()."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> module (each module defines HELP, add_arguments(parser) and main(args) -> int)
COMMANDS = {
    "run": "gristmill.pipeline.cmd_run",
    "describe": "gristmill.pipeline.cmd_describe",
    "submit": "gristmill.pipeline.cmd_submit",
    "inspect": "gristmill.pipeline.cmd_inspect",
    "report": "gristmill.pipeline.cmd_report",
    "train-quality": "gristmill.stages.cmd_train_quality",
    "train-domain": "gristmill.stages.cmd_train_domain",
    "embed": "gristmill.selectors.cmd_embed",
    "select": "gristmill.selectors.cmd_select",
    "train": "gristmill.trainer_hooks.cmd_train",
    "regmix": "gristmill.trainer_hooks.cmd_regmix",
}


def _load(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gristmill", description="Raw text to LM pretraining mixtures.")
    parser.add_argument("--version", action="version", version=f"gristmill {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        mod = _load(module)
        if mod is None:
            continue
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
    from .stage import StageError
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
        return 2
    except BrokenPipeError:  # `gristmill inspect ... | head` closed the pipe early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last finished stage", file=sys.stderr)
        return 130
    except Exception as e:  # Spark wraps worker errors; show the user's part, not 200 lines of JVM
        msg = spark_error_message(e)
        if msg is None:
            raise
        print(f"error: {msg}", file=sys.stderr)
        return 1


def spark_error_message(e: BaseException) -> str | None:
    """Pull the Python error raised inside a Spark task out of the JVM wrapper, if this is one."""
    name = type(e).__name__
    if name not in ("PythonException", "Py4JJavaError", "SparkException", "AnalysisException",
                    "SparkRuntimeException", "IllegalArgumentException"):
        return None
    text = str(e)
    for marker in ("ReadError: ", "StageError: ", "ConfigError: "):
        if marker in text:
            tail = text.split(marker, 1)[1]
            lines = []
            for line in tail.splitlines():
                if line.startswith("\tat ") or line.startswith("  File ") or "JVM stacktrace" in line:
                    break
                lines.append(line)
            return "\n".join(lines).strip()
    first = [ln for ln in text.splitlines() if ln.strip()]
    return (first[-1] if name == "PythonException" and first else text.splitlines()[0] if first else name)


if __name__ == "__main__":
    sys.exit(main())
