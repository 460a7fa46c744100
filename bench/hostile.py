"""Parse the hostile-file corpus (tests/reliability/hostile.py: 1,000+ truncated,
bit-flipped and hand-crafted ONNX/TFLite files) in a child process under an
address-space cap, and print outcomes, worst parse time and peak memory per category.

    .venv/bin/python -m bench.hostile
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

MAX_SECONDS = 3.0
ADDRESS_SPACE = 4 * 1024**3


def category(name: str) -> str:
    for key in ("-trunc-", "-flip-", "-garbage-"):
        if key in name:
            return name.split(key)[0] + key.strip("-")
    return "crafted"


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from tests.reliability.hostile import build_corpus
    from tests.service import model_files

    corpus = build_corpus(model_files.onnx_bytes(), model_files.tflite_bytes(), seed=1234)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "files", Path(tmp) / "out.jsonl"
        src.mkdir()
        for i, (name, data) in enumerate(corpus):
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            ext = ".tflite" if name.startswith("tflite") else ".onnx"
            (src / f"{i:05d}__{safe}{ext}").write_bytes(data)
        subprocess.run([sys.executable, "-m", "tests.reliability.parse_corpus", str(src), str(out),
                        str(MAX_SECONDS), str(ADDRESS_SPACE)], cwd=root, check=True, timeout=1800)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[category(r["file"].split("__", 1)[1])].append(r)
    print(f"{len(rows)} files, parse limit {MAX_SECONDS} s, address space {ADDRESS_SPACE / 1024**3:.0f} GiB")
    print(f"{'category':<18}{'files':>7}{'refused':>9}{'parsed':>8}{'crashed':>9}{'max s':>8}")
    for cat, rs in sorted(groups.items()):
        refused = sum(r["result"] == "irerror" for r in rs)
        parsed = sum(r["result"] == "graph" for r in rs)
        crashed = sum(r["result"] == "crash" for r in rs)
        print(f"{cat:<18}{len(rs):>7}{refused:>9}{parsed:>8}{crashed:>9}{max(r['seconds'] for r in rs):>8.3f}")
    codes: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["result"] == "irerror":
            codes[r["code"]] += 1
    print("refusal codes:", ", ".join(f"{k}={v}" for k, v in sorted(codes.items())))
    print(f"peak RSS of the parsing process over the whole corpus: {max(r['maxrss_mb'] for r in rows):.0f} MB")
    return 1 if any(r["result"] == "crash" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
