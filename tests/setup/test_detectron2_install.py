"""The installed detectron2 works for this project, and the install script patches as documented."""

from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path

import pytest

detectron2 = pytest.importorskip("detectron2", reason="detectron2 is installed by setup.sh")

from detectron2 import model_zoo  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# The model-zoo configs whose architectures the project's own backbone configs reproduce.
ZOO_CONFIGS = [
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml",
    "COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x.yaml",
]


@pytest.mark.parametrize("name", ZOO_CONFIGS)
def test_model_zoo_config_loads(name: str) -> None:
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(name))
    assert cfg.MODEL.MASK_ON
    assert cfg.MODEL.ROI_HEADS.NAME == "StandardROIHeads"


def test_builds_and_runs_mask_rcnn_on_cpu() -> None:
    import torch

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(ZOO_CONFIGS[0]))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.NORM = "BN"
    # Random init on raw pixels gives large logits, so the softmax scores most classes exactly 0; a
    # threshold below 0 keeps every detection, so that the whole inference path (RPN, ROIAlign and
    # NMS from torchvision, box and mask heads, mask pasting) must produce some.
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = -1.0
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        out = model([{"image": image, "height": 64, "width": 96}])
    instances = out[0]["instances"]
    n = len(instances)
    assert 0 < n <= cfg.TEST.DETECTIONS_PER_IMAGE
    assert instances.image_size == (64, 96)
    boxes = instances.pred_boxes.tensor
    assert boxes.shape == (n, 4) and torch.isfinite(boxes).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all()
    assert instances.scores.shape == (n,) and ((instances.scores >= 0) & (instances.scores <= 1)).all()
    assert instances.pred_classes.shape == (n,) and (instances.pred_classes < 80).all()
    # Masks pasted into the image at its size, one per detection.
    assert instances.pred_masks.shape == (n, 64, 96) and instances.pred_masks.dtype == torch.bool


def test_missing_compiled_ops_fail_clearly() -> None:
    from detectron2 import _C

    if importlib.util.find_spec("detectron2._C").origin.endswith(".so"):  # type: ignore[union-attr]
        pytest.skip("an official detectron2 with its C++ extension is installed")
    with pytest.raises(NotImplementedError, match="use_fast_impl=False"):
        _C.nms_rotated(None, None, 0.5)


def test_patches_apply_to_the_release(tmp_path: Path) -> None:
    """Each documented patch applies exactly as expected to the cached source release."""
    sdist = Path(sys.prefix) / "cache" / "pb1-detectron2-0.6.tar.gz"
    if not sdist.is_file():
        pytest.skip(f"source release not cached at {sdist} (an official detectron2 is in use)")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import install_detectron2 as installer
    finally:
        sys.path.pop(0)
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    src = tmp_path / "pb1-detectron2-0.6"
    installer.apply_patches(src)
    assert "Image.LINEAR" not in (src / "detectron2/data/transforms/transform.py").read_text()
    assert "pkg_resources" not in (src / "detectron2/model_zoo/model_zoo.py").read_text()
    assert "ext_modules=[]" in (src / "setup.py").read_text()
    for path in (src / "detectron2").rglob("*.py"):
        assert installer.NUMPY_ALIAS.search(path.read_text()) is None, path
    # A second application must fail loudly rather than silently patch nothing.
    with pytest.raises(SystemExit, match="matched 0 times"):
        installer.apply_patches(src)
