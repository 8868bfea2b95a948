"""The held-out split and the arms: each a pipeline config run by the Runner, read back through RunDir and the
mixture module."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ...pipeline.rundir import RunDir
from ..mixture import MixtureSpec, save_mixture
from .common import finished_stages, mixture_json, run_pipeline, say, write_yaml
from .config import EVAL_PREFIX, ExperimentConfig, ExperimentError, ablation_arms


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_kept(run_dir: Path, before: str | None = None) -> Path:
    names = [s for s in finished_stages(run_dir) if s["name"] != before]
    return RunDir(run_dir).kept(names[-1]["dir"])


def _parquet_input(folder: Path) -> dict:
    return {"format": "parquet", "path": str(folder), "id_field": "id", "url_field": "url",
            "source_field": "source", "keep_fields": ["domain"]}


# -- 1. the split ------------------------------------------------------------------------------------
def split(cfg: ExperimentConfig, run_dir: Path, exp: Path, quiet: bool) -> tuple[Path, Path, dict]:
    """Label duplicate groups with the pipeline, then write train/ and heldout/ Parquet (in Spark)."""
    from pyspark.sql import functions as F

    from gristmill.pipeline.spark import SparkConfig, get_spark
    conf = {"name": run_dir.name, "runs_dir": str(run_dir.parent), "input": cfg.input, "spark": cfg.spark,
            "stages": [{"domain": cfg.domain}, {"dedup_exact": {"scope": "global"}},
                       {"dedup_minhash": {**cfg.near_dedup, "scope": "global"}}]}
    say(quiet, "split: labelling domains and duplicate groups")
    run_pipeline(write_yaml(exp / "configs" / "split.yaml", conf))
    stages = finished_stages(run_dir)
    rd = RunDir(run_dir)
    st = {s["name"]: s["dir"] for s in stages}
    data = exp / "data"
    targets = write_targets(cfg, data / "targets")
    key = {"stages": [s["hash"] for s in stages], "fraction": cfg.heldout.fraction, "version": 2,
           "targets": targets}
    done = _read_json(data / "split.json")
    if done and done.get("key") == key:  # rewriting would change the Parquet files and rerun every arm
        return data / "train", data / "heldout", done["info"]
    spark = get_spark(SparkConfig.model_validate(cfg.spark))
    read = spark.read.parquet
    docs = read(str(rd.kept(st["domain"]))).select("id", "text", "source", "url", "domain")
    mh = read(str(rd.kept(st["dedup_minhash"]))).select("id", "minhash_cluster")
    mh_rej = read(str(rd.rejected(st["dedup_minhash"]))).select("id", "minhash_cluster")
    group = mh.unionByName(mh_rej).select("id", F.coalesce("minhash_cluster", "id").alias("group"))
    exact = read(str(rd.rejected(st["dedup_exact"]))).select("id", "duplicate_of")
    exact_groups = (exact.join(group.withColumnRenamed("id", "duplicate_of"), "duplicate_of")
                         .select("id", "group"))
    groups = group.unionByName(exact_groups)
    h = F.conv(F.substring(F.sha1(F.col("group")), 1, 8), 16, 10).cast("double") / float(1 << 32)
    # a document no dedup stage saw keeps its own id as its group (a reader that repeats an id can cause this)
    tagged = (docs.join(groups.dropDuplicates(["id"]), "id", "left")
                  .withColumn("group", F.coalesce("group", "id"))
                  .withColumn("_held", h < F.lit(cfg.heldout.fraction)))
    reps = mh.select("id").withColumn("_rep", F.lit(True))  # one document per duplicate group
    # no arm trains on a target's text (the real mixed corpus contains the default targets' sources)
    norm = F.sha1(F.trim(F.regexp_replace(F.lower(F.coalesce(F.col("text"), F.lit(""))), r"\s+", " ")))
    target_keys = read(str(data / "targets")).select(norm.alias("_norm")).distinct().withColumn("_target", F.lit(1))
    tagged = (tagged.withColumn("_norm", norm).join(F.broadcast(target_keys), "_norm", "left")
                    .withColumn("_held", F.col("_held") & F.col("_target").isNull()).cache())
    tagged.where(~F.col("_held") & F.col("_target").isNull()).drop("_held", "group", "_norm", "_target") \
          .write.mode("overwrite").parquet(str(data / "train"))
    (tagged.where(F.col("_held")).join(reps, "id").drop("_held", "group", "_rep", "_norm", "_target")
           .write.mode("overwrite").parquet(str(data / "heldout")))
    counts = (tagged.join(reps, "id", "left")
                    .agg(F.count("*").alias("docs"), F.sum(F.col("_held").cast("int")).alias("held_all"),
                         F.sum((F.col("_held") & F.col("_rep").isNotNull()).cast("int")).alias("held_unique"),
                         F.sum(F.col("_target").isNotNull().cast("int")).alias("targets"),
                    ).first())
    info = {"docs": counts["docs"], "heldout_docs_with_copies": counts["held_all"],
            "heldout_docs": counts["held_unique"],
            "train_side_docs": counts["docs"] - counts["held_all"] - counts["targets"],
            "removed_as_eval_targets": counts["targets"]}
    if not info["heldout_docs"]:
        raise ExperimentError(f"no document was held out of {info['docs']}; raise heldout.fraction")
    (data / "split.json").write_text(json.dumps({"key": key, "info": info}, indent=2))
    return data / "train", data / "heldout", info


def write_targets(cfg: ExperimentConfig, folder: Path) -> dict[str, str]:
    """The `eval:` target sets as one Parquet table (domain `eval.<name>`); returns {name: content digest}. The
    sets are small files a user names (read on the driver; the corpus never is)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq
    rows, digests = [], {}
    for t in cfg.eval:
        docs = _read_target(Path(t.path))
        digests[t.name] = hashlib.sha1(Path(t.path).read_bytes()).hexdigest()
        for i, d in enumerate(docs):
            rows.append({"id": f"{EVAL_PREFIX}{t.name}:{d.get('id', i)}", "text": d["text"],
                         "source": EVAL_PREFIX + t.name, "url": None, "domain": EVAL_PREFIX + t.name})
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in ("id", "text", "source", "url", "domain")])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "targets.parquet")
    return digests


