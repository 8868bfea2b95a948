"""gristmill embed RUN"""
from __future__ import annotations

import sys

HELP = "embed the kept documents of a run's last (or named) stage into RUN/embeddings/ (resumable)"


def add_arguments(p):
    from .common import add_embed_arguments
    p.add_argument("run", help="run folder, e.g. runs/web-en")
    p.add_argument("--stage", metavar="S", help="stage name or folder (default: the last finished stage)")
    add_embed_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true")


def main(args) -> int:
    from ...selectors.embed import EmbedSettings
    from ...selectors.spark_embed import embed_df, embeddings_folder
    from .common import spark_for, stage_kept
    run_dir, kept, manifest = stage_kept(args.run, args.stage)
    settings = EmbedSettings(model_path=args.model, max_tokens=args.max_tokens, long_docs=args.long_docs,
                             batch_size=args.batch_size)
    folder = embeddings_folder(run_dir, settings)  # checks the model path before Spark starts
    spark = spark_for(manifest)
    res = embed_df(spark, spark.read.parquet(str(kept)), folder, settings)
    if not args.quiet:
        print(f"embedded {res['rows']:,} documents of {kept.parent.name} into {folder} "
              f"({res['shards']} shards, {res['shards_skipped']} already done)", file=sys.stderr)
    return 0
