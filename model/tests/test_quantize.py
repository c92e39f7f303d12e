"""The q4 weight form (quantize.py, weights.Blocks4): codes, scales, minimums and nibble order
as the exporter writes them for tract-onnx's MatMulNBits, the GGUF Q4_1 blocks the importer
keeps exactly, and a LoRA adapter kept apart.

The engine's parity tests (engine/tests/model_parity.rs: tiny-q4, the base model and the
default model in q4) check the whole graph against the numpy reference on these dequantised
weights; these tests pin the pieces."""

import unittest

import gguf
import numpy as np
from gguf.quants import dequantize, quantize as gguf_quantize

from toolcall_model import quantize
from toolcall_model.weights import Blocks4, _q4_1_blocks, random_weights


class Q4Test(unittest.TestCase):
    def setUp(self):
        self.w = np.random.default_rng(3).standard_normal((8, 96)).astype(np.float32)

    def test_codes_scales_and_minimums(self):
        blocks = quantize.q4(self.w)
        self.assertEqual(blocks.codes.shape, (8, 96))
        self.assertEqual(blocks.scale.shape, (8, 3))
        self.assertEqual(blocks.low.shape, (8, 3))
        self.assertTrue(blocks.codes.max() <= 15)
        # Scales are float16 values, as the kernels store them.
        np.testing.assert_array_equal(blocks.scale, blocks.scale.astype(np.float16).astype(np.float32))
        # Every weight comes back within half a step, plus float16's rounding of the scale at
        # the top of the block's range.
        error = np.abs(blocks.dequantize() - self.w).reshape(8, 3, 32)
        self.assertTrue((error <= blocks.scale[..., None] * 0.5 + 1e-3).all(), error.max())

    def test_a_block_away_from_zero_keeps_its_resolution(self):
        # Weights in [0.5, 1.0]: the range starts at the block's minimum, a step of 1/30, where
        # a range forced to include 0 would step by 1/15.
        w = np.linspace(0.5, 1.0, 32, dtype=np.float32).reshape(1, 32)
        blocks = quantize.q4(w)
        self.assertEqual(blocks.low[0, 0], 0.5)
        self.assertLess(np.abs(blocks.dequantize() - w).max(), 1 / 60 + 1e-3)

    def test_zero_block(self):
        w = np.zeros((1, 32), np.float32)
        np.testing.assert_array_equal(quantize.q4(w).dequantize(), w)

    def test_nibble_order(self):
        codes = (np.arange(32, dtype=np.uint8) % 16).reshape(1, 1, 32)
        packed = quantize.pack_nibbles(codes)
        self.assertEqual(packed.shape, (1, 1, 16))
        # The lower index in the low nibble: codes 0 and 1 -> 0x10.
        self.assertEqual(packed[0, 0, 0], 0x10)
        self.assertEqual(packed[0, 0, 7], (15 << 4) | 14)
        self.assertEqual(quantize.pack_nibbles(np.array([[1, 2, 3]], np.uint8)).tolist(), [[0x21, 0x03]])

    def test_rows_not_in_blocks_are_refused(self):
        with self.assertRaises(ValueError):
            quantize.q4(np.zeros((2, 40), np.float32))


class GgufBlocksTest(unittest.TestCase):
    def test_q4_1_rows_are_read_exactly(self):
        # gguf's own quantiser and dequantiser against the importer's reading of the raw blocks.
        w = np.random.default_rng(5).standard_normal((6, 128)).astype(np.float32)
        raw = gguf_quantize(w, gguf.GGMLQuantizationType.Q4_1)
        blocks = _q4_1_blocks(raw)
        self.assertEqual(blocks.codes.shape, (6, 128))
        np.testing.assert_array_equal(blocks.dequantize(),
                                      dequantize(raw, gguf.GGMLQuantizationType.Q4_1).astype(np.float32))

    def test_source_blocks_are_stored_as_they_are(self):
        weights = random_weights(7, 300)
        source = quantize.q4(weights.layers[1].w_up)
        source.low = source.low + 0.001  # not what quantising the float32 matrix again gives
        weights.blocks[(1, "w_up")] = source
        self.assertIs(quantize.layer_blocks(weights, 1, "w_up"), source)
        self.assertIsNot(quantize.layer_blocks(weights, 0, "w_up"), source)
        stored = quantize.stored(weights, "q4").layers[1].w_up
        np.testing.assert_array_equal(stored, quantize.q4_matrix(source, None))
        # The blocks as they are but for each block's offset, rounded to float16 (at most half
        # a float16 step of the offset's magnitude: ~1/512 of a 4-bit step for typical blocks).
        offsets = np.repeat(np.abs(source.low + 8 * source.scale), 32, axis=1)
        self.assertTrue(np.all(np.abs(stored - source.dequantize()) <= offsets * 2.0 ** -11 + 1e-7))

    def test_the_q4_0_product_plus_the_offsets_is_the_q4_1_matrix(self):
        blocks = quantize.q4(np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32))
        codes = blocks.codes.reshape(4, 2, 32).astype(np.float32)
        q4_0 = ((codes - 8) * blocks.scale[..., None]).reshape(4, 64)
        offsets = np.repeat(quantize.side_offsets(blocks).astype(np.float32), 32, axis=1)
        np.testing.assert_allclose(q4_0 + offsets, blocks.dequantize(), atol=1e-3)
        self.assertEqual(quantize.side_offsets(blocks).dtype, np.float16)


