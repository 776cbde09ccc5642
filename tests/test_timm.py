"""timm models (issue 12, item 9): ``--model timm:NAME`` with ``--weights``, or ``--pretrained`` from the local
cache only, with the model's own preprocessing (mean, std, input size) from its pretrained config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from robustness.cli.main import main
from robustness.core.errors import UsageError
from robustness.models import ModelRequest, load_classifier

timm = pytest.importorskip("timm", reason="timm is an optional extra (pip install 'robustness-suite[timm]')")

NAME = "test_resnet"  # timm's tiny test network (0.5M parameters, 160 px)


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty Hugging Face and torch hub caches for the test: nothing can be found locally."""
    import huggingface_hub.constants

    hub = tmp_path / "hf-cache"
    hub.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    yield hub
    torch.hub.set_dir(previous)


def _state(num_classes: int, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model(NAME, pretrained=False, num_classes=num_classes).state_dict()


def test_weights_load_with_the_models_own_preprocessing(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    state = _state(3, seed=1)
    torch.save(state, path)
    cfg = timm.models.get_pretrained_cfg(NAME).to_dict()
    clf, info = load_classifier(ModelRequest(spec=f"timm:{NAME}", weights=str(path)), num_classes=3, input_shape=(3, 32, 32))
    assert info["input_shape"] == list(cfg["input_size"]) == [3, 160, 160]
    assert info["mean"] == list(cfg["mean"]) and info["std"] == list(cfg["std"])
    assert clf.num_classes == 3
    own = clf.model.state_dict()
    assert own.keys() == state.keys() and all(torch.equal(own[k], v) for k, v in state.items())


def test_pretrained_without_a_cache_is_refused_not_downloaded(empty_caches: Path) -> None:
    with pytest.raises(UsageError, match=rf"--pretrained weights for timm:{NAME} are not in the local cache .*--download"):
        load_classifier(ModelRequest(spec=f"timm:{NAME}", pretrained=True), num_classes=10, input_shape=(3, 32, 32))


def test_pretrained_comes_from_the_local_hugging_face_cache(empty_caches: Path) -> None:
    from safetensors.torch import save_file

    cfg = timm.models.get_pretrained_cfg(NAME).to_dict()
    repo = empty_caches / f"models--{cfg['hf_hub_id'].replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40, encoding="utf-8")
    planted = _state(1000, seed=2)
    save_file({k: v.contiguous() for k, v in planted.items()}, str(snapshot / "model.safetensors"))
    clf, info = load_classifier(ModelRequest(spec=f"timm:{NAME}", pretrained=True), num_classes=10, input_shape=(3, 32, 32))
    assert clf.num_classes == 1000 and info["input_shape"] == [3, 160, 160]
    assert all(torch.equal(clf.model.state_dict()[k], v) for k, v in planted.items())


def test_unknown_timm_model_suggests_names() -> None:
    with pytest.raises(UsageError, match=r"Unknown timm model 'test_resnett'\. Did you mean test_resnet"):
        load_classifier(ModelRequest(spec="timm:test_resnett", random_weights=True), num_classes=3, input_shape=(3, 32, 32))


@pytest.mark.slow
def test_cli_audit_of_a_timm_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "rgb"
    for cls in range(3):
        (root / f"c{cls}").mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (48, 40), (cls * 80, k * 60, 30)).save(root / f"c{cls}" / f"{k}.png")
    weights = tmp_path / "tiny.pt"
    torch.save(_state(3, seed=3), weights)
    out = tmp_path / "out"
    args = ["audit", "--model", f"timm:{NAME}", "--weights", str(weights), "--dataset", str(root), "--n", "6",
            "--corruptions", "none", "--attacks", "none", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))["info"]["model"]
    assert info["spec"] == f"timm:{NAME}" and info["input_shape"] == [3, 160, 160] and info["mean"] == [0.5, 0.5, 0.5]
