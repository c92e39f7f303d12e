//! The engine's `Q4Correction` op (ONNX domain `ai.toolcalld`): what a `q4` bundle adds to each
//! of its 4-bit products.
//!
//! A layer matrix of a `q4` bundle is GGUF's Q4_1, `code * scale + low` per block of 32, plus a
//! LoRA adapter kept apart. tract's packed kernels run Q4_0, `(code - 8) * scale`, so the graph
//! (model/toolcall_model/onnx_export.py, `q4_linears`) has tract's `MatMulNBits` compute that
//! and this op add the rest: `y + side^T [block sums of x; A x]`, where `side` [blocks + rank,
//! out] holds each block's offset `low + 8 * scale` and the adapter's B, transposed, and A [rank,
//! in] is the adapter's first matrix, both float16 (widened as they are read).
//!
//! Before this op the same sums were float32 matmuls in the graph (a 0/1 block-sum matrix
//! stacked over the adapters' A, then each matrix's offsets and B with zero columns for its
//! siblings' adapters): 55 MB read on every decode step of the default model, against the 4-bit
//! products' ~60 MB. Here a step reads 16 MB: the block sums are additions, not a matrix, and
//! nothing is stored twice or as zeros (docs/PERFORMANCE.md).
//!
//! One token (a decode step) is a matrix-vector product read straight from the float16 rows
//! (`kernels.rs`); a prompt's pass widens the two matrices once and multiplies by GEMM
//! (matrixmultiply, as the attention op's prefill blocks).

use std::sync::Arc;

use half::f16;
use tract_onnx::model::{Onnx, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::linalg::general_mat_mul;
use tract_onnx::prelude::tract_ndarray::{ArrayView2, ArrayViewMut2};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

use kernels::{add_transposed_product_f16, rows_dot_f16, widened};

mod kernels;

/// The op's ONNX type.
const OP_TYPE: &str = "Q4Correction";
/// Values per 4-bit block (the graph's `block_size`).
const BLOCK: usize = 32;

/// Lets `onnx` read the op in a bundle's graph.
pub(crate) fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(OP_TYPE, parse);
}

fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let block: usize = node.get_attr("block_size")?;
    ensure!(block == BLOCK, "{OP_TYPE}: blocks of {BLOCK} values only (got {block})");
    let with_adapter = match node.input.len() {
        3 => false,
        4 => true,
        n => bail!("{OP_TYPE} takes the product, its input, the side matrix and optionally A: not {n} inputs"),
    };
    Ok((expand(Parsed { with_adapter }), vec![]))
}

/// The op as parsed, before its constant inputs are known.
#[derive(Debug, Clone)]
struct Parsed {
    with_adapter: bool,
}

impl Expansion for Parsed {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3 + usize::from(self.with_adapter))?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let constant = |input: usize, what: &str| -> TractResult<Arc<Tensor>> {
            model
                .outlet_fact(inputs[input])?
                .konst
                .clone()
                .with_context(|| format!("{OP_TYPE}: {what} must be a constant"))
        };
        let side = constant(2, "the side matrix")?;
        let adapter_a = if self.with_adapter {
            Some(constant(3, "the adapter's A")?)
        } else {
            None
        };
        let x = model.outlet_fact(inputs[1])?;
        let in_features = x
            .shape
            .last()
            .and_then(|d| d.to_usize().ok())
            .with_context(|| format!("{OP_TYPE}: the input's width must be known"))?;
        let op = Q4Correction::new(side, adapter_a, in_features)?;
        model.wire_node(prefix, op, &inputs[..2])
    }
}

/// `y + side^T [block sums of x; A x]` for each row of `x` [.., in] and `y` [.., out].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Q4Correction {
    /// [blocks + rank, out] float16: each block's offset, then the adapter's B, transposed.
    side: Arc<Tensor>,
    /// [rank, in] float16, when there is an adapter.
    adapter_a: Option<Arc<Tensor>>,
    in_features: usize,
    out_features: usize,
}

