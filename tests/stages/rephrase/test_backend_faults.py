"""Faults a real server does not produce on demand, from a stub server (the real-server test is
test_endpoint.py): answers sent as events when a whole answer was asked for, overload then success, a
server that never answers, a stage told to fail on errors."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gristmill.stages.rephrase.backends import EndpointSettings, GenSettings, OpenAIBackend

SETTINGS = GenSettings(max_new_tokens=16, temperature=0.0, top_p=1.0, seed=0)
MESSAGES = [{"role": "user", "content": "Paraphrase: the cat sat on the mat."}]


class Stub:
    """A loopback HTTP server whose chat answers come from a list of behaviours, one per request."""

    def __init__(self, behaviours):
        self.behaviours, self.calls = list(behaviours), 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if request.get("max_tokens") == 1:  # the stage's preflight check: answer it
                    kind = "ok"
                else:
                    kind = stub.behaviours[min(stub.calls, len(stub.behaviours) - 1)]
                    stub.calls += 1
                if kind == "hang":
                    time.sleep(5)
                    return
                if kind == "503":
                    return self._send(503, "application/json", b'{"error": {"message": "overloaded"}}')
                if kind == "500":
                    return self._send(500, "application/json", b'{"error": {"message": "boom"}}')
                if kind == "sse":
                    events = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ("A cat ", "sat.")]
                    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 20, "completion_tokens": 3}})
                    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                    return self._send(200, "text/event-stream", body.encode())
                body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A cat sat on a mat."},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}}
                self._send(200, "application/json", json.dumps(body).encode())

            def _send(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub(request):
    s = Stub(request.param)
    yield s
    s.close()


def backend(url, **kw):
    return OpenAIBackend(EndpointSettings(base_url=url, model="m", **{"backoff_s": 0.05, **kw}))


@pytest.mark.parametrize("stub", [["sse"]], indirect=True)
def test_events_sent_for_a_whole_answer_are_read(stub):
    [g] = backend(stub.url).generate([MESSAGES], SETTINGS)
    assert (g.text, g.finish_reason, g.tokens_in, g.tokens_out, g.error) == ("A cat sat.", "stop", 20, 3, None)


@pytest.mark.parametrize("stub", [["503", "503", "ok"]], indirect=True)
def test_overload_is_retried_with_backoff(stub):
    [g] = backend(stub.url, max_retries=3).generate([MESSAGES], SETTINGS)
    assert g.error is None and g.text == "A cat sat on a mat." and stub.calls == 3


@pytest.mark.parametrize("stub", [["hang"]], indirect=True)
def test_a_server_that_never_answers_gives_an_error_not_a_hang(stub):
    t0 = time.time()
    gens = backend(stub.url, timeout_s=0.5, max_retries=1, concurrency=2).generate([MESSAGES] * 3, SETTINGS)
    assert time.time() - t0 < 4
    assert all(g.error and "Timeout" in g.error and g.text is None for g in gens)


@pytest.mark.parametrize("stub", [["500"]], indirect=True)
def test_on_error_fail_stops_the_stage_with_a_clear_message(run_rephrase, tmp_path, stub, smol_dir):
    params = dict(backend="openai", base_url=stub.url, model="m", styles=["medium"], max_retries=0,
                  check_language=False, min_chunk_tokens=5, on_error="fail", cache_dir=str(tmp_path / "c"))
    docs = [{"id": "d0", "text": "The cat sat on the mat and looked at the garden for a long while."}]
    with pytest.raises(Exception, match="rephrase: the backend failed on document 'd0'"):
        run_rephrase(params, docs, tmp_path)
    params["on_error"] = "reject"
    kept, rejected, stats = run_rephrase(params, docs, tmp_path)
    assert [r["drop_reason"] for r in rejected] == ["rephrase:error"] and stats["errors"] == 1
    assert [r["id"] for r in kept] == ["d0"]
