"""The FAQ regenerated from a small store: every number it cites is read back from its
source (the store, a claim's result.json, an application's JSON) and must match; an empty
store is one line that names the commands that fill it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threefigures.cli import main

pytestmark = pytest.mark.slow


def _json_path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _read_source(source: str, store: Path) -> Any:
    """The value a citation's source holds, read independently of the FAQ code."""
    from threefigures.runs.store import Store

    if source.startswith("store:"):
        run_id, _, what = source[len("store:") :].partition("/")
        if what == "test_accuracy":
            return Store(store).get(run_id).test_accuracy
        kind, index, key = what.split(".")
        assert kind == "metrics"
        return Store(store).metrics(run_id)[int(index)][key]
    file, _, dotted = source.partition("#")
    data = json.loads(Path(file).read_text())
    if dotted.startswith("verdict (supports+contradicts+unclear)"):
        v = data["verdict"]
        return v["supports"] + v["contradicts"] + v["unclear"]
    power = dotted.endswith(" (10^x)")
    value = _json_path(data, dotted.removesuffix(" (10^x)"))
    return 10**value if power else value


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faq")
    store = root / "runs" / "threefigures.db"
    base = ["--store", str(store)]
    demo = ["train", "--data", "digits", "--epochs", "2", "--quiet"]
    assert main([*base, *demo]) == 0
    for claim in ("activations", "dropout"):
        assert main([*base, "experiment", claim, "--quick", "--out", str(root / "claims")]) == 0
    from threefigures.applications.medical import run_medical
    from threefigures.runs.store import Store

    run_medical(root / "applications" / "medical", Store(store), quick=True, log=lambda _m: None)
    return {"root": root, "store": store}


def test_every_cited_number_matches_its_source(filled: dict[str, Path]) -> None:
    root, store = filled["root"], filled["store"]
    out = root / "faq.md"
    args = ["--store", str(store), "faq", "--out", str(out), "--claims", str(root / "claims")]
    assert main([*args, "--applications", str(root / "applications")]) == 0
    page = out.read_text()
    payload = json.loads(out.with_suffix(".json").read_text())
    answers = payload["answers"]
    assert len(answers) == 10
    assert answers[0]["question"] == "What is deep learning?"
    assert answers[-1]["question"] == "What is the impact of deep learning on various industries?"
    cited = [c for a in answers for c in a["citations"]]
    assert len(cited) >= 12
    for answer in answers:
        for c in answer["citations"]:
            assert c["quoted"] in answer["text"], c
            source_value = _read_source(c["source"], store)
            if isinstance(c["value"], str):
                assert source_value == c["value"]
            else:
                assert source_value == pytest.approx(c["value"], rel=1e-9), c
        assert answer["text"] in page
    # evidence that was not produced says which command fills it
    missing = {m for a in answers for m in a["missing"]}
    assert "threefigures experiment transfer" in missing
    assert any("small-data" in m for m in missing)
    by_question = {a["question"]: a for a in answers}
    activations = by_question["What are activation functions, and why do they matter?"]
    assert any("comparisons" in c["source"] for c in activations["citations"])
    impact = by_question["What is the impact of deep learning on various industries?"]
    assert any("medical.json#network.sensitivity" in c["source"] for c in impact["citations"])


def test_an_empty_store_names_the_commands(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "--store",
            str(tmp_path / "empty.db"),
            "faq",
            "--out",
            str(tmp_path / "faq.md"),
            "--claims",
            str(tmp_path / "none"),
            "--applications",
            str(tmp_path / "none"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("error: the FAQ cites") and len(err.splitlines()) == 1
    assert "threefigures demo" in err and "experiment all" in err and "applications" in err
    assert not (tmp_path / "faq.md").exists()
