"""Runs a pipeline config: read, then each stage in order, with resume by config hash."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import storage
from .config import ConfigError, PipelineConfig, digest, load_config
from .errors import explain
from .fingerprint import gristmill_version, input_digests, read_code_digest, stage_hashes
from .inputs.readers import check_input, input_fingerprint
from .inputs.readstage import run_read_stage
from .inputs.sources import resolve_input
from .lock import acquire_lock, release_lock
from .rundir import (
    FORMAT_VERSION,
    KEPT_FROM,
    RunDir,
    clean_stale_tmp,
    commit_stage,
    new_work_dir,
    package_versions,
    parquet_rows,
    read_json,
    run_path,
    stage_dirname,
    stage_folders,
    write_json_atomic,
    write_split,
)
from .stage import DROP_REASON, Stage, StageContext, StageError

READ_STAGE = "read"
DIGESTS = "_file_digests.json"  # content digests of the files stages read (cache key: fingerprint.py)


COUNTS = ("in", "kept", "rejected", "seconds")
RESERVE = ".space_reserve"
# stages whose Python code writes into the stage folder with local file calls (token shards, embedding shards,
# the selection, the generation cache): they need a run folder on a local or mounted disk
LOCAL_RUN_DIR_STAGES = {"mix", "embed", "select", "rephrase"}


class AccountingError(StageError):
    """A stage's rows in != kept + rejected: a row was lost or made up."""


