"""The experiment's settings: one validated YAML (configs/experiment.yaml), `--full` GPU overrides."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

ARMS = ("raw", "clean", "clean+fl", "clean+random", "clean+rephrased", "clean+repeated", "clean+upsample")
# a per-domain recipe (issue 31): English-prose rules on prose only, loosened FineWeb on code; a domain whose name
# has "code" in it is code (a null domain counts as prose)
_PROSE, _CODE = "coalesce(domain, '') NOT RLIKE '(?i)code'", "coalesce(domain, '') RLIKE '(?i)code'"
DEFAULT_CLEAN = [{"normalize": {}}, {"length": {"min_chars": 200, "min_words": 30, "where": _PROSE}},
                 {"langid": {"languages": ["en"], "min_score": 0.5, "where": _PROSE}},
                 {"dedup_exact": {"scope": "global"}},
                 {"dedup_minhash": {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8}},
                 {"quality": {"rules": ["fineweb"], "where": _PROSE}},
                 {"quality": {"rules": ["fineweb"], "where": _CODE,
                              "fineweb": {"min_line_punct_ratio": None, "max_char_dup_ratio": 0.1}}}]
# --full: a GPU-sized run (about 20M parameters, 100M tokens per run); override any key under `full:`
FULL = {"steps": 6000, "batch_size": 64, "block_size": 256, "vocab_size": 8192, "eval_batches": 32,
        "model": {"n_layer": 6, "n_head": 6, "n_embd": 384}, "lr": 1.5e-3}


class ExperimentError(ValueError):
    """A setting or an input the experiment cannot use; the message says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeldoutSpec(_Strict):
    fraction: float = Field(0.1, gt=0, lt=0.5, description="share of duplicate groups held out (by id hash)")
    batches: int = Field(4, ge=1, description="fixed held-out windows per domain = batches x batch_size; every "
                                              "evaluation costs batches x domains forward passes")


class SelectSpec(_Strict):
    budget: float = Field(0.5, gt=0, le=1, description="share (or count, > 1) of clean documents to keep")
    selector: str = "facility_location"
    max_tokens: int = Field(128, ge=8, description="embedding window per document")
    params: dict[str, Any] = Field(default_factory=lambda: {"k": 5})


class UpsampleSpec(_Strict):
    domain: str | None = Field(None, description="domain upsampled at the end; default: the smallest clean "
                                                 "domain with at least `min_share` of clean training tokens and "
                                                 "held-out windows")
    min_share: float = Field(0.05, ge=0, lt=1, description="the default domain's least share of clean training "
                                                           "tokens: a domain of 1% gets too few tokens, even "
                                                           "upsampled, for its held-out loss to move")
    factor: float = Field(4.0, gt=1)
    last_fraction: float = Field(0.2, gt=0, lt=1)


class TrainSpec(_Strict):
    seeds: int = Field(5, ge=1, description="issue 31: intervals over at least 5 seeds")
    steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    block_size: int = Field(64, ge=8)
    vocab_size: int = Field(2048, ge=256)
    eval_every: int | None = Field(None, ge=1, description="default: steps / 10")
    eval_batches: int | None = Field(None, ge=1, description="overrides heldout.batches")
    model: dict[str, Any] = Field(default_factory=lambda: {"n_layer": 2, "n_head": 4, "n_embd": 64})
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(20, ge=0)
    device: str = "auto"
    cpu_threads: int | None = Field(
        1, ge=1, description="torch (OpenMP) threads per process on CPU, Spark workers included; on a shared "
                             "machine more threads spin-wait on each other (measured 10x slower with 2 threads "
                             "at load 40 on 2 cores); null: torch's default")

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size * self.block_size


ABLATE_PREFIX = "clean-"  # leave-one-stage-out arms: clean-<NN>-<stage>, clean without its NNth stage
EVAL_PREFIX = "eval."  # the target sets' domain names: eval.<name>
EVAL_SETS = Path(__file__).parent / "eval_sets"  # the default targets, with their origins (README.md there)


class EvalTarget(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="the target's name in the outcome")
    path: str = Field(..., description="a .json list or .jsonl file of objects with a `text` field")


def _default_targets() -> list[EvalTarget]:
    return [EvalTarget(name=n, path=str(EVAL_SETS / f"{n}.json")) for n in ("wiki", "math", "code")]


