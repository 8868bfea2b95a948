"""Facility location's budget allocation across partitions, on real embeddings of the quickstart corpus
(text every Python install has, so this runs on a user's clone too)."""
from __future__ import annotations

import numpy as np
import pytest

from gristmill.selectors.base import SelectorError
from gristmill.selectors.facility_location import FacilityLocation, knn_graph, lazy_greedy, replay


@pytest.fixture(scope="module")
def X():
    from gristmill.pipeline.inputs.pkgcorpus import iter_documents
    from gristmill.selectors.embed import Embedder, EmbedSettings
    paras = [" ".join(p.split()) for d in iter_documents() for p in (d["text"] or "").split("\n\n")]
    texts = list(dict.fromkeys(p for p in paras if len(p) >= 60))[:400]
    assert len(texts) >= 300
    return Embedder(EmbedSettings(max_tokens=32, batch_size=64)).embed(texts)


def test_gain_allocation_is_global_greedy_on_the_partition_graphs(X):
    """With room enough (slack = all of a partition), 'gain' must equal lazy greedy on the union of the
    partition graphs; 'proportional' is held to each partition's size share and does no better."""
    b = 40
    wide = FacilityLocation(graphs="partition", k=10, partitions=6, allocation="gain",
                            allocation_slack=1e9).select(X, b)
    prop = FacilityLocation(graphs="partition", k=10, partitions=6, allocation="proportional").select(X, b)
    assert len(wide) == b and len(set(wide.indices.tolist())) == b
    assert wide.diagnostics["partitions_at_cap"] == 0
    assert np.all(np.diff(wide.scores) <= 1e-6)  # the budget went to the largest gains, in order
    assert wide.diagnostics["objective"] >= prop.diagnostics["objective"] - 1e-6
    W = knn_graph(X, k=10, index="flat")
    ref = lazy_greedy(W, b)[1].sum()
    assert replay(W, wide.indices).sum() >= 0.95 * ref


def test_default_allocation_is_gain_and_bad_settings_fail(X):
    sel = FacilityLocation(graphs="partition", k=10, partitions=4).select(X, 30)
    assert "partitions_at_cap" in sel.diagnostics and len(sel) == 30
    with pytest.raises(SelectorError, match="allocation"):
        FacilityLocation(graphs="partition", allocation="size")
    with pytest.raises(SelectorError, match="allocation_slack"):
        FacilityLocation(graphs="partition", allocation_slack=0.5)


def test_settings_of_the_other_graphs_fail_instead_of_being_dropped():
    """The default moved from partitions to the probed graph: a config tuned for partitions must not run the
    probed path with its settings silently ignored."""
    with pytest.raises(SelectorError, match="partition_size.*graphs: partition"):
        FacilityLocation(partition_size=2000)
    with pytest.raises(SelectorError, match="allocation, merge"):
        FacilityLocation(graphs="probed", merge=True, allocation="proportional")
    with pytest.raises(SelectorError, match="probe apply only under graphs: probed"):
        FacilityLocation(graphs="partition", probe=4)
    assert FacilityLocation(graphs="global", partitions=3).partitions == 3
    assert FacilityLocation(probe=4, list_size=50).probe == 4
