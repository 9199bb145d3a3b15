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


def test_ids_above_the_gap_take_the_next_indices() -> None:
    # (Moved from the taxonomy's own lookups, deleted as a second vocabulary.)
    multi_hot = encode_attributes([[317, 0, 340], [234, 281], []], load_attribute_ids())
    assert multi_hot.dtype == torch.float32 and multi_hot.shape == (3, 294)
    assert torch.nonzero(multi_hot[0]).flatten().tolist() == [0, 270, 293]  # 284 is missing too
    # Ids above the gap (235..280 do not exist) map to the indices right after 234.
    assert torch.nonzero(multi_hot[1]).flatten().tolist() == [234, 235]
    assert multi_hot[2].sum() == 0


@pytest.mark.parametrize("bad", [[235], [341], [-1], [0, 999]])
def test_unknown_packaged_attribute_ids_raise(bad: list[int]) -> None:
    with pytest.raises(ValueError, match="not in the attribute vocabulary"):
        encode_attributes([bad], load_attribute_ids())
