"""Raw attribute ids <-> contiguous index."""

from __future__ import annotations

import pytest
import torch

from fashion_core.modeling import decode_attributes, encode_attributes, load_attribute_ids


def test_packaged_vocabulary_is_the_294_sorted_fashionpedia_ids() -> None:
    ids = load_attribute_ids()
    assert len(ids) == 294 and ids == sorted(set(ids)) and ids[0] == 0 and ids[-1] == 340


def test_encode_decode_round_trip() -> None:
    ids = load_attribute_ids()
    objects = [[0, 340], [], [115, 2, 0], [ids[100]]]
    multi_hot = encode_attributes(objects, ids)
    assert multi_hot.shape == (4, 294) and multi_hot.sum().item() == 6
    assert decode_attributes(multi_hot > 0, ids) == [sorted(o) for o in objects]
    assert encode_attributes([], ids).shape == (0, 294)


def test_unknown_ids_are_named() -> None:
    with pytest.raises(ValueError, match=r"\[-1, 4, 7\]"):
        encode_attributes([[0, 4], [7, -1]], [0, 1, 2])


def test_vocabulary_must_be_strictly_increasing() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        encode_attributes([[0]], [0, 2, 2])
    assert decode_attributes(torch.zeros(2, 3, dtype=torch.bool), [0, 5, 9]) == [[], []]
