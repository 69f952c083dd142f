"""``threefigures faq``: the article's ten questions, answered from this project's own evidence.

Every number an answer cites is read at generation time from where it was measured — a
stored run (the SQLite store), a claim's ``result.json`` (``experiment … --out DIR``) or an
application's JSON (``applications --out DIR``) — never typed by hand. Each citation keeps
its value and its source, written beside the page in ``faq.json`` so a test (or a reader)
can check every number against its source. An answer whose evidence is missing says which
command would produce it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threefigures.errors import ConfigError
from threefigures.runs.checkpoint import atomic_write_text
from threefigures.runs.store import RunRecord, Store


@dataclass
class Citation:
    """One number (or verdict) an answer quotes: the text as quoted, the value read, and
    where it was read (a file and a JSON path, or ``store:RUN/field``)."""

    quoted: str
    value: float | str
    source: str


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # commands that would fill the gaps


@dataclass
class Evidence:
    """Where the FAQ reads from."""

    store: Store
    claims: Path
    applications: Path

    def claim(self, name: str) -> tuple[dict[str, Any], Path] | None:
        path = self.claims / name / "result.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return (data, path) if isinstance(data, dict) and "verdict" in data else None

    def application(self, name: str, file: str) -> tuple[dict[str, Any], Path] | None:
        path = self.applications / name / file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return (data, path) if isinstance(data, dict) else None

    def run(self, data: str, model: str, layers: list[int] | None = None) -> RunRecord | None:
        """The newest finished run of ``model`` on ``data`` trained by ``train`` or ``demo``
        (not an experiment's), with hidden ``layers`` if given."""
        for record in self.store.list_runs():
            if (
                record.status == "finished"
                and record.data_name == data
                and record.model_name == model
                and record.test_accuracy is not None
                and "experiment" not in record.info
                and (layers is None or record.config.get("model", {}).get("layers") == layers)
            ):
                return record
        return None


#: How a comparison's outcome reads in an answer.
OUTCOMES = {
    "supports": "supports it",
    "contradicts": "contradicts it",
    "unclear": "within the noise",
}


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


class _Writer:
    """Builds one answer: quote() formats a value, records its citation, returns the text."""

    def __init__(self, question: str) -> None:
        self.answer = Answer(question, "")

    def quote(self, value: float | str, source: str, fmt: Callable[[Any], str] = pct) -> str:
        quoted = fmt(value) if not isinstance(value, str) else value
        self.answer.citations.append(Citation(quoted, value, source))
        return quoted

    def missing(self, command: str) -> str:
        self.answer.missing.append(command)
        return f"(not measured yet: run `{command}`)"


def _comparison(result: dict[str, Any], contains: str) -> tuple[int, dict[str, Any]] | None:
    for i, c in enumerate(result.get("comparisons", [])):
        if contains in c.get("label", ""):
            return i, c
    return None


def _verdict(w: _Writer, ev: Evidence, name: str) -> str | None:
    found = ev.claim(name)
    if found is None:
        return None
    result, path = found
    return w.quote(result["verdict"]["label"], f"{path}#verdict.label")


def _q1(ev: Evidence) -> Answer:
    w = _Writer("What is deep learning?")
    run = ev.run("digits", "mlp", [256])
    if run is None:
        w.answer.text = (
            "Learning a function from examples with a network of layers, each turning its "
            "input into a slightly more useful representation. " + w.missing("threefigures demo")
        )
        return w.answer
    acc = w.quote(run.test_accuracy or 0.0, f"store:{run.id}/test_accuracy")
    w.answer.text = (
        "Learning a function from examples with a network of layers, each turning its input "
        "into a slightly more useful representation; the weights are not written by anyone but "
        f"found by gradient descent. Here, the article's 784 → 256 → 10 network (run {run.id}) "
        f"learned to read handwritten digits it had never seen with {acc} accuracy."
    )
    return w.answer


def _q2(ev: Evidence) -> Answer:
    w = _Writer("How is deep learning different from machine learning?")
    verdict = _verdict(w, ev, "small-data")
    if verdict is None:
        w.answer.text = (
            "Deep learning is the part of machine learning that learns its own features, layer "
            "by layer, where classical methods start from features a person chose. "
            + w.missing("threefigures experiment small-data")
        )
        return w.answer
    result, path = ev.claim("small-data")  # type: ignore[misc]
    parts = []
    for i, c in enumerate(result["comparisons"][:2]):
        parts.append(
            f"{c['label']}: {w.quote(c['mean_a'], f'{path}#comparisons.{i}.mean_a')} vs "
            f"{w.quote(c['mean_b'], f'{path}#comparisons.{i}.mean_b')}"
        )
    w.answer.text = (
        "Deep learning is the part of machine learning that learns its own features, layer by "
        "layer, where classical methods (an SVM, a forest) start from features a person chose. "
        f"Against those on few labelled digits the claim that the classics win came out "
        f"**{verdict}** here ({'; '.join(parts)})."
    )
    return w.answer


def _q3(ev: Evidence) -> Answer:
    w = _Writer("How does a neural network learn?")
    run = ev.run("digits", "mlp", [256])
    metrics = ev.store.metrics(run.id) if run is not None else []
    if run is None or not metrics:
        w.answer.text = (
            "By gradient descent: the loss on a batch is differentiated with respect to every "
            "weight (backpropagation) and each weight moves a little against its gradient. "
            + w.missing("threefigures demo")
        )
        return w.answer
    first = w.quote(metrics[0]["train_loss"], f"store:{run.id}/metrics.0.train_loss", _loss)
    last = metrics[-1]
    final = w.quote(
        last["train_loss"], f"store:{run.id}/metrics.{len(metrics) - 1}.train_loss", _loss
    )
    w.answer.text = (
        "By gradient descent: the loss on a batch of examples is differentiated with respect "
        "to every weight (backpropagation) and each weight moves a little against its "
        f"gradient. In run {run.id} the training loss fell from {first} in the first epoch to "
        f"{final} in epoch {last['epoch']} — Figure 2 of its report draws every batch."
    )
    return w.answer


def _loss(value: float) -> str:
    return f"{value:.3f}"


def _q4(ev: Evidence) -> Answer:
    w = _Writer("What are activation functions, and why do they matter?")
    found = ev.claim("activations")
    if found is None:
        w.answer.text = (
            "The non-linearity after each layer; without it a stack of layers is one linear "
            "map. " + w.missing("threefigures experiment activations")
        )
        return w.answer
    result, path = found
    verdict = w.quote(result["verdict"]["label"], f"{path}#verdict.label")
    text = (
        "The non-linearity after each layer; without one a stack of layers collapses into a "
        f"single linear map. Which one matters: the vanishing-gradient claim came out **{verdict}**"
    )
    grad = _comparison(result, "gradient norm")
    if grad is not None:
        i, c = grad
        ratio = w.quote(10 ** c["mean_b"], f"{path}#comparisons.{i}.mean_b (10^x)", _sci)
        relu = w.quote(10 ** c["mean_a"], f"{path}#comparisons.{i}.mean_a (10^x)", _sci)
        text += (
            f": in a 6-layer MLP at initialisation, sigmoid's first layer received {ratio} of "
            f"the output layer's gradient, ReLU's {relu}"
        )
    acc = _comparison(result, "relu vs sigmoid: test accuracy")
    if acc is not None:
        i, c = acc
        relu_acc = w.quote(c["mean_a"], f"{path}#comparisons.{i}.mean_a")
        sigmoid_acc = w.quote(c["mean_b"], f"{path}#comparisons.{i}.mean_b")
        text += f"; after training, ReLU reached {relu_acc} and sigmoid {sigmoid_acc}"
    w.answer.text = text + "."
    return w.answer


def _sci(value: float) -> str:
    return f"{value:.1e}"


def _q5(ev: Evidence) -> Answer:
    w = _Writer("What is overfitting, and how does dropout help?")
    verdict = _verdict(w, ev, "dropout")
    if verdict is None:
        w.answer.text = (
            "Overfitting is learning the training examples rather than the task; dropout "
            "switches off random units while training so no unit can rely on another. "
            + w.missing("threefigures experiment dropout")
        )
        return w.answer
    result, path = ev.claim("dropout")  # type: ignore[misc]
    v = result["verdict"]
    supports = w.quote(v["supports"], f"{path}#verdict.supports", _int)
    total = v["supports"] + v["contradicts"] + v["unclear"]
    total_q = w.quote(total, f"{path}#verdict (supports+contradicts+unclear)", _int)
    w.answer.text = (
        "Overfitting is learning the training examples rather than the task: the training "
        "loss keeps falling while the held-out loss turns up. Dropout switches off random "
        "units while training so no unit can rely on another. Tested here on small training "
        f"sets, the claim came out **{verdict}**: {supports} of {total_q} comparisons "
        "supported it, the rest were within the noise between seeds."
    )
    return w.answer


def _int(value: float) -> str:
    return str(int(value))


def _q6(ev: Evidence) -> Answer:
    w = _Writer("What is transfer learning?")
    verdict = _verdict(w, ev, "transfer")
    if verdict is None:
        w.answer.text = (
            "Starting from a network trained on a large task and fine-tuning it on a small one. "
            + w.missing("threefigures experiment transfer")
        )
        return w.answer
    result, path = ev.claim("transfer")  # type: ignore[misc]
    text = (
        "Starting from a network already trained on a large task and fine-tuning it (or only "
        f"a new head) on a small one. Tested here, the claim came out **{verdict}**"
    )
    parts = []
    tuned = [(i, c) for i, c in enumerate(result["comparisons"]) if "fine-tuned" in c["label"]]
    for i, c in tuned[:1] + tuned[-1:] if len(tuned) > 1 else tuned:
        parts.append(
            f"{c['label']}: {w.quote(c['mean_a'], f'{path}#comparisons.{i}.mean_a')} vs "
            f"{w.quote(c['mean_b'], f'{path}#comparisons.{i}.mean_b')} "
            f"({OUTCOMES.get(c['outcome'], c['outcome'])})"
        )
    w.answer.text = text + (f" ({'; '.join(parts)})." if parts else ".")
    return w.answer


def _q7(ev: Evidence) -> Answer:
    w = _Writer("What are the advantages of deep learning?")
    found = ev.claim("small-data")
    run = ev.run("fashion-mnist", "cnn") or ev.run("digits", "cnn")
    parts = []
    if found is not None:
        result, path = found
        cnn = _comparison(result, "CNN")
        if cnn is not None:
            i, c = cnn
            left, _, right = c["label"].partition(" vs ")
            ours, theirs = ("a", "b") if "CNN" in left else ("b", "a")
            other = (right if ours == "a" else left).split(" at ")[0]
            parts.append(
                f"on the same few labelled digits a CNN scored "
                f"{w.quote(c[f'mean_{ours}'], f'{path}#comparisons.{i}.mean_{ours}')} against "
                f"{w.quote(c[f'mean_{theirs}'], f'{path}#comparisons.{i}.mean_{theirs}')} for "
                f"an {other} ({c['label']})"
            )
    if run is not None:
        parts.append(
            f"a CNN trained here on {run.data_name} reached "
            f"{w.quote(run.test_accuracy or 0.0, f'store:{run.id}/test_accuracy')} (run {run.id})"
        )
    evidence = "; ".join(parts) if parts else w.missing("threefigures experiment small-data")
    w.answer.text = (
        "It learns features from raw inputs (pixels, tokens) instead of needing them designed, "
        f"and the same recipe works across images, text and control. Here: {evidence}."
    )
    return w.answer


def _q8(ev: Evidence) -> Answer:
    w = _Writer("What are the limitations of deep learning?")
    small = _verdict(w, ev, "small-data")
    transfer = ev.claim("transfer")
    medical = ev.application("medical", "medical.json")
    parts = []
    if small is not None:
        parts.append(f"the claim that classical models win on little data came out **{small}**")
    if transfer is not None:
        result, path = transfer
        found = _comparison(result, "fine-tuned vs from scratch")
        if found is not None:
            i, c = found
            parts.append(
                f"pretraining is no free win ({c['label']}: fine-tuned "
                f"{w.quote(c['mean_a'], f'{path}#comparisons.{i}.mean_a')}, from scratch "
                f"{w.quote(c['mean_b'], f'{path}#comparisons.{i}.mean_b')})"
            )
    if medical is not None:
        data, path = medical
        net = w.quote(data["network"]["accuracy"], f"{path}#network.accuracy")
        lr = data["baselines"].get("logistic regression")
        if lr is not None:
            lrq = w.quote(lr["accuracy"], f"{path}#baselines.logistic regression.accuracy")
            parts.append(
                f"on 30 measured features a logistic regression scored {lrq} to the network's {net}"
            )
    if not parts:
        parts.append(w.missing("threefigures experiment all --out docs/claims"))
    w.answer.text = (
        "It needs data, compute and care, and it is not always the best tool: "
        + "; ".join(parts)
        + ". Its answers also need explaining (every report here has a Looking-inside section)."
    )
    return w.answer


def _q9(ev: Evidence) -> Answer:
    w = _Writer("Why does deep learning need GPUs?")
    found = ev.claim("devices")
    if found is None:
        w.answer.text = (
            "Training is mostly large matrix products, which parallel hardware does many at "
            "once. " + w.missing("threefigures experiment devices")
        )
        return w.answer
    result, path = found
    gpu = bool(result.get("numbers", {}).get("gpu_tested"))
    verdict = w.quote(result["verdict"]["label"], f"{path}#verdict.label")
    text = "Training is mostly large matrix products, which parallel hardware does many at once. "
    if not gpu:
        text += (
            "No GPU was present when this was measured, so the GPU claim itself was not "
            f"tested; on the same principle, 2 CPU threads against 1 came out **{verdict}**"
        )
    else:
        text += f"Measured here with a GPU, the claim came out **{verdict}**"
    v = result["verdict"]
    supports = w.quote(v["supports"], f"{path}#verdict.supports", _int)
    total = v["supports"] + v["contradicts"] + v["unclear"]
    total_q = w.quote(total, f"{path}#verdict (supports+contradicts+unclear)", _int)
    w.answer.text = text + f" ({supports} of {total_q} comparisons support it)."
    return w.answer


def _q10(ev: Evidence) -> Answer:
    w = _Writer("What is the impact of deep learning on various industries?")
    parts = []
    drive = ev.application("drive", "drive.json")
    if drive is not None:
        data, path = drive
        net = w.quote(
            data["drivers"]["network"]["tiles_share"], f"{path}#drivers.network.tiles_share"
        )
        rand = w.quote(
            data["drivers"]["random"]["tiles_share"], f"{path}#drivers.random.tiles_share"
        )
        parts.append(
            f"driving: a CNN that only sees the camera covered {net} of unseen tracks "
            f"(a random driver {rand})"
        )
    medical = ev.application("medical", "medical.json")
    if medical is not None:
        data, path = medical
        sens = w.quote(data["network"]["sensitivity"], f"{path}#network.sensitivity")
        spec = w.quote(data["network"]["specificity"], f"{path}#network.specificity")
        parts.append(
            f"medicine: {sens} of cancers found at {spec} specificity on unseen cases "
            "(a teaching example, not a diagnostic tool)"
        )
    language = ev.application("language", "language.json")
    if language is not None and language[0].get("status") == "measured":
        data, path = language
        acc = w.quote(data["accuracy"], f"{path}#accuracy")
        base = w.quote(data["majority_baseline"], f"{path}#majority_baseline")
        parts.append(
            f"language: a pretrained transformer read patient reviews' sentiment with "
            f"{acc} accuracy (majority class {base})"
        )
    if not parts:
        parts.append(w.missing("threefigures applications"))
    w.answer.text = (
        "Wherever there are many examples of an input and the right answer: vehicles, "
        "medicine, language and more. Small versions of each, measured here — "
        + "; ".join(parts)
        + "."
    )
    return w.answer


QUESTIONS: tuple[Callable[[Evidence], Answer], ...] = (
    _q1,
    _q2,
    _q3,
    _q4,
    _q5,
    _q6,
    _q7,
    _q8,
    _q9,
    _q10,
)


def answer_all(evidence: Evidence) -> list[Answer]:
    return [q(evidence) for q in QUESTIONS]


def write_faq(
    out: Path, store: Store, *, claims: Path, applications: Path
) -> tuple[Path, list[Answer]]:
    """Write ``out`` (markdown) and ``out`` with ``.json`` (every citation and its source)."""
    evidence = Evidence(store, claims, applications)
    answers = answer_all(evidence)
    if all(not a.citations for a in answers):
        raise ConfigError(
            "the FAQ cites stored runs and results and found none: fill them with "
            "`threefigures demo`, `threefigures experiment all --out docs/claims` and "
            "`threefigures applications --out docs/applications`, or point --claims, "
            "--applications and --store at where they are"
        )
    written = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        "# FAQ — the article's ten questions, answered from our own runs",
        "",
        f"Generated by `threefigures faq` on {written}. Every number below was read from a "
        "stored run or result at that moment; `faq.json` beside this file lists each one "
        "with its source.",
        "",
    ]
    for i, a in enumerate(answers, start=1):
        lines += [f"## {i}. {a.question}", "", a.text, ""]
    atomic_write_text(out, "\n".join(lines))
    payload = {"written": written, "answers": [asdict(a) for a in answers]}
    atomic_write_text(out.with_suffix(".json"), json.dumps(payload, indent=2))
    return out, answers
