"""The q4 weight form (quantize.py): codes, scales, zero points and nibble order as tract-onnx's
MatMulNBits reads them.

The engine's parity tests (engine/tests/model_parity.rs, tiny-q4 and the base model in q4)
check the whole graph against the numpy reference on these dequantised weights; these tests pin
the pieces."""

import unittest

import numpy as np

from toolcall_model import quantize
from toolcall_model.weights import random_weights


class Q4Test(unittest.TestCase):
    def setUp(self):
        self.w = np.random.default_rng(3).standard_normal((8, 96)).astype(np.float32)

    def test_codes_scales_and_zero_points(self):
        codes, scale, zero = quantize.q4(self.w)
        self.assertEqual(codes.shape, (8, 96))
        self.assertEqual(scale.shape, (8, 3))
        self.assertEqual(zero.shape, (8, 3))
        self.assertTrue(codes.max() <= 15 and zero.max() <= 15)
        # Scales are float16 values, as the kernels store them.
        np.testing.assert_array_equal(scale, scale.astype(np.float16).astype(np.float32))
        # Every weight comes back within half a step, plus float16's rounding of the scale at
        # the ends of the block's range.
        back = quantize.q4_dequantize(codes, scale, zero)
        error = np.abs(back - self.w).reshape(8, 3, 32)
        self.assertTrue((error <= scale[..., None] * 0.5 + 1e-3).all(), error.max())

    def test_a_block_leaning_to_one_side_keeps_its_resolution(self):
        # Weights in [0.5, 1.0]: the range starts at 0 and the step is 1/15, where a symmetric
        # scale (largest magnitude / -8) would have a step of 1/8.
        w = np.linspace(0.5, 1.0, 32, dtype=np.float32).reshape(1, 32)
        codes, scale, zero = quantize.q4(w)
        self.assertEqual(zero[0, 0], 0)
        self.assertLess(np.abs(quantize.q4_dequantize(codes, scale, zero) - w).max(), 1 / 30 + 1e-3)

    def test_zero_block(self):
        w = np.zeros((1, 32), np.float32)
        np.testing.assert_array_equal(quantize.q4_dequantize(*quantize.q4(w)), w)

    def test_nibble_order(self):
        codes = (np.arange(32, dtype=np.uint8) % 16).reshape(1, 1, 32)
        packed = quantize.pack_nibbles(codes)
        self.assertEqual(packed.shape, (1, 1, 16))
        # The lower index in the low nibble: codes 0 and 1 -> 0x10.
        self.assertEqual(packed[0, 0, 0], 0x10)
        self.assertEqual(packed[0, 0, 7], (15 << 4) | 14)
        # An odd count (18 blocks' zero points for 576 inputs is even; 3 is not) is padded.
        self.assertEqual(quantize.pack_nibbles(np.array([[1, 2, 3]], np.uint8)).tolist(), [[0x21, 0x03]])

    def test_rows_not_in_blocks_are_refused(self):
        with self.assertRaises(ValueError):
            quantize.q4(np.zeros((2, 40), np.float32))

    def test_stored_forms(self):
        weights = random_weights(7, 300)
        self.assertIs(quantize.stored(weights, "f32"), weights)
        q4 = quantize.stored(weights, "q4")
        # The source weights are untouched; the q4 copy differs in every layer matrix, not in
        # the norms, and its embedding is float16-exact.
        self.assertFalse(np.array_equal(q4.layers[0].wq, weights.layers[0].wq))
        np.testing.assert_array_equal(q4.layers[0].attn_norm, weights.layers[0].attn_norm)
        np.testing.assert_array_equal(q4.embedding, weights.embedding.astype(np.float16).astype(np.float32))
        with self.assertRaises(ValueError):
            quantize.stored(weights, "q3")


if __name__ == "__main__":
    unittest.main()
