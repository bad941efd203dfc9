"""What replying in the sender's language costs: memory and time of the language detector and
of Babel's calendar data, measured in fresh interpreters (so nothing else is loaded), on the
corpus of real messages in tests/support/corpus/languages.

    python benchmarks/bench_languages.py             # the five shipped languages
    python benchmarks/bench_languages.py en de       # another set of reply languages

Prints one line per figure; exits 0 once it has measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
from pathlib import Path

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0

languages = sys.argv[1].split(",")
import ooo.daemon  # what the daemon has loaded before its first message
from ooo.app import engine_settings
from ooo.core.language import choose_language
from ooo.core.parse import parse
from ooo.templating import Renderer
from datetime import datetime, UTC
out = {"base_mb": rss()}
from ooo.detector import make_detector
detect = make_detector(languages)
out["detector_built_mb"] = rss() - out["base_mb"]
messages = []
for path in sorted(Path(sys.argv[2]).glob("*.eml")):
    head, _, body = path.read_bytes().replace(b"\n", b"\r\n").partition(b"\r\n\r\n")
    messages.append(parse(path.name, head + b"\r\n\r\n", body))
t = time.perf_counter()
choose_language(messages[0], "x@example.org", languages, detect=detect)
out["first_choice_ms"] = (time.perf_counter() - t) * 1000
out["detector_loaded_mb"] = rss() - out["base_mb"]
rounds = 20
t = time.perf_counter()
for _ in range(rounds):
    for msg in messages:
        choose_language(msg, msg.sender or "", languages, detect=detect)
out["choice_ms"] = (time.perf_counter() - t) * 1000 / (rounds * len(messages))
before = rss()
renderer = Renderer()
for code in languages:
    renderer.day(datetime.now(UTC), code)
    renderer.language_name(code)
out["babel_mb"] = rss() - before
out["total_mb"] = rss()
print(json.dumps(out))
"""


def main() -> int:
    languages = sys.argv[1:] or ["en", "de", "fr", "es", "nl"]
    corpus = ROOT / "tests" / "support" / "corpus" / "languages"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(languages), str(corpus)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    got = json.loads(done.stdout)
    print(f"reply languages: {', '.join(languages)}")
    print(f"interpreter with ooo.daemon imported:       {got['base_mb']:.1f} MB")
    print(f"detector built (nothing loaded yet):       +{got['detector_built_mb']:.1f} MB")
    print(f"detector after the first message:          +{got['detector_loaded_mb']:.1f} MB")
    print(f"first choice (loads the language models):   {got['first_choice_ms']:.0f} ms")
    print(f"each choice after that (corpus average):    {got['choice_ms']:.2f} ms")
    print(f"Babel's data for those languages:          +{got['babel_mb']:.1f} MB")
    print(f"total:                                      {got['total_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
