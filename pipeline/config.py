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
    format: Literal["jsonl", "parquet", "hf_disk", "txt", "python_env"] = "jsonl"
    path: str | list[str] | None = Field(None, description="file, folder or glob (or a list of them)")
    text_field: str = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    source_field: str | None = Field(None, description="field naming the source; default: from the file's path")
    source: str | None = Field(None, description="fixed source name for every row")
    source_from: Literal["path", "name", "folder"] = Field(
        "path", description="source without a source_field: the file's path relative to the input root without "
                            "its extension (dumpA/part-00000), its name only (part-00000), or its folder (dumpA)")
    root: str | None = Field(None, description="folder that auto-ids and sources are relative to; default: the "
                                               "deepest folder holding every input file. Set it to keep ids stable "
                                               "when inputs are added elsewhere")
    duplicate_ids: Literal["reject", "rename"] = Field(
        "reject", description="a given id seen again: reject the later rows as read:duplicate_id (naming the first "
                              "occurrence), or rename them to id~<hash of file and row>")
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


def stage_hashes(input_hash: str, stages: list, digest_cache: dict | None = None) -> list[str]:
    """Hash per stage: its own params and version, the content of the files it reads (Stage.files: size,
    mtime and sha256, cached by size+mtime in digest_cache), plus everything upstream (chained)."""
    from .rundir import file_digest
    cache = {} if digest_cache is None else digest_cache
    out, prev = [], input_hash
    for cls, params in stages:
        files = [file_digest(f, cache) for f in cls(params).files()]
        body = {"up": prev, "stage": cls.name, "version": cls.version, "params": params.model_dump(mode="json")}
        if files:  # stages that read no files keep the hash they always had
            body["files"] = [{k: v for k, v in f.items() if k != "mtime_ns"} for f in files]
        prev = digest(body)
        out.append(prev)
    return out