impl Q4Correction {
    /// The op for a matrix of `in_features` inputs, checking the constants' types and shapes.
    fn new(side: Arc<Tensor>, adapter_a: Option<Arc<Tensor>>, in_features: usize) -> TractResult<Q4Correction> {
        ensure!(
            in_features > 0 && in_features.is_multiple_of(BLOCK),
            "{OP_TYPE}: {in_features} inputs are not whole blocks"
        );
        let rank = match &adapter_a {
            Some(a) => {
                ensure!(
                    a.datum_type() == f16::datum_type() && a.rank() == 2 && a.shape()[1] == in_features,
                    "{OP_TYPE}: A must be float16 [rank, {in_features}], not {:?} {:?}",
                    a.datum_type(),
                    a.shape()
                );
                a.shape()[0]
            }
            None => 0,
        };
        let side_rows = in_features / BLOCK + rank;
        ensure!(
            side.datum_type() == f16::datum_type() && side.rank() == 2 && side.shape()[0] == side_rows,
            "{OP_TYPE}: the side matrix must be float16 [{side_rows}, out], not {:?} {:?}",
            side.datum_type(),
            side.shape()
        );
        let out_features = side.shape()[1];
        ensure!(out_features > 0, "{OP_TYPE}: a product of no outputs");
        Ok(Q4Correction {
            side,
            adapter_a,
            in_features,
            out_features,
        })
    }

    fn blocks(&self) -> usize {
        self.in_features / BLOCK
    }

    fn side_rows(&self) -> usize {
        self.side.shape()[0]
    }

    /// `y` (rows of `out_features`) plus the correction for `x` (as many rows of `in_features`).
    fn add_to(&self, x: &[f32], y: &mut [f32]) -> TractResult<()> {
        let rows = x.len() / self.in_features;
        ensure!(
            x.len() == rows * self.in_features && y.len() == rows * self.out_features,
            "{OP_TYPE}: {} inputs and {} outputs are not {rows} rows",
            x.len(),
            y.len()
        );
        let side = self.side.try_as_plain_ram()?;
        let side = side.as_slice::<f16>()?;
        let adapter_a = match &self.adapter_a {
            Some(a) => Some(a.try_as_plain_ram()?),
            None => None,
        };
        let adapter_a = match &adapter_a {
            Some(a) => a.as_slice::<f16>()?,
            None => &[],
        };
        let width = self.side_rows();
        let mut inner = vec![0f32; rows * width];
        for (x, inner) in x.chunks_exact(self.in_features).zip(inner.chunks_exact_mut(width)) {
            let (sums, _) = inner.split_at_mut(self.blocks());
            for (sum, block) in sums.iter_mut().zip(x.chunks_exact(BLOCK)) {
                *sum = block.iter().sum();
            }
        }
        if rows == 1 {
            let (_, adapted) = inner.split_at_mut(self.blocks());
            rows_dot_f16(adapter_a, x, adapted);
            add_transposed_product_f16(side, &inner, y);
            return Ok(());
        }
        let blocks = self.blocks();
        let rank = width - blocks;
        if rank > 0 {
            let a = widened(adapter_a);
            let a = ArrayView2::from_shape((rank, self.in_features), &a)?;
            let x = ArrayView2::from_shape((rows, self.in_features), x)?;
            let mut inner = ArrayViewMut2::from_shape((rows, width), &mut inner)?;
            general_mat_mul(
                1.0,
                &x,
                &a.t(),
                0.0,
                &mut inner.slice_mut(tract_ndarray::s![.., blocks..]),
            );
        }
        let side = widened(side);
        let side = ArrayView2::from_shape((width, self.out_features), &side)?;
        let inner = ArrayView2::from_shape((rows, width), &inner)?;
        let mut y = ArrayViewMut2::from_shape((rows, self.out_features), y)?;
        general_mat_mul(1.0, &inner, &side, 1.0, &mut y);
        Ok(())
    }
}