class RunFailed(StageError):
    """A stage failed for a reason errors.explain() recognised; the message says what to do."""
    exit_code = 1  # a failure while running, not a config mistake (2)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, config_path: str | Path | None = None, *, config: PipelineConfig | None = None,
                 stages: list | None = None, name: str | None = None, runs_dir: str | Path | None = None,
                 quiet: bool = False, raw_config: dict | None = None):
        if config is None:
            config, stages = load_config(config_path)
            import yaml
            raw_config = yaml.safe_load(Path(config_path).read_text())
        self.cfg = config
        self.stages = stages or []
        self.raw_config = raw_config or config.model_dump(mode="json")
        self.config_path = str(config_path) if config_path else None
        self.name = name or config.name
        for scheme, opts in (config.storage or {}).items():
            storage.configure(scheme, **opts)
        base = storage.path(runs_dir if runs_dir else config.runs_dir)
        if config_path and not base.is_absolute() and runs_dir is None:
            base = Path.cwd() / base
        self.run_dir = run_path(base, self.name)
        self.rundir = RunDir(self.run_dir)
        self.quiet = quiet

    # ------------------------------------------------------------------------------------------------
    def plan(self) -> list[dict]:
        """Stage names, folders and hashes, without starting Spark."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.input_cfg = resolve_input(self.cfg.input, self.run_dir)
        cache = read_json(self.run_dir / DIGESTS) or {}
        input_hash = digest({"input": self.input_cfg.model_dump(mode="json"), "version": 3,
                             "files": input_digests(input_fingerprint(self.input_cfg), cache),
                             "gristmill": gristmill_version(), "code": read_code_digest()})
        hashes = [input_hash] + stage_hashes(input_hash, self.stages, cache)
        write_json_atomic(self.run_dir / DIGESTS, cache)
        names = [READ_STAGE] + [cls.name for cls, _ in self.stages]
        return [{"index": i, "name": n, "dir": stage_dirname(i, n), "hash": h}
                for i, (n, h) in enumerate(zip(names, hashes))]

    def run(self, from_stage: str | None = None, force: bool = False) -> Path:
        check_input(self.cfg.input)  # an empty glob fails here, before a run folder exists
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = acquire_lock(self.run_dir, warn=lambda m: print(m, file=sys.stderr, flush=True))
        # room kept aside for recording a failure: after "no space left", Spark may still hold the space it
        # took in deleted files, and the manifest must still say what happened
        reserve = self.run_dir / RESERVE
        local = not storage.is_uri(self.run_dir)  # an object store does not fill up under us
        try:
            if local:
                reserve.write_bytes(b"\0" * (256 << 10))
        except OSError:
            pass
        try:
            return self._run(from_stage, force)
        finally:
            if local:
                reserve.unlink(missing_ok=True)
            release_lock(lock)

    def _run(self, from_stage: str | None, force: bool) -> Path:
        plan = self.plan()
        names = [p["name"] for p in plan]
        if from_stage is not None and from_stage not in names and from_stage not in [p["dir"] for p in plan]:
            raise ConfigError(f"--from-stage {from_stage!r} is not in this pipeline; stages: {', '.join(names)}")
        for cls, params in self.stages:
            cls(params).preflight()
        if storage.is_uri(self.run_dir):
            local = [cls.name for cls, _ in self.stages if cls.name in LOCAL_RUN_DIR_STAGES]
            if local:
                raise ConfigError(f"stage(s) {', '.join(local)} write their files with local file calls and cannot "
                                  f"yet write to {self.run_dir.uri}; put runs_dir on a local or mounted shared disk "
                                  f"(NFS, a FUSE mount of the bucket) for this pipeline")
        clean_stale_tmp(self.run_dir)
        manifest = self._manifest(plan)
        self.rundir.write_manifest(manifest)

        spark = None
        forcing = force
        prev_dir = None
        t_run = time.time()
        for i, step in enumerate(plan):
            if from_stage in (step["name"], step["dir"]):
                forcing = True
            cls = self.stages[i - 1][0] if i else None
            if not forcing and self.rundir.is_finished(step["dir"], step["hash"]):
                stats = self.rundir.stats(step["dir"])
                self.rundir.mark(manifest, i, "skipped", **{k: stats.get(k) for k in COUNTS})
                _say(self.quiet, f"[{step['dir']}] up to date, skipped "
                                 f"(kept {stats.get('kept'):,}, rejected {stats.get('rejected'):,})")
                prev_dir = step["dir"]
                if cls is not None:
                    cls.publish(self.rundir, self.rundir.stage(step["dir"]))  # heals a publish a kill interrupted
                continue
            forcing = True  # everything downstream of a rerun stage reruns too
            if cls is not None:
                cls.unpublish(self.rundir)  # what it published before must not outlive the stage it came from
            self.rundir.mark(manifest, i, "running", started=time.strftime("%Y-%m-%dT%H:%M:%S"))
            t0 = time.time()
            try:
                if spark is None:
                    spark = self._spark()
                stats = self._run_step(spark, i, step, prev_dir)
            except BaseException as e:
                self._failed(manifest, manifest["stages"][i], step, e)
            stats["seconds"] = round(time.time() - t0, 3)
            entry = manifest["stages"][i]
            entry["stats"] = {k: v for k, v in stats.items() if k not in (*COUNTS, "hash")}
            commit_stage(self._work, self.run_dir / step["dir"], stats)
            self.rundir.mark(manifest, i, "done", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                          **{k: stats.get(k) for k in COUNTS})
            if cls is not None:
                cls.publish(self.rundir, self.rundir.stage(step["dir"]))
            _say(self.quiet, f"[{step['dir']}] in {stats['in']:,}  kept {stats['kept']:,}  "
                             f"rejected {stats['rejected']:,}  {stats['seconds']:.1f}s")
            prev_dir = step["dir"]
        broken = self.rundir.stats(plan[0]["dir"]).get("broken_files") or []
        for msg in broken:  # rows were lost: said even with --quiet
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest["seconds"] = round(time.time() - t_run, 3)
        self.rundir.write_manifest(manifest)
        return self.run_dir

    def _spark(self):
        from .spark import get_spark
        remote = storage.is_uri(self.run_dir)
        spark = get_spark(self._spark_config(), checkpoint_dir=None if remote else self.run_dir / "_checkpoints",
                          log_file=self._spark_log() if self.quiet else None)
        if remote:  # ask whether Spark has the store's connector before anything is written
            problem = storage.spark_filesystem_problem(spark, self.run_dir)
            if problem:
                raise StageError(problem)
            spark.sparkContext.setCheckpointDir(str(self.run_dir / "_checkpoints"))
        return spark

    def _spark_config(self):
        """The spark settings, plus Hadoop's S3A endpoint when storage.s3 names one (what Spark needs to
        reach the same store as pyarrow); settings given in spark.conf win."""
        conf = {**storage.hadoop_conf(), **self.cfg.spark.conf}
        return self.cfg.spark.model_copy(update={"conf": conf})

    def _spark_log(self):
        if storage.is_uri(self.run_dir):  # the JVM's stderr goes to a local file; keep it beside the temp files
            import tempfile
            return Path(tempfile.gettempdir()) / f"gristmill-{self.name}-spark.log"
        return self.run_dir / "spark.log"

    def _failed(self, manifest: dict, entry: dict, step: dict, e: BaseException):
        """Mark the stage failed (or interrupted) in the manifest with the cause, then raise a clear error."""
        msg = explain(e, step["dir"], str(self.run_dir), self.cfg.spark.driver_memory)
        if msg is None and isinstance(e, StageError):
            msg = f"stage {step['dir']}: {e}"
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        entry.update(status=status, finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                     error=msg or f"{type(e).__name__}: {e}")
        if not storage.is_uri(self.run_dir):
            (self.run_dir / RESERVE).unlink(missing_ok=True)  # frees the room kept for this write
        try:
            self.rundir.write_manifest(manifest)
        except OSError:
            pass  # a disk full beyond the reserve refuses even this; the message below still names the cause
        if isinstance(e, KeyboardInterrupt) or msg is None:
            e.stage = step["dir"]
            raise e
        raise RunFailed(msg) from e

    def _run_step(self, spark, i: int, step: dict, prev: str | None) -> dict:
        from .progress import Progress
        acc = spark.sparkContext.accumulator(0)
        self._work = work = new_work_dir(self.run_dir, step["dir"])
        label = f"[{step['dir']}]"
        try:
            # Progress covers transform() too: global stages do their heavy fit() work there.
            with Progress(spark, label, acc, self.quiet):
                if i == 0:  # the workers write kept/ and rejected/ themselves (inputs/readstage.py)
                    read = run_read_stage(spark, self.input_cfg, work, rows_acc=acc)
                    n_read = read.pop("in")  # the rows the readers counted per file, not kept + rejected
                    extra = {**read, "duplicate_ids": self.input_cfg.duplicate_ids,
                             "broken_files": broken_files(work / "rejected")}
                    kept, rejected = parquet_rows(work / "kept"), parquet_rows(work / "rejected")
                    check_balance(step["dir"], n_read, kept, rejected)
                    counts = {"in": n_read, "kept": kept, "rejected": rejected}
                else:
                    cls, params = self.stages[i - 1]
                    src_kept = self.rundir.kept(prev)
                    n_in = parquet_rows(src_kept)
                    ctx = StageContext(spark=spark, run_dir=self.run_dir, work_dir=work,
                                       stage_dir=self.run_dir / step["dir"], index=i, name=cls.name,
                                       extra={"rows_acc": acc, "input_rows": n_in})
                    counts, extra = execute_stage(cls(params, ctx), spark.read.parquet(str(src_kept)), work,
                                                  label=step["dir"], n_in=n_in,
                                                  kept_from=self.rundir.kept_source(prev))
        except BaseException:
            storage.rmtree(work)
            raise
        stats = {"stage": step["name"], "hash": step["hash"], **counts,
                 "balanced": counts["kept"] + counts["rejected"] == counts["in"] + int(extra.get("added") or 0)}
        stats.update(extra)
        return stats

    def _manifest(self, plan: list[dict]) -> dict:
        old = self.rundir.manifest(missing_ok=True)
        ours = {p["dir"] for p in plan}
        # folders of stages this pipeline no longer has: listed as stale so nothing reads them as current
        stale = [{"index": int(d[:2]), "name": d[3:], "dir": d, "status": "stale",
                  "note": "not part of the current pipeline; left from an earlier config"}
                 for d in stage_folders(self.run_dir) if d not in ours]
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "config_path": self.config_path,
            "config": self.raw_config,
            "config_hash": digest(self.raw_config),
            "created": old.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S"),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "versions": package_versions(),
            "stages": [{"index": p["index"], "name": p["name"], "dir": p["dir"], "hash": p["hash"],
                        "status": "pending"} for p in plan] + stale,
        }


def execute_stage(stage: Stage, src, work, label: str | None = None, n_in: int | None = None,
                  kept_from: str | None = None) -> tuple[dict, dict]:
    """The one way a stage runs, for the runner and for tests (tests/helpers.py): check its columns, transform,
    split kept from rejected into work/, then check the accounting by count and by identity.

    A stage that passes its documents through (Stage.passes_through) writes no kept/: `kept_from` names the
    stage folder whose kept/ it keeps (work/KEPT_FROM, resolved by RunDir.kept); without one (a test's
    in-memory input) its rows are written as any stage's. Returns ({in, kept, rejected} and the base class's
    counters, the stage's own stats())."""
    from pyspark.sql import functions as F
    label = label or stage.name
    src = src.drop(DROP_REASON) if DROP_REASON in src.columns else src
    stage.check_columns(src.columns)
    inside, outside = split_scope(stage, src, label)
    df = stage.transform(inside)
    if outside is not None:  # rows outside the stage's where/domains rejoin untouched, the stage's columns null
        df = df.unionByName(outside.withColumn(DROP_REASON, F.lit(None).cast("string")), allowMissingColumns=True)
    if stage.passes_through:
        if df.columns != src.columns:
            raise StageError(f"stage {label} declares passes_through but changed the columns "
                             f"({src.columns} -> {df.columns}); drop passes_through or return its input")
        if kept_from is not None:
            n = n_in if n_in is not None else src.count()
            write_split(src.withColumn(DROP_REASON, F.lit(None).cast("string")).limit(0), work)
            storage.rmtree(work / "kept")
            storage.write_bytes_atomic(work / KEPT_FROM, f"{kept_from}\n".encode())
            return {"in": n, "kept": n, "rejected": 0}, stage.stats() or {}
    if DROP_REASON not in df.columns:
        df = df.withColumn(DROP_REASON, F.lit(None).cast("string"))
    write_split(df, work)
    extra = stage.stats() or {}
    kept, rejected = parquet_rows(work / "kept"), parquet_rows(work / "rejected")
    n_in = n_in if n_in is not None else src.count()
    added = int(extra.get("added") or 0)  # rows a stage writes itself (rephrase's synthetic rows)
    check_balance(label, n_in + added, kept, rejected)
    check_identity(label, src, work, added)
    counters = stage.counters(src.sparkSession.read.parquet(str(work / "rejected")))
    passed = {} if outside is None else {"passed_through": outside.count()}
    return {"in": n_in, "kept": kept, "rejected": rejected, **passed, **counters}, extra


