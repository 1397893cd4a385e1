"""Interactive mode (--i) driven through a pseudo-terminal: two turns with
streamed answers and a shared context, Ctrl-C during an answer (stops the
answer, not the program), /stats, /reset, and a clean exit on EOF."""
import re

import pexpect

from vllmc_cli import BIN, MODEL, THREADS

LEFT_RE = r"\[(\d+) tokens left in the context\]"
STATS_RE = r"stats: (.*?)\r?\n"


def stats(child):
    child.sendline("/stats")
    child.expect(STATS_RE)
    return {k: float(v) if "." in v else int(v)
            for k, v in (kv.split("=") for kv in child.match.group(1).split())}


def test_chat_through_pty():
    # --precise: the France answer is "Paris" only at precise numerics (test_cli.py)
    child = pexpect.spawn(BIN, ["--w", MODEL, "--i", "--precise", "--max", "300", "--kvmem", "64", "--threads", THREADS],
                          encoding="utf-8", timeout=300, dimensions=(50, 200))
    try:
        child.expect("vllmc chat with")
        child.expect("> ")

        # turn 1
        child.sendline("What is the capital of France?")
        child.expect(LEFT_RE)
        assert "Paris" in child.before
        left1 = int(child.match.group(1))
        child.expect("> ")

        # turn 2: the context holds turn 1, whose tokens come from the prefix cache
        child.sendline("Tell me one more fact about that city.")
        child.expect(LEFT_RE)
        answer2 = child.before
        left2 = int(child.match.group(1))
        assert len(answer2.split()) > 3
        assert left2 < left1
        child.expect("> ")
        before = stats(child)
        assert before["requests"] == 2
        assert before["cached_tokens"] >= 32   # turn 1's full blocks were reused
        child.expect("> ")

        # a long answer: streamed text arrives, then Ctrl-C stops it
        child.sendline("Write a very long story about a dragon and a knight.")
        child.expect("knight\\.\r\n")
        child.expect(r"[A-Za-z]{3,}")           # the answer is streaming
        child.sendintr()
        child.expect(r"\[stopped\]")
        child.expect(LEFT_RE)
        child.expect("> ")
        assert child.isalive()                  # Ctrl-C stopped the answer, not the program
        after = stats(child)
        assert after["requests"] == 3
        assert after["generated_tokens"] - before["generated_tokens"] < 300   # cut short
        child.expect("> ")

        # /reset: a fresh conversation has more room than the three-turn one
        child.sendline("/reset")
        child.expect(r"\[conversation reset\]")
        child.expect("> ")
        child.sendline("What is the capital of France?")
        child.expect(LEFT_RE)
        assert "Paris" in child.before
        assert int(child.match.group(1)) == left1   # same prompt as turn 1, same answer
        child.expect("> ")

        child.sendeof()
        child.expect(pexpect.EOF)
        child.wait()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