impl Op for Q4Correction {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {}, adapter rank {}",
            self.in_features,
            self.out_features,
            self.side_rows() - self.blocks()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Q4Correction {
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (y, x) = args_2!(inputs);
        let rank = y.rank();
        ensure!(
            rank >= 1
                && x.rank() == rank
                && y.shape()[..rank - 1] == x.shape()[..rank - 1]
                && y.shape()[rank - 1] == self.out_features
                && x.shape()[rank - 1] == self.in_features,
            "{OP_TYPE}: a product {:?} and an input {:?} are not rows of {} and {}",
            y.shape(),
            x.shape(),
            self.out_features,
            self.in_features
        );
        let x = x.try_as_plain_ram()?;
        let mut y = y.into_tensor();
        self.add_to(x.as_slice::<f32>()?, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for Q4Correction {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2, "{OP_TYPE} takes the product and its input");
        ensure!(
            inputs[0].datum_type == f32::datum_type() && inputs[1].datum_type == f32::datum_type(),
            "{OP_TYPE} runs on float32"
        );
        let rank = inputs[0].rank();
        ensure!(
            rank >= 1
                && inputs[1].rank() == rank
                && inputs[0].shape.dims()[..rank - 1] == inputs[1].shape.dims()[..rank - 1]
                && inputs[0].shape.last() == Some(&self.out_features.to_dim())
                && inputs[1].shape.last() == Some(&self.in_features.to_dim()),
            "{OP_TYPE}: rows of a product of {} and of an input of {} expected, got {:?} and {:?}",
            self.out_features,
            self.in_features,
            inputs[0].shape,
            inputs[1].shape
        );
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    /// Rows in, rows out: every axis but the last is the product's, its input's and the
    /// output's alike, so tract may drop, add or slice them (the batch axis; the last layer's
    /// last position) across the op as across an element-wise one.
    fn axes_mapping(&self, inputs: &[&TypedFact], _outputs: &[&TypedFact]) -> TractResult<AxesMapping> {
        let rank = inputs[0].rank();
        let mut letters = 'a'..;
        let mut axes: Vec<Axis> = (0..rank - 1)
            .map(|ix| {
                Axis::new(letters.next().expect("letters"), 2, 1)
                    .input(0, ix)
                    .input(1, ix)
                    .output(0, ix)
            })
            .collect();
        axes.push(Axis::new('O', 2, 1).input(0, rank - 1).output(0, rank - 1));
        axes.push(Axis::new('I', 2, 1).input(1, rank - 1));
        AxesMapping::new(2, 1, axes)
    }

    fn change_axes(
        &self,
        model: &TypedModel,
        node: &TypedNode,
        _io: InOut,
        change: &AxisOp,
    ) -> TractResult<Option<AxisChangeConsequence>> {
        // The rows' values must stay the last, contiguous axis.
        let rank = model.outlet_fact(node.inputs[0])?.rank();
        let new_rank = match change {
            AxisOp::Add(_) => rank + 1,
            AxisOp::Rm(_) => rank - 1,
            AxisOp::Move(..) => rank,
            AxisOp::Reshape(_, from, to) => (rank + to.len()).saturating_sub(from.len()),
        };
        if rank == 0 || change.transform_axis(rank - 1).map(|axis| axis + 1) != Some(new_rank) {
            return Ok(None);
        }
        Ok(Some(AxisChangeConsequence::new(model, node, None, change)))
    }

    fn slice(
        &self,
        patch: &mut TypedModelPatch,
        _model: &TypedModel,
        node: &TypedNode,
        _prefix: &str,
        inputs: &[OutletId],
        output_axis: usize,
        _start: &TDim,
        _end: &TDim,
    ) -> TractResult<Option<TVec<OutletId>>> {
        let rank = patch.outlet_fact(inputs[0])?.rank();
        if output_axis + 1 == rank {
            return Ok(None);
        }
        patch.wire_node(&node.name, self.clone(), inputs).map(Some)
    }

    as_op!();
}

#[cfg(test)]
mod tests;
