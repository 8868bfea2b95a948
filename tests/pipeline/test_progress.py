"""Progress lines: rate and ETA for counted loops; nothing when not on a terminal or when quiet."""
import io

from gristmill.pipeline.progress import Meter, eta, fmt_seconds


def test_eta_and_formatting():
    assert eta(25, 100, 10.0) == "30s" and eta(0, 100, 10.0) is None and eta(5, 0, 1.0) is None
    assert fmt_seconds(59.6) == "1m00s" and fmt_seconds(3725) == "1h02m"


def test_meter_draws_rate_and_eta(monkeypatch):
    clock = iter([100.0, 100.0, 102.0, 104.0, 104.0, 104.0])
    monkeypatch.setattr("gristmill.pipeline.progress.time.time", lambda: next(clock))
    out = io.StringIO()
    with Meter(40, "embed", unit="docs", stream=out, every=0.0) as m:
        m.update(10)  # t=102: 10 docs in 2 s
        m.update(10)  # t=104: 20 docs in 4 s -> 5 docs/s, 20 left -> 4 s
    text = out.getvalue()
    assert "embed  10/40  docs  5.0 docs/s  ETA 6s" in text
    assert "20/40  docs  5.0 docs/s  ETA 4s" in text and text.endswith("\r\033[K")


def test_meter_is_silent_off_a_terminal(capsys):
    with Meter(3, "train", quiet=False) as m:  # pytest's stderr is not a terminal
        m.update(3)
    with Meter(3, "train", quiet=True) as m:
        m.update(3)
    assert capsys.readouterr().err == ""
