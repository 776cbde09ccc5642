"""Defenses: registry, training losses, input transformations (naive vs adaptive), smoothing certification."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from scipy.stats import binomtest
from torch import nn

from robustness import defenses
from robustness.core.errors import UsageError
from robustness.defenses import codec
from robustness.defenses.adversarial import pgd_linf
from robustness.defenses.augment import OPERATIONS, augmix
from robustness.defenses.smoothing import ABSTAIN, clopper_pearson_lower
from robustness.models import Classifier
from robustness.models.training import TrainRecipe

TRAINING = ["standard", "pgd-at", "trades", "fgsm-rs", "augment", "smoothing"]
TRANSFORMS = ["jpeg", "bit-depth", "median-filter"]


def tiny_net(channels: int = 1, size: int = 8, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * size * size, classes)
    )


def tiny_classifier(channels: int = 1, size: int = 8, classes: int = 3) -> Classifier:
    return Classifier(tiny_net(channels, size, classes).eval(), num_classes=classes, input_shape=(channels, size, size))


def images(n: int = 6, channels: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


# registry -----------------------------------------------------------------------------------
def test_registry_holds_every_defense_with_its_kind() -> None:
    assert set(defenses.DEFENSES) == set(TRAINING) | set(TRANSFORMS)
    for name in TRAINING:
        assert defenses.DEFENSES.get(name).kind is defenses.DefenseKind.TRAINING
    for name in TRANSFORMS:
        assert defenses.DEFENSES.get(name).kind is defenses.DefenseKind.TRANSFORM


def test_unknown_defense_suggests_names() -> None:
    with pytest.raises(UsageError, match="Unknown defense 'pgd_at'. Did you mean pgd-at"):
        defenses.create("pgd_at")


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("pgd-at", {"epsilon": -0.1}, "epsilon should be a positive number"),
        ("pgd-at", {"steps": 0}, "steps should be a positive integer"),
        ("pgd-at", {"epsiln": 0.1}, "Unknown hyperparameter of defense 'pgd-at' 'epsiln'. Did you mean epsilon"),
        ("trades", {"beta": -1}, "beta should be a non-negative number"),
        ("augment", {"ops": ["rotate", "blur"]}, "ops should be names among"),
        ("augment", {"severity": 11}, "severity should be an integer between 1 and 10"),
        ("jpeg", {"quality": 0}, "quality should be an integer between 1 and 100"),
        ("bit-depth", {"bits": 9}, "bits should be an integer between 1 and 8"),
        ("median-filter", {"size": 4}, "size should be an odd integer"),
        ("smoothing", {"alpha": 0.7}, r"alpha should be a probability in \(0, 0.5\)"),
        ("smoothing", {"radii": [-1]}, "radii should be non-negative"),
        ("jpeg", {"backward": "zero"}, "backward should be one of identity, straight_through, exact"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_hyperparameters_name_the_argument(name: str, params: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        defenses.create(name, **params)


def test_repr_shows_changed_hyperparameters() -> None:
    assert repr(defenses.create("pgd-at")) == "pgd-at"
    assert repr(defenses.create("jpeg", quality=50)) == "jpeg(quality=50)"


# training ------------------------------------------------------------------------------------
def test_standard_recipe_is_the_default_recipe() -> None:
    assert defenses.create("standard").recipe() == TrainRecipe()
    assert defenses.train_recipe(None) == TrainRecipe()
    assert defenses.train_recipe("standard", epochs=3) == TrainRecipe(epochs=3)


def test_recipe_keys_the_cache_by_loss_hyperparameters() -> None:
    recipe = defenses.train_recipe("pgd-at", {"epsilon": 0.2}, epochs=4)
    assert recipe.defense == "pgd-at" and recipe.epochs == 4
    assert recipe.defense_params == {"epsilon": 0.2, "steps": 7, "step_size": None}
    assert recipe.key() != defenses.train_recipe("pgd-at", epochs=4).key()


def test_transforms_have_nothing_to_train() -> None:
    with pytest.raises(UsageError, match="input transformation.*nothing to train"):
        defenses.train_recipe("jpeg")


@pytest.mark.parametrize("name", TRAINING)
def test_training_loss_is_finite_and_trains_the_model(name: str) -> None:
    params = {"n": 8, "n0": 4} if name == "smoothing" else {"steps": 2} if name in ("pgd-at", "trades") else {}
    recipe = defenses.train_recipe(name, params, epochs=1)
    loss_fn = defenses.training_loss(recipe, num_classes=3)
    model = tiny_net().train()
    torch.manual_seed(0)
    x, y = images(8), torch.arange(8) % 3
    loss = loss_fn(model, x, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.training


def test_training_pgd_stays_in_the_ball_and_bounds() -> None:
    model = tiny_net()
    x, y = images(8), torch.arange(8) % 3
    adv = pgd_linf(model, x, y, epsilon=0.1, steps=3, step_size=0.05)
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert not any(p.grad is not None for p in model.parameters())


def test_augmix_ops_keep_shape_and_range() -> None:
    x = images(5, channels=3, size=16)
    levels = torch.full((5,), 0.3)
    for name, op in OPERATIONS.items():
        out = op(x, levels)
        assert out.shape == x.shape, name
        assert float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6, name
    torch.manual_seed(0)
    first = augmix(x, ops=list(OPERATIONS), severity=3, width=3, depth=-1, alpha=1.0)
    torch.manual_seed(0)
    again = augmix(x, ops=list(OPERATIONS), severity=3, width=3, depth=-1, alpha=1.0)
    assert torch.equal(first, again) and not torch.equal(first, x)


def test_augment_declares_the_corruptions_its_operations_resemble() -> None:
    assert defenses.create("augment").overlapping_corruptions() == {"rotation", "shear", "translation"}
    assert defenses.create("augment", ops=["equalize", "solarize"]).overlapping_corruptions() == set()


# transforms ----------------------------------------------------------------------------------
def pil_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """libjpeg (through PIL) round trip of a batch in [0, 1]: luma for one channel, YCbCr 4:4:4 for three."""
    out = []
    for img in x:
        pixels = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels[..., 0] if img.shape[0] == 1 else pixels).save(
            buf, "JPEG", quality=quality, subsampling=0
        )
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
        out.append(decoded[..., None] if decoded.ndim == 2 else decoded)
    return torch.tensor(np.stack(out)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("quality", [25, 75, 90])
def test_jpeg_matches_libjpeg_on_greyscale(quality: int) -> None:
    x = (images(4, size=32) * 255).round() / 255
    ours = codec.jpeg(x, quality)
    diff = (ours - pil_jpeg(x, quality)).abs()
    assert float(diff.mean()) < 1.5 / 255
    assert ours.shape == x.shape and float(ours.min()) >= 0 and float(ours.max()) <= 1


@pytest.mark.parametrize("quality", [50, 75])
def test_jpeg_matches_libjpeg_on_rgb_at_444(quality: int) -> None:
    """Per pixel against PIL/libjpeg at 4:4:4 on smooth colour images: at least 90% of the pixel values within
    2 grey levels, 99% within 6, mean error under 1.2 levels (measured: 92-96%, 4-6 levels, 0.8-0.9).
    A single pixel can be ~18 levels off where libjpeg's integer DCT rounds one coefficient to the other
    quantization step, so the maximum is not bounded. Catches the luma table used for chroma (47-60% within 2
    levels, mean 2.5-3.5), a chroma table scaled x2 (mean 3.2-5.5) or a wrong colour transform."""
    generator = torch.Generator().manual_seed(0)
    smooth = nn.functional.interpolate(torch.rand(4, 3, 5, 5, generator=generator), size=32, mode="bicubic")
    x = (smooth.clamp(0, 1) * 255).round() / 255
    levels = ((codec.jpeg(x, quality) - pil_jpeg(x, quality)).abs() * 255).flatten()
    assert float((levels <= 2 + 1e-3).float().mean()) >= 0.90
    assert float(torch.quantile(levels, 0.99)) <= 6 + 1e-3
    assert float(levels.mean()) < 1.2


def test_bit_depth_and_median_filter() -> None:
    x = images(3, channels=2, size=9)
    out = codec.bit_depth(x, 2)
    assert set(torch.unique(out * 3).round().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    dithered = codec.bit_depth(x, 2, dither=1.0, seed=1)
    assert torch.equal(codec.bit_depth(x[1:], 2, dither=1.0, seed=1), dithered[1:])  # keyed per image, not per call
    repeated = codec.bit_depth(x[:1].repeat(4, 1, 1, 1), 2, dither=1.0, seed=1)
    assert torch.equal(repeated[0], dithered[0]) and len({r.numpy().tobytes() for r in repeated}) > 1  # EOT copies
    med = codec.median_filter(x, 3)
    ref = ndimage.median_filter(x.numpy(), size=(1, 1, 3, 3), mode="mirror")
    np.testing.assert_allclose(med.numpy(), ref, atol=1e-6)


@pytest.mark.parametrize("name", ["jpeg", "bit-depth"])
def test_naive_gradient_vanishes_adaptive_does_not(name: str) -> None:
    defense = defenses.create(name)
    defended = defense.wrap(tiny_classifier())
    x = images(4).requires_grad_(True)
    y = torch.arange(4) % 3
    (naive,) = torch.autograd.grad(nn.functional.cross_entropy(defended(x), y), x)
    assert float(naive.abs().sum()) == 0.0
    surrogate = defense.adaptive(defended)
    assert surrogate.true_model is defended
    logits = surrogate(x)
    torch.testing.assert_close(logits, defended(x))
    (adaptive,) = torch.autograd.grad(nn.functional.cross_entropy(logits, y), x)
    assert float(adaptive.abs().sum()) > 0


def test_random_transform_is_attacked_through_eot() -> None:
    import attacks
    from attacks.adaptive import EOT

    defense = defenses.create("bit-depth", dither=1.0, seed=3)
    assert defense.randomized and not defenses.create("bit-depth").randomized
    defended = defense.wrap(tiny_classifier())
    surrogate = defense.adaptive(defended)
    assert isinstance(surrogate, EOT) and surrogate.true_model is defended
    x = images(8)
    result = attacks.create("pgd_linf", steps=3).sweep(surrogate, x, defended.predict(x), [0.1, 0.3], seed=0)
    assert (result.robust <= result.clean_correct).all() and result.accuracy[1] <= result.accuracy[0]


def test_adaptive_attack_breaks_what_the_naive_one_cannot() -> None:
    import attacks

    clf = tiny_classifier()
    x = images(24)
    defense = defenses.create("bit-depth", bits=3)
    defended = defense.wrap(clf)
    y = defended.predict(x)
    attack = attacks.create("pgd_linf", steps=10)
    naive = attack.sweep(defended, x, y, [0.3], seed=0)
    adaptive = attack.sweep(defense.adaptive(defended), x, y, [0.3], seed=0)
    assert naive.clean_accuracy == adaptive.clean_accuracy == 1.0
    assert adaptive.accuracy[0] < naive.accuracy[0]


@pytest.mark.parametrize(
    "name, channels, size, match",
    [
        ("jpeg", 4, 8, "compresses greyscale or RGB images .* but the model takes 4 channels"),
        ("median-filter", 1, 2, "needs images larger than"),
    ],
    ids=["jpeg-channels", "median-size"],
)
def test_transform_that_cannot_apply_says_why(name: str, channels: int, size: int, match: str) -> None:
    params = {"size": 5} if name == "median-filter" else {}
    with pytest.raises(UsageError, match=match):
        defenses.create(name, **params).wrap(tiny_classifier(channels=channels, size=size))


def test_transform_refuses_other_pixel_bounds() -> None:
    clf = Classifier(tiny_net().eval(), num_classes=3, input_shape=(1, 8, 8), bounds=(0.0, 255.0))
    with pytest.raises(UsageError, match=r"pixel values in \[0, 1\]"):
        defenses.create("bit-depth").wrap(clf)


# randomized smoothing ---------------------------------------------------------------------------
class Constant(nn.Module):
    """Always predicts class ``label`` (or a uniformly random class when ``label`` is None)."""

    def __init__(self, label: int | None, classes: int = 4) -> None:
        super().__init__()
        self.label, self.classes = label, classes
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        if self.label is None:
            return torch.randn(n, self.classes)
        out = torch.zeros(n, self.classes)
        out[:, self.label] = 1
        return out + 0 * self.bias


def test_clopper_pearson_matches_scipy() -> None:
    for k in (0, 3, 50, 100):
        expected = binomtest(k, 100).proportion_ci(confidence_level=0.98, method="exact").low
        assert clopper_pearson_lower(np.array([k]), 100, 0.01)[0] == pytest.approx(expected, abs=1e-9)


def test_certify_reaches_the_max_radius_when_unanimous_and_abstains_when_random() -> None:
    smoothing = defenses.create("smoothing", sigma=0.5, n0=8, n=64, radii=[0.0, 0.5])
    x = images(3)
    ids = np.arange(3)
    sure = Classifier(Constant(2).eval(), num_classes=4, input_shape=(1, 8, 8))
    cert = smoothing.certify(sure, x, ids, seed=0)
    assert cert.prediction.tolist() == [2, 2, 2]
    np.testing.assert_allclose(cert.radius, smoothing.max_radius)
    assert cert.certified_correct(np.array([2, 2, 1]), 0.5).tolist() == [True, True, False]
    noisy = Classifier(Constant(None).eval(), num_classes=4, input_shape=(1, 8, 8))
    cert = smoothing.certify(noisy, x, ids, seed=0)
    assert (cert.prediction == ABSTAIN).all() and (cert.radius == 0).all()
    summary = smoothing.summary_table(cert, np.array([0, 1, 2]))
    assert summary["abstain_rate"] == 1.0 and summary["certified_accuracy"] == [0.0, 0.0]


def test_certify_is_deterministic_and_independent_of_batching() -> None:
    clf = tiny_classifier()
    x = images(4)
    ids = np.array([10, 11, 12, 13])
    one = defenses.create("smoothing", n0=8, n=40, batch=7).certify(clf, x, ids, seed=1)
    two = defenses.create("smoothing", n0=8, n=40, batch=1000).certify(clf, x[2:], ids[2:], seed=1)
    np.testing.assert_array_equal(one.prediction[2:], two.prediction)
    np.testing.assert_allclose(one.radius[2:], two.radius)


# engine hooks -----------------------------------------------------------------------------------
def config(**kw: object) -> SimpleNamespace:
    base = {"defense": None, "defense_params": {}, "defense_eval": "adaptive", "dataset": "digits", "seed": 0,
            "data_root": None, "device": "cpu", "batch_size": 64}  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def test_hooks_are_no_ops_without_a_defense() -> None:
    from robustness.models import ModelRequest

    request = ModelRequest(spec="small-cnn")
    clf = tiny_classifier()
    assert defenses.prepare_request(config(), request) is request
    assert defenses.defend(config(), clf, {"spec": "x"}) == (clf, {"spec": "x"})
    assert defenses.attack_model(config(), clf) is clf
    assert defenses.attack_model(SimpleNamespace(), clf) is clf


def test_transform_hooks_wrap_and_pick_the_attack_surface() -> None:
    from attacks.adaptive import BPDA

    cfg = config(defense="jpeg", defense_params={"quality": 50})
    defended, info = defenses.defend(cfg, tiny_classifier(), {})
    assert info["defense"]["hyperparameters"]["quality"] == 50 and info["defense_eval"] == "adaptive"
    assert isinstance(defenses.attack_model(cfg, defended), BPDA)
    naive = config(defense="jpeg", defense_eval="naive")
    assert defenses.attack_model(naive, defended) is defended
    with pytest.raises(UsageError, match="--defense-eval should be one of adaptive, naive"):
        defenses.attack_model(config(defense="jpeg", defense_eval="both"), defended)


@pytest.mark.parametrize(
    "spec, weights, match",
    [
        ("small-cnn", "w.pt", "trains the model's weights itself, but --weights"),
        ("my_pkg.nets:Net", None, "trains a built-in architecture"),
    ],
    ids=["weights", "user-model"],
)
def test_training_defense_refuses_models_it_cannot_train(spec: str, weights: str | None, match: str) -> None:
    from robustness.models import ModelRequest

    with pytest.raises(UsageError, match=match):
        defenses.prepare_request(config(defense="pgd-at"), ModelRequest(spec=spec, weights=weights))


def test_smoothing_certifies_given_weights_as_they_are() -> None:
    from robustness.models import ModelRequest

    request = ModelRequest(spec="small-cnn", weights="w.pt")
    assert defenses.prepare_request(config(defense="smoothing"), request) is request


def test_finish_run_stores_certificates_once(tmp_path) -> None:  # noqa: ANN001
    from robustness.data.base import ArrayDataset
    from robustness.results.store import Store

    data = ArrayDataset(
        "toy", (np.random.default_rng(0).random((6, 8, 8, 1)) * 255).astype(np.uint8), [0, 1, 2] * 2, ["a", "b", "c"]
    )
    clf = Classifier(Constant(1, classes=3).eval(), num_classes=3, input_shape=(1, 8, 8))
    cfg = config(defense="smoothing", defense_params={"n0": 4, "n": 32, "radii": [0.0, 0.2]})
    prep = SimpleNamespace(config=cfg, classifier=clf, dataset=data, positions=np.arange(6), run_id="r")
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run(
            "r",
            model="m",
            dataset="toy",
            seed=0,
            config={},
            info={},
            sample_ids=np.arange(6),
            labels=np.array([0, 1, 2] * 2),
        )
        assert defenses.finish_run(prep, store) == 3
        assert defenses.finish_run(prep, store) == 0
        summary = store.artifact("r", "certified")
        assert summary["certified_accuracy"] == [pytest.approx(1 / 3)] * 2 and summary["abstain_rate"] == 0.0
        assert store.artifact("r", "certified/prediction").tolist() == [1] * 6


def test_cli_help_lists_every_defense() -> None:
    from robustness.cli.args import DEFENSE_NAMES

    assert {n.strip().split(" ")[0] for part in DEFENSE_NAMES.split(";") for n in part.split(",")} == set(
        defenses.DEFENSES
    )


def test_run_id_sees_resolved_defense_settings(digits_weights: str) -> None:
    from robustness.run.config import AuditConfig
    from robustness.run.prepare import prepare

    def run_id(**settings: object) -> str:
        config = AuditConfig(weights=digits_weights, n=8, corruptions=("none",), attacks=("fgsm",), **settings)
        return prepare(config).run_id  # type: ignore[arg-type]

    jpeg = run_id(defense="jpeg")
    assert run_id(defense="jpeg", defense_params={"quality": 75}) == jpeg  # the default, spelled out
    assert run_id(defense="jpeg", defense_params={"quality": 50}) != jpeg
    assert run_id(defense="jpeg", defense_eval="naive") != jpeg
    smoothing = {"defense": "smoothing", "defense_params": {"n": 32, "n0": 8}}
    assert run_id(**smoothing, defense_eval="naive") == run_id(**smoothing)  # no transform: nothing to be naive about
    assert run_id() not in (jpeg, run_id(**smoothing))