def _read_target(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
        docs = json.loads(text) if path.suffix == ".json" else [json.loads(ln) for ln in text.splitlines() if ln]
    except (OSError, ValueError) as e:
        raise ExperimentError(f"eval target {path}: cannot read it ({e}); give a .json list or .jsonl file of "
                              f"objects with a `text` field") from None
    bad = next((i for i, d in enumerate(docs) if not isinstance(d, dict) or not isinstance(d.get("text"), str)), None)
    if bad is not None or not docs:
        raise ExperimentError(f"eval target {path}: row {bad} has no `text` string" if docs else
                              f"eval target {path} has no rows")
    return docs


# -- 2. the arms -------------------------------------------------------------------------------------
def _mix(cfg: ExperimentConfig, tokenizer: str | None) -> dict:
    m = {"weights": "natural", "heldout_fraction": 0.0, "vocab_size": cfg.train.vocab_size,
         "max_epochs": 1e6}  # arms differ in data, not in mixing policy: natural weights, no epoch cap
    if tokenizer:
        m["tokenizer"] = tokenizer
    return m


def _arm_config(cfg, exp: Path, name: str, inp: dict, stages: list, tokenizer: str | None) -> Path:
    conf = {"name": name.replace("+", "_"), "runs_dir": str(exp / "arms"), "input": inp, "spark": cfg.spark,
            "stages": stages, "mix": _mix(cfg, tokenizer)}
    return write_yaml(exp / "configs" / f"{conf['name']}.yaml", conf)


def rephrase_available() -> str | None:
    """None when a `rephrase` stage is registered, else why the arm is skipped."""
    from gristmill.pipeline.stage import StageError, get_stage
    try:
        get_stage("rephrase")
    except StageError:
        return "no `rephrase` stage is installed in this gristmill (WRAP rephrasing has not landed yet)"
    return None


def build_arms(cfg: ExperimentConfig, exp: Path, train_dir: Path, held_dir: Path, quiet: bool):
    """Run every arm's pipeline; returns ({arm: run dir}, held-out run dir, {arm: why skipped})."""
    wanted, runs, skipped = set(cfg.arms), {}, {}
    say(quiet, "arm raw: everything on the training side, as read (trains the shared tokenizer)")
    runs["raw"] = run_pipeline(_arm_config(cfg, exp, "raw", _parquet_input(train_dir), [], None))
    mixture = mixture_json(RunDir(runs["raw"]).mixture)
    tok = str((runs["raw"] / mixture["tokenizer"]["path"]).resolve())
    held = run_pipeline(_arm_config(cfg, exp, "heldout", _parquet_input(held_dir), [], tok))
    runs["_targets"] = run_pipeline(_arm_config(cfg, exp, "targets", _parquet_input(held_dir.parent / "targets"),
                                                [], tok))
    if wanted & {"clean", "clean+fl", "clean+random", "clean+rephrased", "clean+upsample"} or cfg.ablate:
        say(quiet, "arm clean: " + ", ".join(next(iter(s)) for s in cfg.clean))
        runs["clean"] = run_pipeline(_arm_config(cfg, exp, "clean", _parquet_input(train_dir), cfg.clean, tok))
        clean_kept = _last_kept(runs["clean"], before="mix")
        sel = cfg.select
        budget = int(sel.budget) if sel.budget > 1 else sel.budget
        for arm, selector, params in (("clean+fl", sel.selector, sel.params), ("clean+random", "random", {})):
            if arm in wanted:
                say(quiet, f"arm {arm}: {selector} to {budget} of clean")
                stage = {"select": {"selector": selector, "budget": budget, "params": params,
                                    "max_tokens": sel.max_tokens}}
                runs[arm] = run_pipeline(_arm_config(cfg, exp, arm, _parquet_input(clean_kept), [stage], tok))
        for arm, stages in ablation_arms(cfg).items():
            say(quiet, f"arm {arm}: clean without stage {arm[len('clean-'):]}")
            runs[arm] = run_pipeline(_arm_config(cfg, exp, arm, _parquet_input(train_dir), stages, tok))
        if "clean+rephrased" in wanted:
            why = rephrase_available()
            if why:
                skipped["clean+rephrased"] = why
                say(quiet, f"arm clean+rephrased skipped: {why}")
            else:
                say(quiet, "arm clean+rephrased: clean plus WRAP rephrasings")
                runs["clean+rephrased"] = run_pipeline(_arm_config(
                    cfg, exp, "clean+rephrased", _parquet_input(clean_kept), [{"rephrase": cfg.rephrase}], tok))
        if "clean+repeated" in wanted and "clean+rephrased" in runs:
            say(quiet, "arm clean+repeated: clean plus the real text of every rephrased chunk (the control)")
            folder = repeated_real(cfg, runs["clean+rephrased"], clean_kept, exp / "data" / "repeated")
            runs["clean+repeated"] = run_pipeline(_arm_config(cfg, exp, "clean+repeated", _parquet_input(folder),
                                                              [], tok))
        elif "clean+repeated" in wanted:
            skipped["clean+repeated"] = "it is the control of clean+rephrased, which did not run"
    return runs, held, skipped


def repeated_real(cfg: ExperimentConfig, rephrased: Path, clean_kept: Path, folder: Path) -> Path:
    """The repeated-real control of the rephrased arm: clean, plus for every synthetic row the real text it
    rephrased (its parent's `text[chunk_start:chunk_end]`) as a domain `<domain>:repeat:<style>`, one cell per
    synthetic cell. eval_mixtures gives each such cell the repetition count of its synthetic twin. In Spark."""
    from pyspark.sql import functions as F

    from gristmill.pipeline.spark import SparkConfig, get_spark
    st = next(s for s in finished_stages(rephrased) if s["name"] == "rephrase")
    key = {"rephrase": st["hash"], "version": 1}
    if _read_json(folder / "_key.json") == key:
        return folder / "docs"
    spark = get_spark(SparkConfig.model_validate(cfg.spark))
    syn = (spark.read.parquet(str(RunDir(rephrased).kept(st["dir"]))).where(F.col("origin") == "synthetic")
                .select("id", "parent_id", "chunk_start", "chunk_end", "style"))
    cols = ["id", "text", "source", "url", "domain"]
    clean = spark.read.parquet(str(clean_kept)).select(*cols)
    parents = clean.select(F.col("id").alias("parent_id"), "text", "source", "url", "domain")
    copies = syn.join(parents, "parent_id").select(
        F.concat(F.col("id"), F.lit(":real")).alias("id"),
        F.expr("substring(text, chunk_start + 1, chunk_end - chunk_start)").alias("text"), "source", "url",
        F.concat_ws(":", F.coalesce(F.col("domain"), F.lit("other")), F.lit("repeat"), F.col("style")).alias("domain"))
    clean.unionByName(copies).write.mode("overwrite").parquet(str(folder / "docs"))
    (folder / "_key.json").write_text(json.dumps(key))
    return folder / "docs"


def match_repetition(control: dict, rephrased: dict) -> None:
    """Weights of the repeated-real control from the rephrased arm's: each real domain keeps its weight, each
    `<d>:repeat:<style>` cell gets its synthetic twin's weight scaled by tokens (control / synthetic), so both are
    repeated the same number of times (epochs = weight x budget / tokens); the real domains share what is left.

    >>> ctl = {"domains": {"web": {"tokens": 900}, "web:repeat:qa": {"tokens": 50}}}
    >>> rp = {"domains": {"web": {"tokens": 900, "weight": 0.9}, "web:synthetic:qa": {"tokens": 100, "weight": 0.1}}}
    >>> match_repetition(ctl, rp)
    >>> [round(ctl["domains"][d]["weight"], 4) for d in ("web", "web:repeat:qa")]
    [0.95, 0.05]
    """
    src = rephrased["domains"]
    for d, e in control["domains"].items():
        if ":repeat:" in d:
            twin = src.get(d.replace(":repeat:", ":synthetic:", 1)) or {}
            t = twin.get("tokens") or 0
            e["weight"] = (twin.get("weight") or 0.0) * e["tokens"] / t if t else 0.0
        elif e.get("tokens"):
            e["weight"] = (src.get(d) or {}).get("weight") or 0.0
    rep = sum(e["weight"] for d, e in control["domains"].items() if ":repeat:" in d)
    if rep >= 1:
        raise ExperimentError(f"the repeated-real control's cells would take all the weight ({rep:.2f}); lower the "
                              f"rephrased share (rephrase.sample / max_chunks)")
    real = sum(e.get("weight") or 0.0 for d, e in control["domains"].items() if ":repeat:" not in d) or 1.0
    for d, e in control["domains"].items():
        if ":repeat:" not in d:
            e["weight"] = (e.get("weight") or 0.0) * (1 - rep) / real


def eval_mixtures(runs: dict[str, Path], held: Path, block_size: int) -> dict[str, Path]:
    """Each arm's mixture with the shared held-out shards, over one domain list for all arms (so the fixed
    held-out windows, drawn per domain in sorted order, are the same for every arm). A domain with fewer training
    tokens than one window (e.g. one short rephrasing) gets weight 0, the others share its weight: the trainer
    cannot draw from it."""
    held_m = mixture_json(RunDir(held).mixture)
    runs = dict(runs)
    targets = runs.pop("_targets", None)
    if targets is not None:  # the target sets' shards are held-out files of domains eval.<name> in every arm
        tm = mixture_json(RunDir(targets).mixture)
        for d, e in tm["domains"].items():
            held_m["domains"][d] = {"files": [os.path.relpath(targets / f, held) for f in e["files"]],
                                    "tokens": e["tokens"], "docs": e.get("docs", 0)}
    arms = {a: mixture_json(RunDir(r).mixture) for a, r in runs.items()}
    domains = sorted(set(held_m["domains"]).union(*(m["domains"] for m in arms.values())))
    out = {}
    for arm, m in arms.items():
        base = runs[arm]
        new = dict(m, domains={})
        for d in domains:
            e = dict(m["domains"].get(d) or {"files": [], "tokens": 0, "docs": 0, "weight": 0.0, "epochs": 0.0})
            h = held_m["domains"].get(d) or {"files": [], "tokens": 0, "docs": 0}
            e["heldout_files"] = [os.path.relpath(held / f, base) for f in h["files"]]
            e["heldout_tokens"], e["heldout_docs"] = h["tokens"], h.get("docs", 0)
            new["domains"][d] = e
        if arm == "clean+repeated" and "clean+rephrased" in arms:
            match_repetition(new, arms["clean+rephrased"])
        short = [d for d, e in new["domains"].items() if e.get("weight") and e["tokens"] <= block_size]
        if short:
            left = sum(e.get("weight") or 0.0 for d, e in new["domains"].items() if d not in short)
            for d, e in new["domains"].items():
                e["weight"] = 0.0 if d in short else (e.get("weight") or 0.0) / left
        path = base / "mixture.eval.json"
        save_mixture(MixtureSpec.from_json(new, str(path)), path)
        out[arm] = path
    return out

