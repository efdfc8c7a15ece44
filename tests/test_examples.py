"""The examples a PyTorch user would write run, and say what their docstrings promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pytorch_style_example_trains_and_resumes_bit_identically(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "pytorch_style.py")], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "the same losses as without the break: True" in out
    first, last = map(float, re.search(r"loss ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first / 10
    accuracy = int(re.search(r"test accuracy (\d+)%", out).group(1))
    assert accuracy >= 80
