"""gristmill run CONFIG"""
from __future__ import annotations

HELP = "run a pipeline config; finished stages with matching config hashes are skipped (resume)"


def add_arguments(p):
    p.add_argument("config", help="pipeline YAML")
    p.add_argument("--name", help="run name (default: the config's name); the run lives in RUNS_DIR/NAME")
    p.add_argument("--runs-dir", help="where runs live (default: the config's runs_dir, 'runs')")
    p.add_argument("--from-stage", metavar="S", help="rerun from this stage (name or folder) onward")
    p.add_argument("--force", action="store_true", help="rerun every stage")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="for scripts: only errors and a one-line summary (Spark's own output goes to RUN/spark.log)")
    add_set_argument(p)


def add_set_argument(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config key (dotted; the value is YAML), e.g. --set input.path=data/*.jsonl "
                        "--set stages.langid.min_score=0.7; repeatable")


def main(args) -> int:
    from ..config import load_config, read_raw
    from ..inspection.run import print_summary
    from ..runner import Runner
    cfg, stages = load_config(args.config, args.overrides)
    runner = Runner(args.config, config=cfg, stages=stages, raw_config=read_raw(args.config, args.overrides),
                    name=args.name, runs_dir=args.runs_dir, quiet=args.quiet)
    run_dir = runner.run(from_stage=args.from_stage, force=args.force)
    if args.quiet:
        from ..rundir import RunDir
        stages = RunDir(run_dir).entries()
        live = [s for s in stages if s.get("status") in ("done", "skipped")]
        if live:
            rejected = sum(s.get("rejected") or 0 for s in live)
            print(f"{run_dir}: read {live[0].get('in') or 0:,}, kept {live[-1].get('kept') or 0:,}, "
                  f"rejected {rejected:,}")
    else:
        print()
        print_summary(run_dir)
        print(f"\noutputs: {run_dir}")
        print(f"inspect: gristmill inspect {run_dir}")
    return 0
