"""gristmill inspect RUN [summary|accounting|reasons|dist|sample|show|dups|sql|diff|contamination] ..."""
from __future__ import annotations

HELP = "what happened to my data: counts, drop reasons, distributions, documents, SQL (DuckDB, no Spark)"

EPILOG = """views for `sql`: <stage>_kept, <stage>_rejected (a stage used twice: <stage>_<index>_kept),
rejected (all stages, with a `stage` column), final (the last finished stage's kept rows), manifest,
selection (when selection/ holds Parquet). Example:
  gristmill inspect runs/quickstart sql "SELECT drop_reason, count(*) FROM rejected GROUP BY 1"
"""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("run", help="run folder (runs/<name>)")
    sub = p.add_subparsers(dest="action", metavar="COMMAND")
    sub.add_parser("summary", help="per stage: documents and ~tokens in/kept/rejected, time, top drop reasons")
    sub.add_parser("accounting", help="does every row add up: per stage in = kept + rejected (Parquet footers), "
                                      "and per input file the rows read, kept and rejected")

    r = sub.add_parser("reasons", help="drop reasons with counts and one example each")
    r.add_argument("--stage", help="one stage (name, folder like 02-length, or index); default: all")
    r.add_argument("--chars", type=int, default=160, help="example text length")

    d = sub.add_parser("dist", help="distribution of a column as a terminal histogram")
    d.add_argument("column", help="a column (lang, domain, quality_score, n_chars, ...) or chars/words/tokens")
    d.add_argument("--stage", help="default: the last finished stage that has the column")
    d.add_argument("--by", help="split by another column, e.g. domain, source or lang")
    d.add_argument("--rows", choices=["kept", "rejected", "all"], default="kept", help="which rows (default kept)")
    d.add_argument("--bins", type=int, default=20, help="bins for numeric columns")
    d.add_argument("--top", type=int, default=15, help="values shown for text columns")

    s = sub.add_parser("sample", help="a few documents, pretty-printed, text truncated")
    s.add_argument("--stage", help="default: the last finished stage (with --rejected: every stage)")
    s.add_argument("--rejected", action="store_true", help="sample rejected rows instead of kept")
    s.add_argument("--where", help="SQL condition, e.g. \"n_words < 50\"")
    s.add_argument("-n", type=int, default=5, help="how many documents")
    s.add_argument("--seed", type=int, default=0, help="same seed, same sample")
    s.add_argument("--chars", type=int, default=400, help="characters of text shown per document")

    w = sub.add_parser("show", help="one document's journey through every stage")
    w.add_argument("id")
    w.add_argument("--chars", type=int, default=300, help="characters of text shown")

    u = sub.add_parser("dups", help="a duplicate cluster, with word diffs against the kept document")
    u.add_argument("key", metavar="CLUSTER|ID", help="a document id, the kept id, text_hash or minhash_cluster")
    u.add_argument("--chars", type=int, default=600, help="characters of each text/diff shown")
    u.add_argument("--limit", type=int, default=20, help="members shown")

    q = sub.add_parser("sql", help="run a read-only SQL query over the run's views (files outside the run, "
                                   "COPY, ATTACH and INSTALL are refused)")
    q.add_argument("query")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.add_argument("--max-rows", type=int, default=200, help="rows printed in table format")

    k = sub.add_parser("contamination", help="decontaminate stages: per benchmark the items found and documents "
                                            "affected, and the most matched items")
    k.add_argument("--top", type=int, default=10, help="most matched items shown")

    f = sub.add_parser("diff", help="documents one run kept and the other dropped (gristmill inspect A diff B)")
    f.add_argument("other", metavar="RUN_B", help="the run to compare with")
    f.add_argument("--examples", type=int, default=3, help="example ids per row")


def main(args) -> int:
    from ..inspection import documents as docs
    from ..inspection import queries as c
    from ..inspection.run import Run, print_summary
    action = getattr(args, "action", None)
    if action in (None, "summary"):
        print_summary(args.run)
        return 0
    if action == "accounting":
        from ..inspection.accounting import print_accounting
        return 0 if print_accounting(args.run) else 1
    run = Run(args.run)
    if action == "reasons":
        c.reasons(run, args.stage, args.chars)
    elif action == "dist":
        c.dist(run, args.column, args.stage, args.by, args.rows, args.bins, args.top)
    elif action == "sample":
        c.sample(run, args.stage, args.rejected, args.where, args.n, args.seed, args.chars)
    elif action == "show":
        docs.show(run, args.id, args.chars)
    elif action == "dups":
        docs.dups(run, args.key, args.chars, args.limit)
    elif action == "sql":
        c.sql(run, args.query, args.format, args.max_rows)
    elif action == "contamination":
        c.contamination(run, args.top)
    elif action == "diff":
        docs.diff(run, Run(args.other), args.examples)
    return 0
