"""The OpenAI-compatible server (`vllmc --server`) on the real model, driven
by the official `openai` Python package, curl and raw sockets.

Two servers per module: `srv` (defaults, --ctx 2048) and `tight` (--api-key,
--max-pending 1, 2 s idle and read timeouts, 16 KiB body limit, a served
model name). Each is stopped with SIGINT at the end: it must exit 0 with no
AddressSanitizer/UBSan report on stderr (this suite runs under the ASan build
with -m "not heavy"). Generation tests are greedy and short unless stated.

Usage counts are checked against the Hugging Face tokenizer's ids
(tests/fixtures/tokenizer/cases-smollm2.json), against POST /tokenize and
against the CLI's --tokenize."""
import asyncio
import collections
import json
import os
import random
import socket
import subprocess
import threading
import time

import openai
import pytest

from vllmc_cli import BIN, MODEL, ROOT, run as run_cli
from vllmc_server import Server, http_request_bytes, raw_exchange, response_complete, sse_events

KEY = "sk-test-5e3f"
SERVED = "tiny"
CTX = 2048
HF_CASES = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "cases-smollm2.json")


@pytest.fixture(scope="module")
def srv():
    s = Server("--ctx", CTX, "--kvmem", 128)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tight():
    s = Server("--ctx", 512, "--kvmem", 32, "--api-key", KEY, "--max-pending", 1, "--idle-timeout", 2,
               "--read-timeout", 2, "--max-body-kb", 16, "--served-model-name", SERVED)
    yield s
    s.stop()


def client(s, key="none", **kw):
    # no retries: a failure must show, not be retried into a pass
    return openai.OpenAI(base_url=s.base_url + "/v1", api_key=key, max_retries=0, timeout=600, **kw)


def model_of(s):
    return client(s).models.list().data[0].id


def hf_cases(n):
    with open(HF_CASES, encoding="utf-8") as f:
        c = json.load(f)
    # special tokens parsed, no BOS/EOS added: what generation does for SmolLM2
    return [x for x in c["texts"] if x["parse_special"] and not x["add_special"] and x["ids"]][:n]


def user(text):
    return [{"role": "user", "content": text}]


def short_chat(text):
    """A chat with few prompt tokens (the template's default system prompt
    is long): what the sanitizer-build tests use."""
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def assert_valid_after(s):
    """The server still serves: a tokenize and a 1-token generation succeed."""
    st, body = s.post_json("/tokenize", {"prompt": "still alive"})
    assert st == 200 and body["count"] == 2, (st, body)
    st, body = s.post_json("/v1/completions", {"prompt": "Hi", "max_tokens": 1, "temperature": 0})
    assert st == 200 and body["usage"]["completion_tokens"] == 1, (st, body)


# ---- discovery and tokenizer endpoints ----------------------------------------------------------


def test_health_models_metrics(srv):
    st, h, body = srv.request("GET", "/health")
    assert st == 200 and body == b""
    models = client(srv).models.list().data
    assert len(models) == 1
    assert models[0].id == os.path.basename(MODEL)
    assert models[0].object == "model"
    st, _, raw = srv.request("GET", "/v1/models")
    assert json.loads(raw)["data"][0]["max_model_len"] == CTX
    st, h, body = srv.request("GET", "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain")
    m = srv.metrics()
    for name in ["vllmc_kv_blocks_total", "vllmc_kv_blocks_used", "vllmc_num_requests_running",
                 "vllmc_num_requests_waiting", "vllmc_request_success_total", "vllmc_request_aborted_total",
                 "vllmc_time_to_first_token_seconds_count", 'vllmc_http_requests_total{status="200"}']:
        assert name in m, name
    assert m["vllmc_kv_blocks_total"] > 0


