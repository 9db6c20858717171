"""Progress on the long loops (issue 19 item 2): a bar on a terminal (a real pseudo-terminal here), nothing when
stdout is a pipe, so CI logs stay short. Tuning trials and generated texts use ``pipeline.progress``; the crawl
has its own page bar (a real crawl of a local site)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.conftest import REPO
from tests.site_server import Route, Site, serve

TRIALS = """
from pipeline.progress import progress
bar = progress(3, "tune lstm", "trial")
for best in (0.41, 0.52, 0.55):
    bar.update()
    bar.set_postfix_str(f"best {best:.4f}")
bar.close()
"""


def run(args: list[str], tty: bool, timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` with stdout on a pseudo-terminal (``tty``) or a pipe; its exit code and stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if not tty:
        proc = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout)
        return proc.returncode, proc.stdout.decode()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(args, env=env, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")


def test_trial_bar_shows_n_of_n_and_the_best_value_on_a_terminal_only():
    code, out = run([sys.executable, "-c", TRIALS], tty=True)
    assert code == 0 and "tune lstm" in out and "3/3" in out and "best 0.5500" in out
    code, out = run([sys.executable, "-c", TRIALS], tty=False)
    assert code == 0 and out == ""


def test_crawl_shows_pages_and_rate_on_a_terminal_only(tmp_path):
    links = "".join(f'<a href="/p{i}.html">p{i}</a> ' for i in range(6))
    routes = {"/index.html": Route(f"<html><body>{links}</body></html>".encode())}
    routes.update({f"/p{i}.html": Route(b"<html><body><p>page</p></body></html>") for i in range(6)})
    with serve(Site(routes)) as site:
        for tty in (True, False):
            state = tmp_path / f"state-{tty}"
            cfg = {"start_urls": [site.base_url + "/index.html"], "state_dir": str(state), "retries": 0}
            path = tmp_path / f"crawl-{tty}.json"
            path.write_text(json.dumps({**cfg, "timeout_s": 5, "extraction": {"documents": "all"}}), encoding="utf-8")
            code, out = run([sys.executable, "-m", "scraping.crawl", str(path), str(tmp_path / "docs.jsonl")], tty)
            assert code == 0, out
            if tty:
                counts = [int(n) for n in re.findall(r"crawl: (\d+)page", out)]
                assert counts and counts[-1] >= 7 and "page/s" in out, out  # index + 6 pages (+ robots.txt)
            else:
                assert out == "", out
    assert Path(tmp_path / "docs.jsonl").is_file()
