"""load_weights: round trip, COCO-shaped checkpoints (heads skipped by shape), pickles, clear errors."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.events import EventStorage
from torch import nn

from fashion_core.modeling import CheckpointReadError, load_weights
from fashion_core.modeling.synthetic import synthetic_batch

PREDICTOR_KEYS = {
    "roi_heads.box_predictor.cls_score.weight",
    "roi_heads.box_predictor.cls_score.bias",
    "roi_heads.box_predictor.bbox_pred.weight",
    "roi_heads.box_predictor.bbox_pred.bias",
    "roi_heads.mask_head.predictor.weight",
    "roi_heads.mask_head.predictor.bias",
}


def _predict(model: nn.Module) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": synthetic_batch(1, seed=2)[0]["image"]}])
    inst = out["instances"]
    return {k: v.tensor if hasattr(v, "tensor") else v for k, v in inst.get_fields().items()}


def test_checkpoint_reloads_with_identical_predictions(make_model: Callable[..., nn.Module], tmp_path: Path) -> None:
    keep_all = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", True]
    trained = make_model(keep_all, seed=0)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.01)
    trained.train()
    with EventStorage(0):  # a few steps: BN running statistics and every head move away from init
        for seed in (1, 3):
            optimizer.zero_grad()
            sum(trained(synthetic_batch(2, seed=seed)).values()).backward()
            optimizer.step()
    DetectionCheckpointer(trained, save_dir=str(tmp_path)).save("model_final")

    reloaded = make_model(keep_all, seed=1)
    report = load_weights(reloaded, tmp_path / "model_final.pth")
    assert report.skipped_shapes == [] and report.missing_keys == [] and report.unexpected_keys == []
    expected, got = _predict(trained), _predict(reloaded)
    assert len(expected["pred_classes"]) > 0 and set(got) == set(expected)
    assert {"attr_scores", "pred_attributes", "pred_masks"} <= set(got)
    for field, value in expected.items():
        assert torch.equal(got[field], value), field


def test_coco_shaped_checkpoint_loads_what_fits(make_model: Callable[..., nn.Module], tmp_path: Path) -> None:
    # Stand-in for a COCO Mask R-CNN: 80 classes and no attribute branch, same backbone.
    coco = make_model(["MODEL.ROI_HEADS.NUM_CLASSES", 80, "MODEL.ROI_ATTRIBUTE_HEAD.ENABLED", False], seed=3)
    DetectionCheckpointer(coco, save_dir=str(tmp_path)).save("coco")
    model = make_model(seed=0)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}

    report = load_weights(model, str(tmp_path / "coco.pth"))

    assert {k for k, _, _ in report.skipped_shapes} == PREDICTOR_KEYS
    assert dict((k, s) for k, s, _ in report.skipped_shapes)["roi_heads.box_predictor.cls_score.weight"][0] == 81
    attribute_keys = {k for k in fresh if k.startswith("roi_heads.attribute_head.")}
    assert set(report.missing_keys) == PREDICTOR_KEYS | attribute_keys
    state, source = model.state_dict(), coco.state_dict()
    for k in state:  # heads that did not fit keep their fresh init, everything else is the checkpoint's
        assert torch.equal(state[k], fresh[k] if k in PREDICTOR_KEYS | attribute_keys else source[k]), k


def test_detectron2_pickle_format_loads(make_model: Callable[..., nn.Module], tmp_path: Path) -> None:
    source = make_model(seed=4)
    path = tmp_path / "model_zoo_style.pkl"
    weights = {k: v.numpy() for k, v in source.state_dict().items()}
    path.write_bytes(pickle.dumps({"model": weights, "__author__": "test"}))
    model = make_model(seed=0)
    load_weights(model, path)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_empty_path_keeps_the_random_init(make_model: Callable[..., nn.Module]) -> None:
    model = make_model(seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert load_weights(model, "").path == ""
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_unreadable_checkpoints_raise_errors_naming_them(make_model: Callable[..., nn.Module], tmp_path: Path) -> None:
    model = make_model()
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointReadError, match=r"nope\.pth.*not found"):
        load_weights(model, missing)
    for name in ("garbage.pth", "garbage.pkl"):
        (tmp_path / name).write_bytes(b"not a checkpoint")
        with pytest.raises(CheckpointReadError, match=rf"Cannot read checkpoint .*{name}"):
            load_weights(model, tmp_path / name)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"model": {"some.other.weight": torch.zeros(3)}}, unrelated)
    with pytest.raises(CheckpointReadError, match="no tensor matching"):
        load_weights(model, unrelated)


class _NotATensor:
    pass


def test_pth_files_are_read_weights_only(make_model: Callable[..., nn.Module], tmp_path: Path) -> None:
    path = tmp_path / "with_object.pth"
    torch.save({"model": {}, "extra": _NotATensor()}, path)
    with pytest.raises(CheckpointReadError, match=r"with_object\.pth"):
        load_weights(make_model(), path)


def test_pickles_from_other_urls_are_refused_before_download(make_model: Callable[..., nn.Module]) -> None:
    url = "https://example.com/models/model_final.pkl"
    with pytest.raises(
        CheckpointReadError, match=r"Refusing to unpickle 'https://example\.com/models/model_final\.pkl'"
    ):
        load_weights(make_model(), url)
