"""Loading the model prints no progress bars into gristmill's own progress lines, and real warnings still show."""
from __future__ import annotations

import logging

from gristmill.stages.rephrase.backends import TransformersBackend


def test_loading_the_model_prints_no_progress_bars_but_keeps_warnings(smol_dir, capfd):
    from transformers.utils import logging as hf_logging
    hf_logging.enable_progress_bar()  # as a fresh worker starts: bars on
    capfd.readouterr()
    TransformersBackend(smol_dir, batch_size=1)
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s" not in err, err[-500:]
    assert hf_logging.get_verbosity() <= logging.WARNING  # transformers' warnings are not silenced
