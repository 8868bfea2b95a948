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


MAX_YAML_NODES = 100_000  # a config expanded through its aliases; a real one has a few hundred


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML says keys are unique; PyYAML keeps the
    last) and a document whose aliases expand to more than MAX_YAML_NODES nodes (a "billion laughs")."""

    def construct_document(self, node):
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # `<<: *base` may override; that is what merge keys are for
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key_node.value}' appears twice (lines {seen[key_node.value]} and "
                        f"{line}); keep one", key_node.start_mark)
                seen[key_node.value] = line
        return super().construct_mapping(node, deep)


def _check_expansion(root) -> None:
    sizes: dict[int, int] = {}  # node id -> nodes it expands to (aliases share node objects)
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(k), 0) for k in kids)
        if sizes[id(node)] > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"the aliases (*name) expand to more than {MAX_YAML_NODES:,} values; a config "
                "this large is refused (write the values out, or use fewer nested aliases)", node.start_mark)


def load_yaml(text: str, where: str = "<config>"):
    """Parse a config's YAML: safe, unique keys, bounded alias expansion; errors name the file and line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from None


class InputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["jsonl", "parquet", "hf_disk", "hf_dataset", "txt", "python_env", "warc", "wet", "html"] = "jsonl"
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
    split: str = Field("train", description="hf_dataset: the split to read")

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
    runs_dir: str = Field("runs", description="folder or URI (s3://, gs://, hdfs://, abfss://, file://) that "
                                              "holds the run folders")
    input: InputConfig
    spark: SparkConfig = Field(default_factory=SparkConfig)
    storage: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="filesystem options per URI scheme, passed to pyarrow.fs (e.g. "
        "{s3: {endpoint_override: 'minio:9000', scheme: http}}); credentials belong in the environment")
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


def load_config(path: str | Path, overrides: list[str] | None = None) -> tuple[PipelineConfig, list]:
    """Read and validate a pipeline config (after `--set` overrides); returns it and the stage configs."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    raw = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(apply_overrides(raw, overrides or []), str(path), base_dir=path.parent)


def read_raw(path: str | Path, overrides: list[str] | None = None) -> dict:
    """The config as YAML wrote it, with overrides applied (what the run's manifest records)."""
    return apply_overrides(load_yaml(Path(path).read_text(encoding="utf-8"), str(path)) or {}, overrides or [])


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`key.sub=value` overrides (values parsed as YAML) on a copy of a raw config.

    Under `stages`, a number picks an entry by position and a name picks the stage of that name:
    `stages.langid.min_score=0.7`, `stages.3.dedup_minhash.threshold=0.9`.
    """
    import copy
    out = copy.deepcopy(raw)
    for item in overrides:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set input.path=data/*.jsonl")
        try:
            parsed = yaml.load(value, Loader=_StrictLoader) if value.strip() else None  # noqa: S506
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({e})") from None
        parts = key.strip().split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[:i + 1])
            if isinstance(node, list):
                node = _list_entry(node, part, item, ".".join(parts[:i]))
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i])} is not a mapping")
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {item!r}: {where} is not a mapping")
        if isinstance(node, list):
            raise ConfigError(f"--set {item!r}: name a key inside the list entry, not the entry itself")
        node[parts[-1]] = parsed
    return out


def _list_entry(items: list, part: str, item: str, where: str):
    if part.isdigit():
        if int(part) >= len(items):
            raise ConfigError(f"--set {item!r}: {where} has {len(items)} entries")
        return items[int(part)]
    # a stage list: [{name: params}, ...]; pick the one stage of that name
    match = [e for e in items if isinstance(e, dict) and part in e]
    if len(match) != 1:
        names = [k for e in items if isinstance(e, dict) for k in e]
        what = "no stage" if not match else "more than one stage"
        raise ConfigError(f"--set {item!r}: {what} {part!r} in {where} ({', '.join(map(str, names))}); "
                          f"pick one by position, e.g. {where}.0.{part}.KEY=VALUE")
    if match[0][part] is None:  # `- normalize:` with no settings
        match[0][part] = {}
    return match[0][part]


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
