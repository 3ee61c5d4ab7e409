"""`faceanon bench` on the shipped samples prints each figure beside its baseline."""

from __future__ import annotations

import re

import pytest

from stream.cli import main


@pytest.mark.slow
def test_bench_reports_stages_and_ratios(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench", "--device", "cpu"])
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert re.search(r"image group\.png, 4 faces", out)
    for stage in ("detect", "landmarks", "swap", "blend", "obscure"):
        assert re.search(rf"^\s+{stage}\s", out, re.MULTILINE), stage
    assert re.search(r"swap / blur: \d+\.\d\d×", out)
    assert re.search(r"faceanon [\d.]+ fps, plain decode\+encode [\d.]+ fps", out)
    assert re.search(r"faceanon / ceiling: \d\.\d\d", out)


def test_bench_without_samples_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench", "--samples", str(tmp_path)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("faceanon: error:") and "group.png" in err
