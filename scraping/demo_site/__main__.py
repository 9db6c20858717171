"""Build the demo site and serve it for a person to browse: ``python -m scraping.demo_site [PORT]``."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from scraping.demo_site.build import build_site
from scraping.demo_site.server import serve

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    with tempfile.TemporaryDirectory() as tmp:
        counts = build_site(Path(tmp))
        with serve(Path(tmp), port=port) as url:
            print(f"demo site ({counts['reviews']} reviews) at {url}/ — Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
