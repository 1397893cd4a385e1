"""Helpers for the server end-to-end tests: start `$VLLMC_BIN --server` on a
free port, wait for /health, talk raw HTTP, read /metrics, and stop it with
SIGINT checking that it exits 0 with no sanitizer report on stderr.

VLLMC_BIN names the binary (the ASan build works too), VLLMC_MODEL the model
(default: the SmolLM2 GGUF fetched by scripts/fetch-model.sh)."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from vllmc_cli import BIN, MODEL, THREADS

SERVING_RE = re.compile(r"serving .* on http://(\S+):(\d+) ")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "AddressSanitizer:", "UndefinedBehaviorSanitizer")


class Server:
    """One `vllmc --server` process. stderr goes to a file (a pipe nobody
    drains would fill up with the access log and block the server)."""

    def __init__(self, *args, start_timeout=120):
        self.args = [str(a) for a in args]
        self.cmd = [BIN, "--w", MODEL, "--server", "--host", "127.0.0.1", "--port", "0"] + self.args
        if "--threads" not in self.args:
            self.cmd += ["--threads", THREADS]
        self.err_file = tempfile.NamedTemporaryFile(prefix="vllmc-server-", suffix=".stderr", delete=False)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err_file)
        self.host, self.port = "127.0.0.1", None
        self.stopped_stderr = None
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.cmd} exited {self.proc.returncode} while starting:\n{self.stderr()}")
            m = SERVING_RE.search(self.stderr())
            if m:
                self.port = int(m.group(2))
                break
            time.sleep(0.05)
        if self.port is None:
            self.kill()
            raise AssertionError(f"{self.cmd} did not start in {start_timeout} s:\n{self.stderr()}")
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"/health never answered 200:\n{self.stderr()}")

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def stderr(self):
        with open(self.err_file.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def request(self, method, path, body=None, headers=None, timeout=300):
        """One request on a fresh connection: (status, headers dict, body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def post_json(self, path, body, headers=None):
        st, _, data = self.request("POST", path, body, headers)
        return st, json.loads(data) if data else None

    def metrics(self):
        """/metrics as {name (with labels): float}."""
        st, _, data = self.request("GET", "/metrics")
        assert st == 200
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_idle(self, timeout=60):
        """Waits until no sequence runs or waits and every KV block is free;
        returns the last metrics (the caller asserts on them)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            idle = (m["vllmc_kv_blocks_used"] == 0 and m["vllmc_num_requests_running"] == 0
                    and m["vllmc_num_requests_waiting"] == 0)
            if idle or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def stop(self, timeout=120):
        """SIGINT; asserts exit code 0 and a clean stderr. Returns stderr."""
        if self.stopped_stderr is not None:
            return self.stopped_stderr
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"the server did not stop within {timeout} s of SIGINT:\n{self.stderr()[-4000:]}")
        err = self.stderr()
        self.stopped_stderr = err
        os.unlink(self.err_file.name)
        assert self.proc.returncode == 0, f"server exited {self.proc.returncode}:\n{err[-6000:]}"
        for marker in SANITIZER_MARKERS:
            assert marker not in err, f"sanitizer report ({marker}) in the server's stderr:\n{err[-8000:]}"
        return err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def raw_exchange(port, data, read_timeout=30, shutdown_write=False, chunks=None, chunk_delay=0.0):
    """Sends bytes on a fresh socket (optionally in chunks with a delay
    between them), optionally half-closes, and reads until the server closes
    or read_timeout passes. Returns (status or None, raw response bytes,
    closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        try:
            if chunks:
                for i, c in enumerate(chunks):
                    if i:
                        time.sleep(chunk_delay)
                    s.sendall(c)
            else:
                s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server answered and closed while we still sent
        buf = b""
        closed = False
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not b:
                closed = True
                break
            buf += b
            if response_complete(buf):
                break
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
        return (int(m.group(1)) if m else None), buf, closed
    finally:
        s.close()


def response_complete(buf):
    """A whole response with Content-Length has arrived."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return bool(m) and len(body) >= int(m.group(1))


def http_request_bytes(method, path, body=b"", headers=None, content_length=None):
    """An HTTP/1.1 request as bytes; content_length may lie about the body."""
    h = {"Host": "127.0.0.1", "Content-Type": "application/json", "Connection": "close"}
    h.update(headers or {})
    if method == "POST" or body:
        h["Content-Length"] = str(len(body) if content_length is None else content_length)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return head.encode("latin-1") + body


def sse_events(raw):
    """Splits a text/event-stream body into its events' data strings,
    checking the framing: every event is exactly one 'data: ' line followed
    by a blank line."""
    assert raw.endswith(b"\n\n"), raw[-200:]
    events = raw[:-2].split(b"\n\n")
    out = []
    for ev in events:
        assert ev.startswith(b"data: "), ev[:200]
        assert b"\n" not in ev, ev[:200]
        out.append(ev[len(b"data: "):].decode("utf-8"))
    return out