def test_tokenize_matches_hf_and_cli(srv, tmp_path):
    cases = hf_cases(14)
    assert len(cases) == 14
    for i, case in enumerate(cases):
        st, body = srv.post_json("/tokenize", {"prompt": case["text"]})
        assert st == 200, body
        assert body["tokens"] == case["ids"], case["text"]
        assert body["count"] == len(case["ids"]) and body["max_model_len"] == CTX
        # byte-level BPE is lossless: detokenize gives the text back
        st, back = srv.post_json("/detokenize", {"tokens": body["tokens"]})
        assert st == 200 and back["prompt"] == case["text"]
    # the CLI's --tokenize agrees for a few
    for i, case in enumerate(cases[8:12]):
        f = tmp_path / f"t{i}.txt"
        f.write_bytes(case["text"].encode())
        p = subprocess.run([BIN, "--w", MODEL, "--tokenize", str(f)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert [int(x) for x in p.stdout.split()] == case["ids"]
    st, body = srv.post_json("/detokenize", {"tokens": [1, 10 ** 8]})
    assert st == 400 and body["error"]["param"] == "tokens"
    st, body = srv.post_json("/tokenize", {"messages": user("Hi"), "add_generation_prompt": True})
    assert st == 200 and body["count"] > 5


# ---- generation -------------------------------------------------------------------------------


def test_chat_nonstream_usage(srv):
    c = client(srv)
    r = c.chat.completions.create(model=model_of(srv), messages=user("What is the capital of France?"),
                                  max_tokens=4, temperature=0, extra_body={"ignore_eos": True})
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    assert r.model == os.path.basename(MODEL)
    assert len(r.choices) == 1
    ch = r.choices[0]
    assert ch.index == 0 and ch.message.role == "assistant" and ch.finish_reason == "length"
    assert ch.message.content
    st, tok = srv.post_json("/tokenize", {"messages": user("What is the capital of France?")})
    assert st == 200
    assert r.usage.prompt_tokens == tok["count"]
    assert r.usage.completion_tokens == 4
    assert r.usage.total_tokens == tok["count"] + 4


@pytest.mark.heavy
def test_completion_usage_equals_tokenizer_counts(srv):
    c = client(srv)
    for case in hf_cases(12)[9:12]:
        r = c.completions.create(model=model_of(srv), prompt=case["text"], max_tokens=2, temperature=0,
                                 extra_body={"ignore_eos": True})
        assert r.object == "text_completion" and r.id.startswith("cmpl-")
        assert r.usage.prompt_tokens == len(case["ids"]), case["text"]
        assert r.usage.completion_tokens == 2
        assert r.choices[0].finish_reason == "length"
    # token-id prompts count as given
    ids = hf_cases(10)[9]["ids"]
    r = c.completions.create(model=model_of(srv), prompt=ids, max_tokens=1, temperature=0)
    assert r.usage.prompt_tokens == len(ids)


def test_stream_equals_nonstream(srv):
    """Greedy: streamed deltas join to the non-streamed text; usage only when
    asked, and then equal to the non-streamed usage."""
    c = client(srv)
    kw = dict(model=model_of(srv), max_tokens=6, temperature=0)
    full = c.chat.completions.create(messages=user("Name three colors."), **kw)
    chunks = list(c.chat.completions.create(messages=user("Name three colors."), stream=True,
                                            stream_options={"include_usage": True}, **kw))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == full.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [full.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump() == full.usage.model_dump()
    assert all(ch.usage is None for ch in chunks[:-1])
    assert len({ch.id for ch in chunks}) == 1
    # without include_usage no chunk carries usage
    chunks = list(c.chat.completions.create(messages=user("Name three colors."), stream=True, **kw))
    assert all(ch.usage is None for ch in chunks) and chunks[-1].choices[0].finish_reason

    fullc = c.completions.create(prompt="The sea is", **kw)
    chunks = list(c.completions.create(prompt="The sea is", stream=True, stream_options={"include_usage": True}, **kw))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == fullc.choices[0].text
    assert chunks[-1].usage.model_dump() == fullc.usage.model_dump()


def curl_stream(s, path, body):
    p = subprocess.run(["curl", "-sS", "-N", "-D", "-", "-H", "Content-Type: application/json",
                        "--data-binary", json.dumps(body), s.base_url + path],
                       capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr
    head, _, raw = p.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1"), raw


def test_sse_bytes_framing_curl(srv):
    """The raw bytes of a streamed chat as OpenAI frames them: role chunk,
    content chunks, a finish chunk, the usage chunk, [DONE]."""
    head, raw = curl_stream(srv, "/v1/chat/completions",
                            {"messages": short_chat("Hi"), "max_tokens": 2, "temperature": 0, "ignore_eos": True,
                             "stream": True, "stream_options": {"include_usage": True}})
    assert head.startswith("HTTP/1.1 200")
    assert "content-type: text/event-stream" in head.lower()
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    first, finish, usage = chunks[0], chunks[-2], chunks[-1]
    assert first["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                 "finish_reason": None}]
    content = chunks[1:-2]
    assert content, events
    for ch in content:
        (c0,) = ch["choices"]
        assert set(c0["delta"]) == {"content"} and c0["finish_reason"] is None
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 2
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 2
    st, tok = srv.post_json("/tokenize", {"messages": short_chat("Hi")})
    assert usage["usage"]["prompt_tokens"] == tok["count"]
    for ch in chunks:
        assert ch["object"] == "chat.completion.chunk" and ch["id"] == first["id"]
        assert ch["created"] == first["created"] and ch["model"] == os.path.basename(MODEL)

    # completions, no usage asked: text chunks, a finish chunk, [DONE]
    head, raw = curl_stream(srv, "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 2, "temperature": 0,
                                                     "ignore_eos": True, "stream": True})
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(ch["object"] == "text_completion" and ch.get("usage") is None for ch in chunks)
    assert [ch["choices"][0]["finish_reason"] for ch in chunks] == [None] * (len(chunks) - 1) + ["length"]
    assert chunks[-1]["choices"][0]["text"] == ""
    assert "".join(ch["choices"][0]["text"] for ch in chunks)


def test_max_tokens_and_max_completion_tokens(srv):
    c = client(srv)
    r = c.chat.completions.create(model=model_of(srv), messages=user("Count to ten."), max_tokens=2,
                                  temperature=0, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 2 and r.choices[0].finish_reason == "length"
    r = c.chat.completions.create(model=model_of(srv), messages=user("Count to ten."), max_completion_tokens=3,
                                  temperature=0, extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 3 and r.choices[0].finish_reason == "length"


def test_logprobs(srv):
    c = client(srv)
    r = c.chat.completions.create(model=model_of(srv), messages=user("What is 2+2?"), max_tokens=4,
                                  temperature=0, logprobs=True, top_logprobs=3, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs.content
    assert len(lp) == r.usage.completion_tokens == 4
    for e in lp:
        assert e.logprob <= 0 and len(e.top_logprobs) == 3
        tops = [t.logprob for t in e.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        # greedy: the chosen token is the most likely one
        assert e.top_logprobs[0].token == e.token and abs(e.top_logprobs[0].logprob - e.logprob) < 1e-5
        assert sum(2.718281828 ** t for t in tops) <= 1.0 + 1e-4
        assert bytes(e.bytes) == e.token.encode()
    assert "".join(e.token for e in lp) == r.choices[0].message.content
    # streamed logprobs are the same entries
    chunks = list(c.chat.completions.create(model=model_of(srv), messages=user("What is 2+2?"), max_tokens=4,
                                            temperature=0, logprobs=True, top_logprobs=3, stream=True,
                                            extra_body={"ignore_eos": True}))
    streamed = [e for ch in chunks if ch.choices and ch.choices[0].logprobs for e in ch.choices[0].logprobs.content]
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == [(e.token, round(e.logprob, 4)) for e in lp]

    # characters split across tokens: "bytes" are each token's raw bytes and join into the text
    r = c.chat.completions.create(model=model_of(srv), messages=user("Repeat exactly: 猫🐱🐱 ünïcödé"), max_tokens=12,
                                  temperature=0, logprobs=True, top_logprobs=1, extra_body={"ignore_eos": True})
    content = r.choices[0].message.content
    lp = r.choices[0].logprobs.content
    assert any(not 0 < len(bytes(e.bytes).decode("utf-8", "ignore")) for e in lp), [e.bytes for e in lp]
    joined = b"".join(bytes(e.bytes) for e in lp)
    assert joined.decode("utf-8", "replace") == content, (joined, content)

    r = c.completions.create(model=model_of(srv), prompt="The sky is", max_tokens=3, temperature=0, logprobs=2,
                             extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 3
    assert "".join(lp.tokens) == r.choices[0].text
    off = 0
    for tok, l, top, o in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset):
        assert o == off and l <= 0 and len(top) == 2 and max(top.values()) == pytest.approx(l, abs=1e-5)
        off += len(tok)


@pytest.mark.heavy
def test_stop_sequences(srv):
    c = client(srv)
    kw = dict(model=model_of(srv), prompt="The three primary colors are", max_tokens=12, temperature=0,
              extra_body={"ignore_eos": True})
    t = c.completions.create(**kw).choices[0].text
    stop = t[len(t) // 2:len(t) // 2 + 3]
    assert len(stop) == 3 and t.find(stop) > 0, t
    want = t[:t.find(stop)]
    r = c.completions.create(stop=[stop], **kw)
    assert r.choices[0].text == want and r.choices[0].finish_reason == "stop"
    chunks = list(c.completions.create(stop=[stop, "zzzz"], stream=True, **kw))
    assert "".join(ch.choices[0].text for ch in chunks) == want
    assert chunks[-1].choices[0].finish_reason == "stop"
    # chat, stop string given as a plain string
    m = dict(model=model_of(srv), messages=user("Write a haiku about the sea."), max_tokens=12, temperature=0)
    t = c.chat.completions.create(**m).choices[0].message.content
    stop = t[4:7]
    r = c.chat.completions.create(stop=stop, **m)
    assert r.choices[0].message.content == t[:t.find(stop)] and r.choices[0].finish_reason == "stop"


@pytest.mark.heavy
def test_n2_and_seed_reproducible(srv):
    c = client(srv)
    kw = dict(model=model_of(srv), messages=user("Tell me a story."), max_tokens=8, temperature=1.0,
              extra_body={"ignore_eos": True})
    a = c.chat.completions.create(n=2, seed=1234, **kw)
    assert sorted(ch.index for ch in a.choices) == [0, 1]
    assert a.usage.completion_tokens == 16
    b = c.chat.completions.create(n=2, seed=1234, **kw)
    texts = [ch.message.content for ch in sorted(a.choices, key=lambda x: x.index)]
    assert [ch.message.content for ch in sorted(b.choices, key=lambda x: x.index)] == texts
    # the two samples of one seeded request are different draws
    assert texts[0] != texts[1]
    # streamed with the same seed: the same texts, per index
    got = {0: "", 1: ""}
    fin = {}
    for ch in c.chat.completions.create(n=2, seed=1234, stream=True, **kw):
        for x in ch.choices:
            got[x.index] += x.delta.content or ""
            if x.finish_reason:
                fin[x.index] = x.finish_reason
    assert [got[0], got[1]] == texts and fin == {0: "length", 1: "length"}
    # other seeds give other samples
    others = {c.chat.completions.create(seed=s, **kw).choices[0].message.content for s in (1, 2, 3)}
    assert len(others | {texts[0]}) > 1
    # completions: n=2 per prompt for two prompts -> indexes 0..3
    r = c.completions.create(model=model_of(srv), prompt=["A", "B"], n=2, max_tokens=2, seed=5,
                             extra_body={"ignore_eos": True})
    assert sorted(ch.index for ch in r.choices) == [0, 1, 2, 3] and r.usage.completion_tokens == 8


# ---- errors -------------------------------------------------------------------------------------


def test_error_statuses(srv, tmp_path):
    c = client(srv)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="gpt-nope", messages=user("Hi"), max_tokens=1)
    assert e.value.status_code == 404 and e.value.code == "model_not_found"
    st, h, body = srv.request("GET", "/v1/chat/completions")
    assert st == 405 and h["allow"] == "POST" and json.loads(body)["error"]["code"] == "method_not_allowed"
    st, h, body = srv.request("DELETE", "/v1/models")
    assert st == 405 and h["allow"] == "GET"
    st, h, body = srv.request("GET", "/v1/nothing")
    assert st == 404
    # 413: a body over the 1 MiB default
    big = json.dumps({"prompt": "a " * 600000, "max_tokens": 1})
    st, h, body = srv.request("POST", "/v1/completions", big)
    assert st == 413 and json.loads(body)["error"]["code"] == "request_too_large"
    # curl announces a large body with "Expect: 100-continue": the 413 comes before any of it is sent
    f = tmp_path / "big.json"
    f.write_text(big)
    p = subprocess.run(["curl", "-sS", "-v", "-H", "Content-Type: application/json", "--data-binary", f"@{f}",
                        srv.base_url + "/v1/completions"], capture_output=True, text=True, timeout=120)
    assert "> Expect: 100-continue" in p.stderr and "< HTTP/1.1 413" in p.stderr, p.stderr[-2000:]
    assert "< HTTP/1.1 100" not in p.stderr
    assert json.loads(p.stdout)["error"]["code"] == "request_too_large"
    # over-long prompt: 400 naming the context and both token counts
    text = "hello " * (CTX + 100)
    st, tok = srv.post_json("/tokenize", {"prompt": text})
    n = tok["count"]
    assert n > CTX
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model=model_of(srv), prompt=text, max_tokens=5)
    err = e.value.body
    assert e.value.status_code == 400 and err["code"] == "context_length_exceeded" and err["param"] == "prompt"
    assert f"maximum context length is {CTX} tokens" in err["message"]
    assert f"{n + 5} tokens ({n} in the prompt, 5 for the completion)" in err["message"]
    # a prompt that fits but leaves no room for max_tokens
    text = "hello " * (CTX // 2)
    n = srv.post_json("/tokenize", {"prompt": text})[1]["count"]
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model=model_of(srv), prompt=text, max_tokens=CTX)
    assert f"({n} in the prompt, {CTX} for the completion)" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=model_of(srv), messages=user("x " * CTX), max_tokens=1)
    assert e.value.body["code"] == "context_length_exceeded" and e.value.body["param"] == "messages"
    assert srv.wait_idle()["vllmc_kv_blocks_used"] == 0


def test_api_key(tight):
    with pytest.raises(openai.AuthenticationError) as e:
        client(tight, key="wrong").chat.completions.create(model=SERVED, messages=user("Hi"), max_tokens=1)
    assert e.value.status_code == 401
    st, h, body = tight.request("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 1})
    assert st == 401 and h["www-authenticate"] == "Bearer"
    st, _, _ = tight.request("POST", "/tokenize", {"prompt": "Hi"})
    assert st == 401
    # /health and /metrics stay open
    assert tight.request("GET", "/health")[0] == 200 and tight.request("GET", "/metrics")[0] == 200
    c = client(tight, key=KEY)
    assert [m.id for m in c.models.list().data] == [SERVED]
    r = c.completions.create(model=SERVED, prompt="Hi", max_tokens=1, temperature=0)
    assert r.model == SERVED and r.usage.completion_tokens == 1
    # --max-body-kb 16
    st, _, body = tight.request("POST", "/v1/completions", {"prompt": "a " * 9000, "max_tokens": 1},
                                {"Authorization": f"Bearer {KEY}"})
    assert st == 413 and "at most 16384" in json.loads(body)["error"]["message"]
    # the file's model name is accepted too; another name is not
    c.completions.create(model=os.path.basename(MODEL), prompt="Hi", max_tokens=1)
    with pytest.raises(openai.NotFoundError):
        c.completions.create(model="other", prompt="Hi", max_tokens=1)


def open_stream(port, path, body, headers=None):
    """Sends a streamed request on a raw socket; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    s.sendall(http_request_bytes("POST", path, json.dumps(body).encode(), headers))
    return s


def read_events(sock, n):
    """Reads until n SSE events (data lines) arrived; returns the bytes (the
    body is chunked: chunk sizes are left in)."""
    buf = b""
    while buf.count(b"data: ") < n:
        b = sock.recv(65536)
        assert b, f"stream ended early: {buf[-500:]!r}"
        buf += b
    return buf


def test_queue_bound_429(tight):
    """--max-pending 1: a second generation while one runs gets 429, and the
    slot frees once the first one goes."""
    auth = {"Authorization": f"Bearer {KEY}"}
    s = open_stream(tight.port, "/v1/completions", {"prompt": "Once", "max_tokens": 300, "ignore_eos": True,
                                                    "stream": True}, auth)
    try:
        head = read_events(s, 1)
        assert head.startswith(b"HTTP/1.1 200")
        with pytest.raises(openai.RateLimitError) as e:
            client(tight, key=KEY).completions.create(model=SERVED, prompt="Hi", max_tokens=1)
        assert e.value.status_code == 429
        st, _, _ = tight.request("POST", "/tokenize", {"prompt": "Hi"}, auth)
        assert st == 200   # only generations are bounded
    finally:
        s.close()
    deadline = time.monotonic() + 30
    while True:
        st, _, body = tight.request("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 1}, auth)
        if st != 429 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert st == 200, body
    assert tight.wait_idle()["vllmc_kv_blocks_used"] == 0


# ---- hostile input ------------------------------------------------------------------------------

VALID_CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
VALID_COMPLETION = {"prompt": "Hi", "max_tokens": 1}

# field -> values that field refuses (every one must give a 4xx)
BAD_FIELDS = {
    "max_tokens": [-1, 0, "ten", 3.5, True, [], {}, 2 ** 70, -2 ** 63],
    "max_completion_tokens": [0, -7, "1", 1.25],
    "temperature": [-0.5, 2.5, "hot", [], 1e30, -1e30],
    "top_p": [0, 1.5, -0.1, "x", {}],
    "top_k": [-2, "k", 2.5, 2 ** 40],
    "min_p": [-0.1, 1.1, "m"],
    "presence_penalty": [2.5, -2.5, "p"],
    "frequency_penalty": [9, "f"],
    "repetition_penalty": [0, -1, 11, "r"],
    "n": [0, -1, 17, 2 ** 63, "2", 1.5],
    "seed": ["s", 1.5, 2 ** 64, [1]],
    "stream": ["yes", 1, [], {}],
    "ignore_eos": ["no", 0],
    "stop": [5, [1], [""], ["a"] * 17, "x" * 300, {"a": 1}],
    "stop_token_ids": [[-1], ["a"], 7, [2 ** 40]],
    "model": [5, [], {}, "not-this-model"],
}
BAD_CHAT = {
    "messages": [[], "hi", [1], [{"role": "user"}], [{"role": 5, "content": "x"}], [{"content": "x"}],
                 {"role": "user"}, [{"role": "user", "content": 7}], [{"role": "wizard", "content": "x"}],
                 [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
                 [{"role": "user", "content": [{"type": "text"}]}], [{"role": "user", "content": [5]}],
                 [{"role": "user", "content": "x"}] * 1025],
    "logprobs": ["yes", 2],
    "top_logprobs": [21, -1, "3"],
    "stream_options": ["x", 5],
}
BAD_COMPLETION = {
    "prompt": [5, [], [[]], [-1], [10 ** 10], [1.5], {"a": 1}, [[1, 2], [-3]], [None], [True],
               ["a"] * 65, "", [10 ** 8]],
    "logprobs": [21, -1, "2", True],
}


def fuzz_bodies(seed=20261128):
    """(path, body bytes, what) for at least 200 bodies that must be refused."""
    rnd = random.Random(seed)
    out = []
    for base, path, extra in [(VALID_CHAT, "/v1/chat/completions", BAD_CHAT),
                              (VALID_COMPLETION, "/v1/completions", BAD_COMPLETION)]:
        fields = dict(BAD_FIELDS)
        fields.update(extra)
        for k, values in fields.items():
            for v in values:
                b = dict(base)
                b[k] = v
                out.append((path, json.dumps(b).encode(), f"{k}={str(v)[:40]}"))
        good = json.dumps(base).encode()
        # truncated JSON (an object cut before its closing brace never parses)
        for _ in range(15):
            cut = rnd.randrange(0, len(good) - 1)
            out.append((path, good[:cut], f"truncated at {cut}"))
        # a byte that JSON never allows (control characters, invalid UTF-8) at a random place
        for _ in range(15):
            pos = rnd.randrange(1, len(good) - 1)
            bad = bytes([rnd.choice([0x00, 0x01, 0x07, 0x1f, 0x80, 0xc0, 0xf8, 0xfe, 0xff])])
            out.append((path, good[:pos] + bad + good[pos:], f"byte {bad!r} at {pos}"))
    chat = "/v1/chat/completions"
    # non-JSON numbers and literals
    for lit in [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"0x10", b"+1", b"01", b"1.", b".5",
                b"undefined", b"None", b"'1'"]:
        out.append((chat, b'{"messages":[{"role":"user","content":"Hi"}],"max_tokens":' + lit + b"}",
                    f"max_tokens literal {lit!r}"))
        out.append((chat, b'{"messages":[{"role":"user","content":"Hi"}],"temperature":' + lit + b"}",
                    f"temperature literal {lit!r}"))
    # invalid UTF-8 and bad escapes inside strings
    for s in [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82", b"\\ud800",
              b"\\udc00x", b"\\u00zz", b"\\x41", b"\\", b"\\u0000"]:
        out.append((chat, b'{"messages":[{"role":"user","content":"' + s + b'"}],"max_tokens":1}', f"content {s!r}"))
        out.append(("/v1/completions", b'{"prompt":"' + s + b'","max_tokens":1}', f"prompt {s!r}"))
    # deep nesting
    for depth in [100, 3000, 100000]:
        out.append((chat, b'{"messages":' + b"[" * depth + b"]" * depth + b"}", f"nested arrays {depth}"))
    for depth in [3000, 100000]:   # deeper than any JSON parser's limit: must not parse
        out.append((chat, b'{"messages":[{"role":"user","content":"Hi"}],"x":' + b'{"a":' * depth + b"1" +
                    b"}" * depth + b"}", f"nested objects {depth}"))
    out.append((chat, b"[" * 200000, "unclosed arrays"))
    # wrong top-level types, empty, garbage, duplicate keys with a bad last value
    for b in [b"", b"null", b"[]", b'"messages"', b"1", b"true", b"{}", b"{", b"}", b"\x00" * 64,
              bytes(rnd.randrange(256) for _ in range(512)), b'{"messages":[{"role":"user","content":"Hi"}],'
              b'"max_tokens":1,"max_tokens":-1}', b'{"messages":[{"role":"user","content":"Hi"}] "max_tokens":1}']:
        out.append((chat, b, f"body {b[:20]!r}"))
    # random JSON objects without the required field
    keys = ["model", "max_tokens", "x", "temperature", "stream", "n", "stop", "user", "foo"]
    for _ in range(20):
        obj = {rnd.choice(keys): rnd_value(rnd, 3) for _ in range(rnd.randrange(1, 5))}
        out.append((chat, json.dumps(obj).encode(), f"random object {str(obj)[:40]}"))
    # the tokenizer endpoints
    for b in [b'{"tokens":[-1]}', b'{"tokens":"x"}', b'{"tokens":[1.5]}', b'{"tokens":[99999999]}', b"{}"]:
        out.append(("/detokenize", b, f"detokenize {b!r}"))
    for b in [b"{}", b'{"prompt":5}', b'{"messages":"x"}', b'{"prompt":"a","add_special_tokens":"y"}']:
        out.append(("/tokenize", b, f"tokenize {b!r}"))
    return out


def rnd_value(rnd, depth):
    k = rnd.randrange(7 if depth > 0 else 5)
    if k == 0:
        return rnd.randrange(-2 ** 40, 2 ** 40)
    if k == 1:
        return rnd.uniform(-1e6, 1e6)
    if k == 2:
        return "".join(chr(rnd.randrange(32, 0x2fff)) for _ in range(rnd.randrange(8)))
    if k == 3:
        return rnd.choice([True, False, None])
    if k == 4:
        return -rnd.randrange(1, 10)
    if k == 5:
        return [rnd_value(rnd, depth - 1) for _ in range(rnd.randrange(4))]
    return {str(rnd.randrange(100)): rnd_value(rnd, depth - 1) for _ in range(rnd.randrange(4))}


def test_fuzzed_bodies_get_4xx(srv):
    bodies = fuzz_bodies()
    assert len(bodies) >= 200
    before = srv.metrics()
    for i, (path, body, what) in enumerate(bodies):
        st, h, data = srv.request("POST", path, body)
        assert 400 <= st < 500, (what, st, data[:300])
        err = json.loads(data)["error"]
        assert err["message"] and err["type"], (what, data[:300])
        if i % 50 == 49:
            assert_valid_after(srv)
    assert_valid_after(srv)
    m = srv.wait_idle()
    assert m["vllmc_kv_blocks_used"] == 0 and m["vllmc_num_requests_running"] == 0
    n4xx = sum(v - before.get(k, 0) for k, v in m.items() if k.startswith('vllmc_http_requests_total{status="4'))
    assert n4xx == len(bodies)
    print(f"{len(bodies)} fuzzed bodies, all 4xx")


def test_hostile_http(srv):
    """Bad HTTP: huge and many headers, bad request lines and lengths, short
    Content-Length. Each gets a 4xx (505 for an unknown HTTP version); a
    request line with no path, and a truncated body whose client half-closes,
    get the connection closed with no answer."""
    port = srv.port
    n = 0
    body = json.dumps(VALID_CHAT).encode()
    # (request bytes, what, accepted outcomes: a status, or None = closed with no answer)
    four = set(range(400, 500))
    cases = [
        (http_request_bytes("POST", "/v1/chat/completions", body, {"X-Big": "a" * 100000}), "100 KB header", {431}),
        (http_request_bytes("POST", "/v1/chat/completions", body, {f"X-H{i}": "v" * 40 for i in range(2000)}),
         "2000 headers", {431}),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "70 KB URL", {414}),
        # libmicrohttpd drops a request line without a method and a path
        (b"GARBAGE\r\n\r\n", "no method/path", {None}),
        (b"GET /health\r\n\r\n", "HTTP/0.9 line", {400}),
        # an unsupported version is a 505 by RFC 9110
        (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/9.9", {505}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "Content-Length abc", {400}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "Content-Length -5", {400}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         "Content-Length overflow", {413}),
        # over 16x the body limit: refused before any body byte is read
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n", "20 MB declared", {413}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk", {400}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 8\r\n\r\n{}{}",
         "two lengths", {400}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n", "Content-Length and chunked", {400}),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n", "header without a colon", {400}),
        # the JSON is cut at 10 bytes (400); the rest is not a request
        (http_request_bytes("POST", "/v1/chat/completions", body, content_length=10), "short Content-Length", {400}),
        (b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", "unknown method", {405}),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "path traversal", {404}),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "empty object", {400}),
        (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n0\r\n\r\n",
         "chunked, cut JSON", {400}),
    ]
    for data, what, want in cases:
        st, raw, closed = raw_exchange(port, data, read_timeout=20)
        assert st in want and (st is not None or (closed and raw == b"")), (what, st, raw[:300])
        assert st is None or 400 <= st < 500 or st == 505
        n += 1
    # truncated bodies (Content-Length longer than what is sent) from a client that then
    # half-closes: the server drops the connection without an answer
    for cut in [0, 1, 10, len(body) - 1]:
        st, raw, closed = raw_exchange(port, http_request_bytes("POST", "/v1/chat/completions", body[:cut],
                                                                content_length=len(body)),
                                       read_timeout=20, shutdown_write=True)
        assert st is None and raw == b"" and closed, (cut, raw[:300])
        n += 1
    assert_valid_after(srv)
    print(f"{n} hostile HTTP requests")


def test_slow_and_stalled_clients(tight):
    """--idle-timeout 2 --read-timeout 2: a stalled body, stalled headers and
    a body trickled slower than the read timeout each get the connection
    closed (no answer), all within a few seconds; the server keeps serving."""
    port = tight.port
    body = json.dumps({"prompt": "Hi", "max_tokens": 1}).encode()
    auth = {"Authorization": f"Bearer {KEY}"}
    results = {}

    def stalled_body(i):
        results[f"stalled body {i}"] = raw_exchange(port, http_request_bytes(
            "POST", "/v1/completions", body[:5], auth, content_length=len(body)), read_timeout=20)

    def stalled_headers(i):
        results[f"stalled headers {i}"] = raw_exchange(port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n",
                                                       read_timeout=20)

    def trickle(i):
        data = http_request_bytes("POST", "/v1/completions", body, auth)
        head = data[:-len(body)]
        chunks = [head] + [body[k:k + 1] for k in range(len(body))]
        results[f"trickled body {i}"] = raw_exchange(port, None, read_timeout=20, chunks=chunks, chunk_delay=0.4)

    t0 = time.monotonic()
    threads = [threading.Thread(target=f, args=(i,)) for f in (stalled_body, stalled_headers, trickle) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert len(results) == 6
    for what, (st, raw, closed) in results.items():
        assert closed and st is None and raw == b"", (what, st, raw[:200])
    assert elapsed < 15, elapsed
    r = client(tight, key=KEY).completions.create(model=SERVED, prompt="Hi", max_tokens=1)
    assert r.usage.completion_tokens == 1


def test_clients_killed_mid_stream_free_blocks(srv):
    """Streams closed after a few chunks and non-streamed requests closed while
    they generate: every KV block returns, every generation counts as aborted."""
    before = srv.metrics()
    # short raw prompts: prefill is what costs under ASan (chat streams hang up the same way)
    socks = [open_stream(srv.port, "/v1/completions", {"prompt": f"Chapter {n}.", "max_tokens": 1000,
                                                        "ignore_eos": True, "stream": True, "n": n})
             for n in (1, 2, 1)]
    for s in socks:
        read_events(s, 2)
    m = srv.metrics()
    assert m["vllmc_kv_blocks_used"] > 0 and m["vllmc_num_requests_running"] + m["vllmc_num_requests_waiting"] == 4
    for s in socks:
        s.close()
    t0 = time.monotonic()
    m = srv.wait_idle(timeout=60)
    assert m["vllmc_kv_blocks_used"] == 0, m
    assert m["vllmc_num_requests_running"] == 0 and m["vllmc_num_requests_waiting"] == 0
    print(f"streams: KV free {time.monotonic() - t0:.2f} s after the hangups")

    # non-streamed: hang up while generating
    socks = [open_stream(srv.port, "/v1/completions", {"prompt": f"Essay {i}:", "max_tokens": 1000,
                                                       "ignore_eos": True}) for i in range(2)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = srv.metrics()
        if m["vllmc_num_requests_running"] == 2:
            break
        time.sleep(0.02)
    assert m["vllmc_num_requests_running"] == 2
    for s in socks:
        s.close()
    m = srv.wait_idle(timeout=60)

    assert m["vllmc_kv_blocks_used"] == 0 and m["vllmc_num_requests_running"] == 0
    # 1 + 2 + 1 streamed choices + 2 non-streamed
    # the 499s are counted when libmicrohttpd cleans the connection up, a little later
    k499 = 'vllmc_http_requests_total{status="499"}'
    deadline = time.monotonic() + 10
    while (m["vllmc_request_aborted_total"] - before["vllmc_request_aborted_total"] < 6
           or m.get(k499, 0) - before.get(k499, 0) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
        m = srv.metrics()
    assert m["vllmc_request_aborted_total"] - before["vllmc_request_aborted_total"] == 6
    assert m["vllmc_request_success_total"] == before["vllmc_request_success_total"]
    assert m.get(k499, 0) - before.get(k499, 0) == 2
    assert_valid_after(srv)


def test_mixed_concurrent_requests_and_hangups(srv):
    """24 clients at once, each doing one thing from a fixed seed: a stream
    read to [DONE], a stream closed after 0-3 events, a non-streamed request
    answered, or one closed after a short random delay. The finished ones are
    whole; afterwards nothing runs, waits or holds a KV block, and the server
    serves on (the ASan build runs this: hangups racing final events)."""
    rnd = random.Random(7)
    plan = [(rnd.choice(["stream", "stream_hangup", "plain", "plain_hangup"]), rnd.randrange(4), rnd.random() * 0.3,
             rnd.choice([1, 2])) for _ in range(24)]
    results = [None] * len(plan)

    def work(i):
        kind, k, delay, n = plan[i]
        body = {"prompt": f"Item {i}:", "max_tokens": 4, "ignore_eos": True, "n": n, "temperature": 0.5, "seed": i}
        if kind.startswith("stream"):
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        s = open_stream(srv.port, "/v1/completions", body)
        try:
            if kind == "stream_hangup":
                if k:
                    read_events(s, k)
                results[i] = "hung up"
                return
            if kind == "plain_hangup":
                time.sleep(delay)
                results[i] = "hung up"
                return
            buf = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
                if kind == "stream" and buf.endswith(b"\r\n0\r\n\r\n"):   # the last chunk
                    break
                if kind == "plain" and response_complete(buf):
                    break
            results[i] = buf
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(plan))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (kind, k, delay, n), res in zip(plan, results):
        if kind == "plain":
            head, _, body = res.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), res[:300]
            r = json.loads(body)
            assert len(r["choices"]) == n and r["usage"]["completion_tokens"] == 4 * n
        elif kind == "stream":
            assert res.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in res, res[-300:]
            assert res.count(b'"finish_reason":"length"') == n
            assert b'"usage":{"prompt_tokens"' in res
        else:
            assert res == "hung up"
    m = srv.wait_idle(timeout=60)
    assert m["vllmc_kv_blocks_used"] == 0 and m["vllmc_num_requests_running"] == 0
    assert m["vllmc_num_requests_waiting"] == 0
    assert_valid_after(srv)
    print("mixed:", collections.Counter(p[0] for p in plan))


# ---- the CLI's answers and load -----------------------------------------------------------------

CLI_PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.", "Name three colors.",
               "How many legs does a spider have?"]


@pytest.mark.heavy
def test_greedy_matches_cli(srv):
    c = client(srv)
    cli = run_cli("--max", 24, "--temperature", 0, "--verbose", "--ctx", CTX, prompts=CLI_PROMPTS)
    cli_raw = run_cli("--max", 24, "--temperature", 0, "--verbose", "--raw", "--ctx", CTX, prompts=CLI_PROMPTS)
    for i, p in enumerate(CLI_PROMPTS):
        r = c.chat.completions.create(model=model_of(srv), messages=user(p), max_tokens=24, temperature=0)
        assert r.choices[0].message.content == cli.results[i]["text"], p
        assert r.usage.prompt_tokens == cli.results[i]["prompt_tokens"]
        assert r.usage.completion_tokens == cli.results[i]["completion_tokens"]
        r = c.completions.create(model=model_of(srv), prompt=p, max_tokens=24, temperature=0)
        assert r.choices[0].text == cli_raw.results[i]["text"], p
        assert r.usage.prompt_tokens == cli_raw.results[i]["prompt_tokens"]


@pytest.mark.heavy
def test_load_64_concurrent_streams(srv):
    n_clients, per_client, max_tokens = 64, 3, 8

    model = model_of(srv)

    async def one_client(ac, i):
        usages = []
        for k in range(per_client):
            if (i + k) % 2:
                stream = await ac.chat.completions.create(
                    model=model, messages=user(f"Client {i} request {k}: say something."), max_tokens=max_tokens,
                    temperature=0.8, seed=i * 100 + k, stream=True, stream_options={"include_usage": True})
            else:
                stream = await ac.completions.create(
                    model=model, prompt=f"Client {i}, request {k}:", max_tokens=max_tokens,
                    temperature=0.8, seed=i * 100 + k, stream=True, stream_options={"include_usage": True})
            finish, usage = None, None
            async for ch in stream:
                if ch.choices and ch.choices[0].finish_reason:
                    finish = ch.choices[0].finish_reason
                if ch.usage:
                    usage = ch.usage
            assert finish in ("stop", "length"), (i, k, finish)
            assert usage is not None and 1 <= usage.completion_tokens <= max_tokens
            assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
            usages.append(usage)
        return usages

    async def main():
        ac = openai.AsyncOpenAI(base_url=srv.base_url + "/v1", api_key="none", max_retries=0, timeout=600)
        try:
            return await asyncio.gather(*(one_client(ac, i) for i in range(n_clients)))
        finally:
            await ac.close()

    before = srv.metrics()
    t0 = time.monotonic()
    results = asyncio.run(main())
    dt = time.monotonic() - t0
    usages = [u for r in results for u in r]
    assert len(usages) == n_clients * per_client
    gen = sum(u.completion_tokens for u in usages)
    prompt = sum(u.prompt_tokens for u in usages)
    print(f"load: {len(usages)} streamed requests from {n_clients} concurrent clients in {dt:.2f} s: "
          f"{gen / dt:.1f} generated tokens/s, {(gen + prompt) / dt:.1f} total tokens/s, "
          f"{len(usages) / dt:.2f} requests/s")
    m = srv.wait_idle()
    assert m["vllmc_kv_blocks_used"] == 0
    assert m["vllmc_num_requests_running"] == 0 and m["vllmc_num_requests_waiting"] == 0
    assert m["vllmc_request_success_total"] - before["vllmc_request_success_total"] == len(usages)
    assert m["vllmc_generation_tokens_total"] - before["vllmc_generation_tokens_total"] == gen
    assert m["vllmc_request_aborted_total"] == before["vllmc_request_aborted_total"]


# ---- shutdown ------------------------------------------------------------------------------------


def test_sigint_with_streams_in_flight(tight):
    """SIGINT while a stream runs: the server cancels it, exits 0, and (under
    ASan) reports nothing. Runs last: it stops `tight`."""
    s = open_stream(tight.port, "/v1/completions", {"prompt": "Once", "max_tokens": 400, "ignore_eos": True,
                                                    "stream": True}, {"Authorization": f"Bearer {KEY}"})
    try:
        read_events(s, 2)
        err = tight.stop()
    finally:
        s.close()
    assert "shutting down" in err


PRECISE_REF = os.path.join(ROOT, "tests", "fixtures", "transformers", "smollm2-q4_1-france.json")


def first_token_logprobs(*args):
    """The 20 most likely first tokens of the France prompt, {text: logprob},
    and the prompt's token count, from a server started with args."""
    s = Server("--ctx", 512, "--kvmem", 32, *args)
    try:
        ref = json.load(open(PRECISE_REF, encoding="utf-8"))
        r = client(s).chat.completions.create(model=model_of(s), max_tokens=1, temperature=0, logprobs=True,
                                              top_logprobs=20,
                                              messages=[{"role": "user", "content": ref["prompt"]}])
        top = r.choices[0].logprobs.content[0].top_logprobs
        return {t.token: t.logprob for t in top}, r.usage.prompt_tokens
    finally:
        s.stop()


def test_precise_logprobs():
    """--precise (value + residual pairs in every matmul) with an f32 KV cache
    gives the real model's first-token log-probabilities of Hugging Face
    transformers in float32 on the same GGUF (dequantized by gguf-py;
    scripts/make_precise_fixture.py) within 2e-3 nats for each of the 20 most
    likely tokens (measured: ~4e-4). --act8 (llama.cpp's 8-bit rounding) is
    far outside that bound, so the bound tells the numerics apart."""
    ref = json.load(open(PRECISE_REF, encoding="utf-8"))
    want = {t["text"]: t["logprob"] for t in ref["top"]}
    got, n_prompt = first_token_logprobs("--precise", "--dtype", "f32")
    assert n_prompt == len(ref["prompt_ids"])
    common = [t for t in got if t in want]
    assert len(common) >= 15, (got, want)        # the same candidates
    worst = max(abs(got[t] - want[t]) for t in common)
    print(f"--precise vs transformers float32: worst |d logprob| {worst:.2e} over {len(common)} tokens")
    assert worst <= 2e-3
    assert max(got, key=got.get) == max(want, key=want.get) == "The"
    got8, _ = first_token_logprobs("--act8", "--dtype", "f32")
    worst8 = max(abs(got8[t] - want[t]) for t in got8 if t in want)
    assert worst8 > 2e-2, worst8
