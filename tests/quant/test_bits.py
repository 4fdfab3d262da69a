"""`bits` parsing and its Keras-style errors."""

import pytest

from ghnq_tf.quant.bits import BitsSpec, check_first_last_bits, parse_bits


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (8, BitsSpec((8, 8))),
        (2, BitsSpec((2, 2))),
        ((4, 8), BitsSpec((4, 8))),
        ([3, 5], BitsSpec((3, 5))),
        ({"default": 4, "conv1": 8}, BitsSpec((4, 4), {"conv1": (8, 8)})),
        ({"conv1": (2, 4)}, BitsSpec((8, 8), {"conv1": (2, 4)})),
    ],
)
def test_valid_bits(bits, expected):
    assert parse_bits(bits) == expected


def test_error_message_is_keras_like():
    with pytest.raises(ValueError) as err:
        parse_bits(9)
    assert str(err.value) == (
        "`bits` must be an int in 2..8, a (weight_bits, activation_bits) pair or a "
        "{layer_name: bits} policy. Received: bits=9"
    )


@pytest.mark.parametrize(
    "bits", [1, 0, 9, -4, 4.0, True, "4", None, (4,), (4, 4, 4), (1, 8), {"c": 9}, {3: 4}]
)
def test_invalid_bits(bits):
    with pytest.raises(ValueError, match="`bits` must be an int in 2..8"):
        parse_bits(bits)


def test_first_last_bits():
    assert check_first_last_bits(None) is None
    assert check_first_last_bits(8) == 8
    with pytest.raises(ValueError, match="first_last_bits"):
        check_first_last_bits(16)