class EmbeddingFileTest(unittest.TestCase):
    def test_layouts(self):
        table = np.random.default_rng(4).standard_normal((3, 64)).astype(np.float32)
        self.assertEqual(quantize.embedding_bytes(table, "f32"), table.astype("<f4").tobytes())
        raw = quantize.embedding_bytes(table, "q4")
        # Per block of 32: a float16 scale (largest magnitude / 127), then 32 int8 codes.
        self.assertEqual(len(raw), 3 * 2 * 34)
        scale = np.frombuffer(raw[:2], "<f2")[0]
        self.assertEqual(scale, np.float16(np.abs(table[0, :32]).max() / 127))
        codes = np.frombuffer(raw[2:34], np.int8)
        np.testing.assert_array_equal(codes, np.round(table[0, :32] / np.float32(scale)).astype(np.int8))

    def test_a_q8_0_table_comes_back_byte_for_byte(self):
        # The base GGUF's embedding is Q8_0: quantising its dequantised table again gives the
        # file's own bytes, so the q4 form's embedding is the source's.
        table = np.random.default_rng(6).standard_normal((4, 64)).astype(np.float32)
        source = gguf_quantize(table, gguf.GGMLQuantizationType.Q8_0)
        widened = dequantize(source, gguf.GGMLQuantizationType.Q8_0).astype(np.float32)
        self.assertEqual(quantize.embedding_bytes(widened, "q4"), source.tobytes())


class StoredFormsTest(unittest.TestCase):
    def test_forms(self):
        weights = random_weights(7, 300)
        self.assertIs(quantize.stored(weights, "f32"), weights)
        q4 = quantize.stored(weights, "q4")
        # The source weights are untouched; the q4 copy differs in every layer matrix, not in
        # the norms, and its embedding is what the Q8_0 file holds.
        self.assertFalse(np.array_equal(q4.layers[0].wq, weights.layers[0].wq))
        np.testing.assert_array_equal(q4.layers[0].attn_norm, weights.layers[0].attn_norm)
        raw = np.frombuffer(quantize.embedding_bytes(weights.embedding, "q4"), np.uint8)
        np.testing.assert_array_equal(
            q4.embedding, dequantize(raw.reshape(300, -1), gguf.GGMLQuantizationType.Q8_0).astype(np.float32))
        self.assertLess(np.abs(q4.embedding - weights.embedding).max(), np.abs(weights.embedding).max() / 254 + 1e-6)
        with self.assertRaises(ValueError):
            quantize.stored(weights, "q3")

    def test_an_adapter_kept_apart_is_added_after_the_blocks(self):
        weights = random_weights(7, 300)
        rng = np.random.default_rng(9)
        a = rng.standard_normal((4, 64)).astype(np.float32)
        b = rng.standard_normal((64, 4)).astype(np.float32)
        weights.adapter[(0, "wq")] = (a, b)
        q4 = quantize.stored(weights, "q4")
        blocks = quantize.q4(weights.layers[0].wq)
        np.testing.assert_array_equal(q4.layers[0].wq, quantize.q4_matrix(blocks, (a, b)))
        # The adapter is stored in float16: close to the float32 one's product.
        np.testing.assert_allclose(q4.layers[0].wq, blocks.dequantize() + b @ a, rtol=1e-2, atol=1e-2)
        self.assertEqual(q4.adapter, {})
        f32 = quantize.stored(weights, "f32")
        np.testing.assert_allclose(f32.layers[0].wq, weights.layers[0].wq + b @ a, rtol=1e-6)
        np.testing.assert_array_equal(f32.layers[1].wq, weights.layers[1].wq)


if __name__ == "__main__":
    unittest.main()
