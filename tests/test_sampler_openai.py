"""The OpenAI-compatible client: the sampler's ``openai`` backend and the ``openai/`` judge.

Against a real server — ``transformers serve --continuous-batching`` on the real SmolLM2 folder,
started and stopped here on loopback — and against small scripted HTTP servers in this process
for what a real one cannot be made to do on demand: die mid-run, answer too slowly, refuse one
prompt, return log-probabilities.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from afdecomp.cli import main
from afdecomp.label.judges import LogprobsUnavailable, OpenAIJudge, Prompt
from afdecomp.sampler import load_config, plan, run
from afdecomp.sampler.backends import GenSettings, ModelSpec, Request, Steer
from afdecomp.sampler.openai_backend import OpenAIBackend, ServerUnavailable
from afdecomp.sampler.runner import read_done
from tests._real_model import real_model  # noqa: F401 — the session fixture
from tests._sampler_util import mini_scenario

pytestmark = pytest.mark.sampler
STARTUP_S = 180  # bound on server start + first request; measured ~14 s + <1 s here
# A small paged KV cache: the default one took ~25 s to set up on the first request on this CPU.
CB_FLAGS = ["--continuous-batching", "--cb-num-blocks", "64", "--cb-max-batch-tokens", "512"]


def _free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- a real server
@pytest.fixture(scope="module")
def served(real_model):  # noqa: F811
    """``transformers serve`` on the SmolLM2 folder: yields (base_url, model name); killed after."""
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    cmd = [str(exe), "serve", str(real_model), "--host", "127.0.0.1", "--port", str(port),
           "--device", "cpu", *CB_FLAGS]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"afdecomp-serve-{port}.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"transformers serve not ready after {STARTUP_S} s")
                time.sleep(0.5)
        warm = OpenAIJudge(str(real_model), base_url=base, timeout=STARTUP_S, max_retries=0)
        warm.complete([Prompt("", "Hi", 0)], temperature=0.0, max_tokens=2)  # the first request sets up the cache
        yield base, str(real_model)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_openai_judge_completes_on_a_real_server(served):
    base, model = served
    judge = OpenAIJudge(model, base_url=base, concurrency=3, timeout=60)
    system = "You are a helpful assistant."
    out = judge.complete([Prompt(system, "What is the capital of France?", 1),
                          Prompt(system, "Name a fruit.", 2),
                          Prompt(system, "Say hello.", 3)], temperature=0.0, max_tokens=16)
    assert "Paris" in out[0].text  # greedy, measured: "The capital of France is Paris."
    assert all(c.error is None and c.text.strip() for c in out)
    assert all(c.prompt_tokens > 10 and 0 < c.completion_tokens <= 16 for c in out)
    with pytest.raises(LogprobsUnavailable, match="returned no log-probabilities"):
        judge.answer_probs([Prompt(system, "Is Paris in France? Answer Yes or No.", 0)], ["yes", "no"])
    judge.close()


def _openai_config(tmp: Path, base_url: str, model: str, *, batch_size: int = 4, concurrency: int = 4,
                   timeout: float = 60, max_retries: int = 1, steering: bool = False) -> Path:
    """Two queries x two tiers on the mini scenario, one openai model."""
    scen = mini_scenario(tmp)
    (tmp / "queries.txt").write_text("Write a haiku about rain.\nExplain what a noun is.", encoding="utf-8")
    text = f"""
[run]
seed = 3
scenarios = ["{scen.name}"]
batch_size = {batch_size}

[decoding]
max_new_tokens = 24
temperature = 1.0

[queries]
source = "queries.txt"