class ExperimentConfig(_Strict):
    name: str = "experiment"
    runs_dir: str = "runs"
    input: dict = Field(..., description="a pipeline `input:` block (any format gristmill reads)")
    domain: dict = Field(default_factory=lambda: {"from": "source"},
                         description="settings of the `domain` stage that labels documents")
    near_dedup: dict = Field(default_factory=lambda: {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8},
                             description="`dedup_minhash` settings used to find near-copies of held-out docs")
    clean: list[dict[str, dict | None]] = Field(default_factory=lambda: [dict(s) for s in DEFAULT_CLEAN])
    select: SelectSpec = Field(default_factory=SelectSpec)
    rephrase: dict = Field(default_factory=dict, description="settings of the `rephrase` stage, when installed")
    upsample: UpsampleSpec = Field(default_factory=UpsampleSpec)
    heldout: HeldoutSpec = Field(default_factory=HeldoutSpec)
    eval: list[EvalTarget] = Field(default_factory=_default_targets,
                                   description="target sets scored beside the corpus's own held-out split; no "
                                               "arm trains on a document whose text equals a target's")
    train: TrainSpec = Field(default_factory=TrainSpec)
    full: dict = Field(default_factory=dict, description="train overrides for --full (GPU)")
    arms: list[str] = Field(default_factory=lambda: list(ARMS))
    ablate: bool = Field(False, description="also train clean without each of its stages in turn (leave one "
                                            "stage out): what each stage contributes")
    spark: dict = Field(default_factory=lambda: {"master": "local[2]", "driver_memory": "2g"})


def load_experiment_raw(p: Path) -> dict:
    """The YAML mapping, its input and `eval:` paths made relative to the config file (also plan-filter's)."""
    if not p.exists():
        raise ExperimentError(f"config file {p} does not exist")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ExperimentError(f"{p}: expected a mapping at the top level")
    # a relative input path means relative to the config file, like a pipeline config run from its folder
    inp = dict(raw.get("input") or {})
    if isinstance(inp.get("path"), (str, list)):
        paths = inp["path"] if isinstance(inp["path"], list) else [inp["path"]]
        inp["path"] = [str((p.parent / q).resolve()) if not Path(q).is_absolute() else q for q in paths]
        raw["input"] = inp
    if isinstance(raw.get("eval"), list):  # target paths, like the input's, are relative to the config file
        raw["eval"] = [dict(t, path=str((p.parent / t["path"]).resolve())) if isinstance(t, dict) and
                       isinstance(t.get("path"), str) and not Path(t["path"]).is_absolute() else t
                       for t in raw["eval"]]
    return raw


def validated(model, raw: dict, p: Path):
    """model.model_validate(raw), its errors as one ExperimentError naming the config file."""
    from pydantic import ValidationError

    from gristmill.pipeline.config import format_validation
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ExperimentError(format_validation(e, str(p))) from None


def load_experiment(path: str | Path, full: bool = False, **overrides) -> ExperimentConfig:
    p = Path(path)
    raw = load_experiment_raw(p)
    train = dict(raw.get("train") or {})
    if full:
        train.update({**FULL, **(raw.get("full") or {})})
    if overrides.get("ablate"):
        raw["ablate"] = True
    train.update({k: v for k, v in overrides.items() if v is not None and k not in ("arms", "ablate")})
    raw["train"] = train
    if overrides.get("arms"):
        raw["arms"] = overrides["arms"]
    cfg = validated(ExperimentConfig, raw, p)
    unknown = [a for a in cfg.arms if a not in ARMS]
    if unknown:
        raise ExperimentError(f"{p}: unknown arm(s) {unknown}; arms: {', '.join(ARMS)}")
    return cfg


def ablation_arms(cfg: ExperimentConfig) -> dict[str, list[dict]]:
    """{arm name: the clean stages without one of them}, one arm per clean stage, when `ablate` is on.

    >>> cfg = ExperimentConfig(input={"format": "python_env"}, ablate=True,
    ...                        clean=[{"length": {}}, {"quality": {}}, {"quality": {"rules": ["c4"]}}])
    >>> for arm, stages in ablation_arms(cfg).items():
    ...     print(arm, [next(iter(s)) for s in stages])
    clean-01-length ['quality', 'quality']
    clean-02-quality ['length', 'quality']
    clean-03-quality ['length', 'quality']
    """
    if not cfg.ablate:
        return {}
    return {f"{ABLATE_PREFIX}{i + 1:02d}-{next(iter(st))}": [s for j, s in enumerate(cfg.clean) if j != i]
            for i, st in enumerate(cfg.clean)}
