"""The report's training section: loss curves and, in a chart of their own, the domain weights per step."""
import json

from gristmill.pipeline.report.extras import read_curves, training_section


class _Run:
    def __init__(self, path):
        self.path = path


def test_weights_are_read_and_drawn_apart_from_losses(tmp_path):
    log = tmp_path / "train" / "log.jsonl"
    log.parent.mkdir()
    rows = [{"step": s, "loss": 5.0 - s / 10, "heldout": {"web": 5.2 - s / 10},
             "weights": {"web": 0.5 + s / 100, "code": 0.5 - s / 100}} for s in range(1, 6)]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n{half a li")
    series = read_curves(log)
    assert series["weights.web"] == ([1, 2, 3, 4, 5], [0.51, 0.52, 0.53, 0.54, 0.55])
    assert series["loss"][1][0] == 4.9 and "heldout.web" in series
    title, body, _ = training_section(_Run(tmp_path))
    assert title == "Training" and "domain weights" in body
