//! A decode step's 4-bit matrix products on the engine's own kernel (x86_64 with AVX2).
//!
//! After `into_optimized()` each 4-bit matrix of a `q4` bundle is one tract `OptMatMul` holding
//! its Q4_0 weights packed in panels of 32 rows, with two kernels: the 32x1 matrix-vector kernel
//! for a single token, the 32x3 one (with the engine's panel extractor, `block_quant.rs`) for a
//! prompt. The 32x1 kernel widens every code to float32 before its multiply-add, ~30 µops per 32
//! weights: 15 ms of a 29.4 ms decode step on the default model (`op_profile`, docs/PERFORMANCE.md).
//! [`wrap_q4_matmuls`] puts a [`Q4Gemv`] in place of each such op: a pass of one token goes
//! through `kernel.rs` (the block's scale applied once per block instead of once per weight,
//! tract's packed bytes read in place: no second copy of the weights), any other pass through
//! the wrapped op unchanged. Only ops in exactly the form this module knows are wrapped (one
//! product of a constant Q4_0 matrix in tract's x86_64 packing, stored as it is); anything else
//! stays tract's.

mod kernel;

use tract_linalg::block_quant::PackedBlockQuantFormat;
use tract_linalg::mmm::{EagerPackedInput, MMMInputValue, PackedMatrixStorage};
use tract_linalg::pack::PackedFormat;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::matmul::optimized::{AddMatMulGeometry, MatMulOperand, OptMatMul, ProtoFusedSpec};

pub(crate) use kernel::supported;

/// A tract `OptMatMul` of a constant Q4_0 matrix whose single-column products run on
/// `kernel.rs`; the rest on the wrapped op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Q4Gemv {
    inner: OptMatMul,
}

impl Q4Gemv {
    /// The constant matrix of `op` and how C maps to it, when `op` is one product of it and a
    /// store.
    fn constant_weights(op: &OptMatMul) -> Option<(&AddMatMulGeometry, &EagerPackedInput)> {
        let [
            ProtoFusedSpec::AddMatMul {
                geo,
                a: MatMulOperand::Const(a),
                b: MatMulOperand::Input(0),
                ..
            },
            ProtoFusedSpec::Store(_),
        ] = &op.micro_ops[..]
        else {
            return None;
        };
        Some((geo, a.downcast_ref::<EagerPackedInput>()?))
    }

    /// Whether `op` is in the form this module runs (checked once, when wrapping).
    fn runs(op: &OptMatMul) -> bool {
        let Some((geo, a)) = Self::constant_weights(op) else {
            return false;
        };
        a.format()
            .downcast_ref::<PackedBlockQuantFormat>()
            .is_some_and(|format| *format == tract_linalg::x86_64::mmm::pq40_r32())
            && a.k().is_multiple_of(kernel::BLOCK)
            && a.panel_bytes == a.k() / kernel::BLOCK * kernel::RECORD_BYTES
            && a.packed.as_bytes().len() >= a.mn().div_ceil(kernel::PANEL_ROWS) * a.panel_bytes
            && geo.c_to_a_axis_mapping.0.is_empty()
            && geo.c_to_b_axis_mapping.0.is_empty()
            && op.c_fact.datum_type == f32::datum_type()
            && op.c_m_axis.is_some_and(|axis| op.c_fact.shape[axis] == a.mn().to_dim())
    }

    /// The product of one column on the engine's kernel, or `None` when the pass is not one
    /// column of f32 values packed as tract packs a single column.
    fn single_column(&self, c_shape: &[usize], inputs: &[TValue]) -> TractResult<Option<Tensor>> {
        let m_axis = self.inner.c_m_axis;
        let one_column = c_shape
            .iter()
            .enumerate()
            .all(|(axis, &size)| size == 1 || Some(axis) == m_axis);
        let Some((_, weights)) = Self::constant_weights(&self.inner).filter(|_| one_column) else {
            return Ok(None);
        };
        let Ok(column) = inputs[0].try_storage_as::<PackedMatrixStorage>() else {
            return Ok(None);
        };
        let [column] = column.values() else {
            return Ok(None);
        };
        let Some(column) = column.downcast_ref::<EagerPackedInput>() else {
            return Ok(None);
        };
        let plain_column = column
            .format()
            .downcast_ref::<PackedFormat>()
            .is_some_and(|f| f.dt == f32::datum_type() && f.r == 1);
        if !plain_column || column.mn() != 1 || column.k() != weights.k() {
            return Ok(None);
        }
        let x: Vec<f32> = column.packed.as_bytes()[..4 * column.k()]
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let mut y = vec![0f32; weights.mn()];
        kernel::gemv(weights.packed.as_bytes(), &x, &mut y);
        Ok(Some(Tensor::from_shape(c_shape, &y)?))
    }
}

impl Op for Q4Gemv {
    fn name(&self) -> StaticName {
        "Q4Gemv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        self.inner.info()
    }

    op_as_typed_op!();
}

impl EvalOp for Q4Gemv {
    not_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let c_shape = self.inner.c_fact.shape.eval_to_usize(ctx.symbols)?;
        match self.single_column(&c_shape, &inputs)? {
            Some(product) => Ok(tvec!(product.into_tvalue())),
            None => self.inner.eval(ctx, inputs),
        }
    }

    fn drop_session(&self, session: SessionId, node_id: usize) {
        // The wrapped op keeps per-session scratch for the passes it runs.
        self.inner.drop_session(session, node_id)
    }
}

impl TypedOp for Q4Gemv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.inner.output_facts(inputs)
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        self.inner.cost(inputs)
    }

    as_op!();
}

/// Puts a [`Q4Gemv`] in place of every `OptMatMul` of the optimised `model` in the form it runs,
/// when this CPU has AVX2, FMA and F16C. Returns how many were wrapped.
pub fn wrap_q4_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    if !kernel::supported() {
        return Ok(0);
    }
    let wrappable: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| node.op_as::<OptMatMul>().is_some_and(Q4Gemv::runs))
        .map(|node| node.id)
        .collect();
    for &id in &wrappable {
        let node = model.node(id);
        let inner = node.op_as::<OptMatMul>().expect("filtered above").clone();
        TypedModelPatch::replace_single_op(model, node, &node.inputs, Q4Gemv { inner })?.apply(model)?;
    }
    Ok(wrappable.len())
}
