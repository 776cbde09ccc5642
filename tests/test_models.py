from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from robustness.core.errors import UsageError
from robustness.models import Classifier, ModelRequest, load_classifier
from robustness.models.loading import build_model, load_state_dict
from robustness.models.zoo import MODELS

DIGITS_SHAPE = (1, 32, 32)


def test_classifier_normalizes_in_pixel_space_and_stays_in_eval_mode() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4), nn.Dropout(0.5))
    net.train()
    with pytest.warns(UserWarning, match="train mode"):
        clf = Classifier(net, num_classes=4, input_shape=(3, 8, 8), mean=[0.5], std=[0.25, 0.25, 0.25])
    assert not net.training
    clf.train()
    assert not clf.training and not net.training
    x = torch.rand(5, 3, 8, 8)
    expected = net((x - 0.5) / 0.25)
    assert torch.allclose(clf(x), expected)
    assert clf.predict(x).tolist() == expected.argmax(1).tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"std": [0.0]}, "std values should be positive"),
        ({"mean": [0.1, 0.2]}, "mean should have 1 or 3 values"),
        ({"num_classes": 1}, "num_classes should be at least 2"),
    ],
    ids=["zero-std", "mean-length", "one-class"],
)
def test_classifier_validation(kwargs: dict, match: str) -> None:
    args = {"num_classes": 4, "input_shape": (3, 8, 8), **kwargs}
    with pytest.raises(UsageError, match=match):
        Classifier(nn.Flatten(), **args)


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_builtin_architectures_take_gray_and_rgb_32px(arch: str) -> None:
    for channels in (1, 3):
        model = MODELS.get(arch)(channels, 7).eval()
        assert model(torch.rand(2, channels, 32, 32)).shape == (2, 7)


def test_state_dict_round_trip(tmp_path: Path) -> None:
    model = MODELS.get("small-cnn")(1, 10)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    clf, info = load_classifier(ModelRequest(weights=str(path)), num_classes=10, input_shape=DIGITS_SHAPE)
    x = torch.rand(3, 1, 32, 32)
    assert torch.allclose(clf(x), model.eval()(x))
    assert info["weights_sha256"]


def test_weights_that_do_not_fit_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(MODELS.get("small-cnn")(1, 5).state_dict(), path)
    with pytest.raises(UsageError, match=r"do not fit the architecture .*shape of .* is \(5"):
        load_classifier(ModelRequest(weights=str(path)), num_classes=10, input_shape=DIGITS_SHAPE)


def test_missing_weights_file() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_state_dict("/nonexistent/w.pt")


class _Payload:
    """Unpickling this object writes a file: a stand-in for a malicious checkpoint."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.target, "w"))


def test_checkpoint_needing_pickle_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Payload(str(marker))}, f)
    torch.save({"w": torch.zeros(1), "evil": _Payload(str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(UsageError, match="needs pickle code.*--unsafe-load"):
        load_state_dict(path)
    assert not marker.exists()


def test_user_class_spec_and_torchscript_file(tmp_path: Path) -> None:
    from tests.helpers.toy_models import TinyNet

    model = TinyNet(num_classes=10)
    weights = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), weights)
    request = ModelRequest(spec="tests.helpers.toy_models:TinyNet", weights=str(weights))
    clf, _ = load_classifier(request, num_classes=10, input_shape=DIGITS_SHAPE)
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(clf(x), model(x))

    scripted = tmp_path / "tiny.ts"
    torch.jit.script(model).save(str(scripted))
    clf2, _ = load_classifier(ModelRequest(spec=str(scripted)), num_classes=10, input_shape=DIGITS_SHAPE)
    assert torch.allclose(clf2(x), model(x))


def test_torchvision_architecture_with_weights(tmp_path: Path) -> None:
    model, _ = build_model(ModelRequest(spec="torchvision:resnet18", num_classes=10, random_weights=True), 3, 10)
    path = tmp_path / "r18.pt"
    torch.save(model.state_dict(), path)
    clf, _ = load_classifier(
        ModelRequest(spec="torchvision:resnet18", weights=str(path), num_classes=10, mean=(0.5,), std=(0.5,)),
        num_classes=10,
        input_shape=(3, 32, 32),
    )
    assert clf(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_torchvision_pretrained_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UsageError, match="not in the local torch cache.*--download"):
        build_model(ModelRequest(spec="torchvision:resnet18", pretrained=True), 3, 1000)


def test_unknown_model_lists_what_exists() -> None:
    with pytest.raises(UsageError, match="Unknown model 'small_cnn'.*Did you mean small-cnn"):
        build_model(ModelRequest(spec="small_cnn"), 1, 10)


@pytest.mark.slow
def test_default_model_reaches_97_percent_on_digits(digits_weights: str) -> None:
    meta = json.loads(Path(digits_weights).with_suffix(".json").read_text())
    assert meta["test_accuracy"] >= 0.97
    assert Path(digits_weights).parent.parent == Path(os.environ["ROBUSTNESS_CACHE"])
    state = torch.load(digits_weights, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_training_depends_on_the_seed_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import torch

    from robustness.models import ensure_trained
    from robustness.models.training import TrainRecipe

    digests = []
    for k in range(2):
        monkeypatch.setenv("ROBUSTNESS_CACHE", str(tmp_path / f"cache{k}"))
        torch.rand(k + 1)  # whatever ran before in the process must not change the initial weights
        path = ensure_trained("small-cnn", "digits", seed=3, recipe=TrainRecipe(epochs=1))
        digests.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_cached_weights_are_keyed_by_the_layers_not_only_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a built-in architecture under the same name must train it afresh, not load stale weights."""
    from robustness.models.training import TrainRecipe, cache_path

    recipe = TrainRecipe()
    before = cache_path("small-cnn", "digits", 0, recipe)
    state = torch.random.get_rng_state()
    assert cache_path("small-cnn", "digits", 0, recipe) == before  # stable
    assert torch.equal(torch.random.get_rng_state(), state), "the key draws no random numbers"
    original = MODELS.get("small-cnn")
    monkeypatch.setitem(MODELS._items, "small-cnn", lambda c, k: nn.Sequential(original(c, k), nn.Identity()))
    assert cache_path("small-cnn", "digits", 0, recipe) != before
    assert cache_path("small-cnn", "digits", 0, recipe).name.startswith("small-cnn-digits-seed0-standard-")


def test_small_cnn_channels_last_weights_give_the_same_outputs() -> None:
    import copy

    torch.manual_seed(0)
    model = MODELS.get("small-cnn")(3, 10).eval()
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    x = torch.rand(8, 3, 32, 32)
    torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-5)
    x.requires_grad_(True)
    grad = torch.autograd.grad(model(x).sum(), x)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(plain(x).sum(), x)[0], rtol=1e-4, atol=1e-5)