[[models]]
name = "smol"
model = "{model}"
backend = "openai"
base_url = "{base_url}"
concurrency = {concurrency}
timeout = {timeout}
max_retries = {max_retries}
"""
    if steering:
        text += '\n[[steering]]\nvector = "random-0"\nlayer = 1\ncoefs = [2.0]\n'
    path = tmp / "openai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sampler_openai_backend_generates_a_study(served, tmp_path):
    base, model = served
    cfg = load_config(_openai_config(tmp_path, base, model))
    log = tmp_path / "log.jsonl"
    summary = run(cfg, log, progress=False)
    recs = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert summary.written == len(recs) == 4
    assert sorted(r["record_id"] for r in recs) == sorted(p.record_id for p in plan(cfg))
    assert {r["condition"] for r in recs} == {"training", "deployment"}
    assert all(r["output"].strip() and 0 < r["n_tokens"] <= 24 for r in recs)
    again = run(cfg, log, progress=False)
    assert again.already_done == 4 and again.written == 0


def test_openai_and_hf_judges_label_the_same_records(served, tmp_path, capsys):
    """``afdecomp label`` with an ``openai/`` judge on the served model and with the ``hf/`` judge on
    the same folder: both ask exactly the same (record, vote) keys of the same log, and every vote
    is either parsed or counted as failed."""
    from afdecomp.label.store import VoteStore
    base, model = served
    cfg = _openai_config(tmp_path, base, model)
    log = tmp_path / "log.jsonl"
    assert main(["generate", str(cfg), "--out", str(log), "--no-progress"]) == 0
    stores = {}
    for judge, extra in ((f"openai/{model}", ["--base-url", base, "--concurrency", "4"]), (f"hf/{model}", [])):
        stores[judge] = tmp_path / f"{judge.split('/')[0]}.labels.jsonl"
        assert main(["label", str(log), "--task", "compliance", "--all", "--judge", judge, "--votes", "2",
                     "--max-tokens", "12", "--out", str(stores[judge]), "--no-progress", *extra]) == 0
    keys = {}
    for judge, path in stores.items():
        with VoteStore(path, readonly=True) as vs:
            t = vs.table()
        assert set(t["judge"]) == {judge}
        assert (t["ok"] == t["answer"].notna()).all()
        keys[judge] = set(zip(t["record_id"], t["vote"], strict=True))
    a, b = keys.values()
    assert a == b and len(a) == 8  # 4 records x 2 votes
    assert "reused from the store" in capsys.readouterr().out


# ----------------------------------------------------------------------------- scripted servers
class _Scripted:
    """A loopback server answering POST /v1/chat/completions with ``respond(body) -> (status, json)``.

    With ``die_after=n`` it stops listening once it has answered ``n`` requests.
    """

    def __init__(self, respond: Callable[[dict], tuple[int, dict]], *, port: int = 0, die_after: int | None = None):
        outer = self
        self.count = 0
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — the http.server name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = respond(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with lock:
                    outer.count += 1
                    if die_after is not None and outer.count == die_after:
                        threading.Thread(target=outer.stop).start()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (the timeout test) breaks the pipe: expected

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _chat(text: str, logprobs: dict | None = None) -> dict:
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": next(iter(logprobs)), "logprob": next(iter(logprobs.values())),
                                           "bytes": None,
                                           "top_logprobs": [{"token": t, "logprob": v, "bytes": None}
                                                            for t, v in logprobs.items()]}]}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}


def _forward(base_url: str) -> Callable[[dict], tuple[int, dict]]:
    def respond(body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(f"{base_url}/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    return respond


def test_dead_server_mid_run_keeps_the_log_and_the_same_command_resumes(served, tmp_path):
    base, model = served
    port = _free_port()
    proxy = _Scripted(_forward(base), port=port, die_after=2)  # serves one batch of 2, then dies
    cfg = load_config(_openai_config(tmp_path, proxy.base_url, model, batch_size=2, concurrency=1))
    log = tmp_path / "log.jsonl"
    with pytest.raises(ServerUnavailable, match=rf"(?s)cannot reach .*127\.0\.0\.1:{port}.*"
                                                r"2 of 4 records are in .* re-run the same command"):
        run(cfg, log, progress=False)
    first, _ = read_done(log)
    assert len(first) == 2
    back = _Scripted(_forward(base), port=port)  # the server is back, same address
    try:
        summary = run(load_config(_openai_config(tmp_path, proxy.base_url, model, batch_size=2, concurrency=1)),
                      log, progress=False)
    finally:
        back.stop()
    lines = log.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(x)["record_id"] for x in lines]
    assert summary.already_done == 2 and summary.written == 2
    assert sorted(ids) == sorted(p.record_id for p in plan(cfg)) and len(set(ids)) == 4


def test_moving_the_server_keeps_the_settings_hash(tmp_path):
    a = load_config(_openai_config(tmp_path, "http://127.0.0.1:1/v1", "m"))
    b = load_config(_openai_config(tmp_path, "http://10.0.0.7:8000/v1", "m", concurrency=2, timeout=5))
    assert [p.settings_hash for p in plan(a)] == [p.settings_hash for p in plan(b)]
    assert [p.record_id for p in plan(a)] == [p.record_id for p in plan(b)]
    local = ModelSpec("smol", source="m")  # the same model on the transformers backend
    assert a.settings_hash(local, None) != a.settings_hash(a.models[0], None)


def test_generate_against_a_dead_server_says_how_to_resume(tmp_path, capsys):
    port = _free_port()
    path = _openai_config(tmp_path, f"http://127.0.0.1:{port}/v1", "m", max_retries=0)
    assert main(["generate", str(path), "--out", str(tmp_path / "log.jsonl"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"cannot reach the OpenAI-compatible server at http://127.0.0.1:{port}/v1" in err
    assert "0 of 4 records are in" in err and err.endswith("re-run the same command to resume")


def test_nobody_listening_is_a_clear_error_naming_the_url():
    port = _free_port()
    judge = OpenAIJudge("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(ServerUnavailable, match=rf"cannot reach the OpenAI-compatible server at "
                                                rf"http://127\.0\.0\.1:{port}/v1 .*is it running\?"):
        judge.complete([Prompt("", "hi", 0), Prompt("", "ho", 1)], temperature=1.0, max_tokens=4)
    assert time.monotonic() - t0 < 30


def test_slow_server_is_a_clear_timeout():
    def slow(body):
        time.sleep(2.0)
        return 200, _chat("late")
    server = _Scripted(slow)
    try:
        judge = OpenAIJudge("m", base_url=server.base_url, timeout=0.5, max_retries=0)
        with pytest.raises(ServerUnavailable, match=rf"{server.port}/v1 did not answer within 0\.5 s"):
            judge.complete([Prompt("", "hi", 0)], temperature=1.0, max_tokens=4)
        backend = OpenAIBackend(ModelSpec("m", source="m", backend="openai", base_url=server.base_url,
                                          timeout=0.5, max_retries=0))
        with pytest.raises(ServerUnavailable, match="did not answer within"):
            backend.generate([Request("", "hi", 0)], GenSettings(max_new_tokens=4))
    finally:
        server.stop()


def test_one_refused_prompt_is_a_failed_vote_and_server_errors_raise():
    def respond(body):
        user = body["messages"][-1]["content"]
        if "too long" in user:
            return 400, {"error": {"message": "prompt is too long", "type": "invalid_request_error"}}
        if "crash" in user:
            return 503, {"error": {"message": "overloaded"}}
        return 200, _chat(f"ok seed={body.get('seed')}")
    server = _Scripted(respond)
    try:
        judge = OpenAIJudge("m", base_url=server.base_url, concurrency=2, max_retries=0)
        out = judge.complete([Prompt("s", "fine", 7), Prompt("s", "too long", 8), Prompt("s", "fine", 9)],
                             temperature=1.0, max_tokens=4)
        assert [c.text for c in out] == ["ok seed=7", None, "ok seed=9"]
        assert "400" in out[1].error and "prompt is too long" in out[1].error
        assert out[0].prompt_tokens == 11 and out[0].completion_tokens == 3
        with pytest.raises(ServerUnavailable, match="answered 503"):
            judge.complete([Prompt("s", "crash", 1)], temperature=1.0, max_tokens=4)
    finally:
        server.stop()


def test_answer_probs_from_top_logprobs():
    lp = {" Yes": -0.5, "yes": -2.0, "No": -1.5, "N": -3.0, "The": -0.1, "": -4.0}
    server = _Scripted(lambda body: (200, _chat("Yes", lp if body.get("logprobs") else None)))
    try:
        judge = OpenAIJudge("m", base_url=server.base_url, max_retries=0)
        (p,) = judge.answer_probs([Prompt("", "q", 0)], ["yes", "no"])
        y, n = math.exp(-0.5) + math.exp(-2.0), math.exp(-1.5) + math.exp(-3.0)
        assert p["yes"] == pytest.approx(y / (y + n), rel=1e-12) and p["no"] == pytest.approx(n / (y + n))
        (none,) = judge.answer_probs([Prompt("", "q", 0)], ["full", "refusal"])  # no top token matches
        assert none is None
    finally:
        server.stop()


def test_openai_models_cannot_steer(tmp_path):
    path = _openai_config(tmp_path, "http://127.0.0.1:1/v1", "m", steering=True)
    with pytest.raises(ValueError, match=r"openai.toml \[\[steering\]\]: model 'smol' .* cannot steer"):
        load_config(path)
    backend = OpenAIBackend(ModelSpec("m", source="m", backend="openai", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(ValueError, match="need the transformers backend"):
        backend.generate([Request("", "hi", 0, Steer(1, np.ones(4, np.float32), 2.0))], GenSettings())
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('backend = "openai"\n', ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\['base_url', 'concurrency', 'timeout', 'max_retries'\] only apply"):
        load_config(bad)
