"""Pipeline configs: YAML, safe-loaded, validated by pydantic; errors name the key and the file."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .spark import SparkConfig
from .stage import StageError, get_stage


class ConfigError(StageError):
    pass


class InputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["jsonl", "parquet", "hf_disk", "txt", "python_env", "warc", "wet", "html"] = "jsonl"
    path: str | list[str] | None = Field(None, description="file, folder or glob (or a list of them)")
    text_field: str = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    source_field: str | None = Field(None, description="field naming the source; default: the file's name")
    source: str | None = Field(None, description="fixed source name for every row")
    keep_fields: list[str] = Field(default_factory=list, description="other fields copied as string columns")
    on_error: Literal["raise", "reject"] = "raise"
    max_doc_bytes: int = Field(64 * 1024 * 1024, ge=1, description="longer texts go to rejected as read:too_large")
    limit: int | None = Field(None, ge=1, description="read at most this many rows per file (for trials)")

    @field_validator("path")
    @classmethod
    def _paths(cls, v):
        return [v] if isinstance(v, str) else v


class StageSpec(BaseModel):
    name: str
    params: Any


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "run"
    runs_dir: str = "runs"
    input: InputConfig
    spark: SparkConfig = Field(default_factory=SparkConfig)
    stages: list[dict[str, dict | None]] = Field(default_factory=list)
    select: dict | None = Field(None, description="shorthand for a final `select` stage")
    mix: dict | None = Field(None, description="shorthand for a final `mix` stage")

    def stage_list(self) -> list[tuple[str, dict]]:
        out = []
        for i, entry in enumerate(self.stages):
            if len(entry) != 1:
                raise ConfigError(f"stages[{i}] must have exactly one key (the stage name), got {list(entry)}")
            (name, params), = entry.items()
            out.append((name, params or {}))
        if self.select is not None:
            out.append(("select", self.select))
        if self.mix is not None:
            out.append(("mix", self.mix))
        return out


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def format_validation(e: ValidationError, where: str, prefix: str = "") -> str:
    lines = [f"{where}: invalid config"]
    for err in e.errors():
        key = prefix + _loc(err)
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_config(path: str | Path) -> tuple[PipelineConfig, list]:
    """Read and validate a pipeline config; returns it and the validated stage configs."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(raw, str(path), base_dir=path.parent)


def parse_config(raw: dict, where: str = "<config>", base_dir: Path | None = None):
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation(e, where)) from None
    stages = []
    for i, (name, params) in enumerate(cfg.stage_list()):
        try:
            cls = get_stage(name)
        except StageError as e:
            raise ConfigError(f"{where}: stages[{i}]: {e}") from None
        try:
            stages.append((cls, cls.Config.model_validate(params)))
        except ValidationError as e:
            raise ConfigError(format_validation(e, where, prefix=f"stages[{i}].{name}.")) from None
    return cfg, stages


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_hashes(input_hash: str, stages: list) -> list[str]:
    """Hash per stage: its own params and version plus everything upstream (chained)."""
    out, prev = [], input_hash
    for cls, params in stages:
        prev = digest({"up": prev, "stage": cls.name, "version": cls.version,
                       "params": params.model_dump(mode="json")})
        out.append(prev)
    return out