def split_scope(stage: Stage, src, label: str):
    """(rows the stage applies to, rows that pass it untouched or None) by its config's where/domains. A null
    predicate counts as outside. A predicate Spark cannot analyse is an error naming the stage, before any work."""
    from pyspark.sql import functions as F
    from pyspark.sql.utils import AnalysisException, ParseException
    pred = stage.config.scope_sql()
    if pred is None:
        return src, None
    try:
        cond = F.coalesce(F.expr(pred), F.lit(False))
        inside = src.where(cond)
        inside.schema  # analysed now: an unknown column or bad syntax fails here
    except (AnalysisException, ParseException) as e:
        msg = str(e).splitlines()[0]
        raise StageError(f"stage {label}: where/domains predicate {pred!r} does not apply to its input (columns "
                         f"{sorted(src.columns)}): {msg}; fix the predicate in the config") from None
    return inside, src.where(~cond)


def check_identity(label: str, src, work, added: int = 0) -> None:
    """The ids that leave a stage (kept ∪ rejected) are the ids that entered, each as many times, plus exactly
    `added` new ids (rephrase's synthetic rows). One Spark aggregate over the ids when all is well; only when it
    is not, two more find up to 5 example ids for the message (nothing else comes back to the driver)."""
    from pyspark.sql import functions as F
    spark = src.sparkSession
    one, zero = F.lit(1), F.lit(0)
    out = spark.read.parquet(str(work / "kept")).select("id").unionByName(
        spark.read.parquet(str(work / "rejected")).select("id"))
    per_id = (src.select("id", one.alias("i"), zero.alias("o")).unionByName(out.select("id", zero.alias("i"),
                                                                                       one.alias("o")))
                 .groupBy("id").agg(F.sum("i").alias("n_in"), F.sum("o").alias("n_out")))
    diff = per_id.where(F.col("n_in") != F.col("n_out"))
    new_id = F.col("n_in") == 0
    seen = diff.agg(F.count(F.when(~new_id, one)).alias("changed"),
                    F.coalesce(F.sum(F.when(new_id, F.col("n_out"))), F.lit(0)).alias("rows"),
                    F.max(F.when(new_id, F.col("n_out"))).alias("most")).first()
    if seen["changed"]:
        said = "; ".join(f"id {r['id']!r} entered {r['n_in']} time(s), left {r['n_out']}"
                         for r in diff.where(~new_id).limit(5).collect())
        raise AccountingError(f"stage {label} does not account for its documents by id: {said}. A row was lost, "
                              f"duplicated or had its id changed; the stage was not committed; please report this "
                              f"with the run's manifest.json")
    if seen["rows"] != added or (seen["most"] or 0) > 1:
        said = ", ".join(repr(r["id"]) for r in diff.where(new_id).limit(5).collect()) or "none"
        raise AccountingError(f"stage {label} wrote {seen['rows']:,} row(s) with ids that did not enter it (e.g. "
                              f"{said}) but reports {added:,} added; a stage that makes rows must count them in "
                              f"stats()['added'] and give each a new unique id")


def broken_files(rejected: Path, limit: int = 50) -> list[str]:
    """The read errors that stand for a whole file's tail (truncated or corrupt archives), for the summary."""
    import pyarrow.dataset as ds
    fs, files = storage.arrow_files(rejected)
    if not files:
        return []
    table = ds.dataset(files, format="parquet", filesystem=fs).to_table(
        columns=["read_error"], filter=ds.field("drop_reason").isin(["read:truncated", "read:corrupt_archive"]))
    return table.column("read_error").to_pylist()[:limit]


def check_balance(stage: str, n_in: int, kept: int, rejected: int) -> None:
    """Every row in (plus the rows a stage reports it added, e.g. rephrase's) is kept or rejected."""
    if kept + rejected != n_in:
        raise AccountingError(
            f"stage {stage} does not balance: {n_in:,} rows in but {kept:,} kept + {rejected:,} rejected = "
            f"{kept + rejected:,}. A row was {'lost' if kept + rejected < n_in else 'duplicated'}; usually a join "
            f"on a non-unique key. The stage was not committed; please report this with the run's manifest.json")
