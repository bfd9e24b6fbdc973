//! CTranslate2 Whisper → whisper.cpp conversion: derives the hyperparameters from tensor shapes,
//! maps CTranslate2 variable names onto whisper.cpp's tensor names (splitting the fused Q/K/V and
//! K/V projections, dropping the key bias whisper.cpp does not have) and streams the result
//! through [`GgmlWriter`]. Tensors are written in PyTorch `state_dict` order, the order of
//! OpenAI's checkpoints and of whisper.cpp's own converter.

use std::io::Write;

use super::ModelError;
use super::ct2::{Ct2Dtype, Ct2Model, Ct2Variable};
use super::ggml::{GgmlTensor, GgmlType, GgmlWriter, TensorData, WhisperHparams};
use super::half::f32_to_f16;
use super::mel::MelFilterbank;
use super::vocab::regular_tokens;

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionSummary {
    pub hparams: WhisperHparams,
    pub tensors: usize,
    pub bytes: u64,
}

/// Converts a parsed CTranslate2 Whisper model plus its `vocabulary.txt` text into a whisper.cpp
/// model file written to `out`.
pub fn convert<W: Write>(
    model: &Ct2Model,
    vocabulary: &str,
    out: W,
) -> Result<(W, ConversionSummary), ModelError> {
    if model.spec != "WhisperSpec" {
        return Err(ModelError::Convert(format!(
            "spec is {:?}, not WhisperSpec",
            model.spec
        )));
    }
    let hparams = derive_hparams(model)?;
    let vocab = regular_tokens(vocabulary)?;
    if vocab.len() >= hparams.n_vocab as usize {
        return Err(ModelError::Convert(format!(
            "vocabulary.txt has {} regular tokens but the embedding has only {} rows",
            vocab.len(),
            hparams.n_vocab
        )));
    }
    let mel = MelFilterbank::whisper(hparams.n_mels as usize);
    let mut writer = GgmlWriter::start(out, &hparams, &mel, &vocab)?;
    let plan = tensor_plan(&hparams);
    for entry in &plan {
        writer.tensor(&entry.build(model)?)?;
    }
    let (out, bytes) = writer.finish()?;
    Ok((
        out,
        ConversionSummary {
            hparams,
            tensors: plan.len(),
            bytes,
        },
    ))
}

/// Reads the hyperparameters off the tensor shapes (nothing is taken from config files).
pub fn derive_hparams(model: &Ct2Model) -> Result<WhisperHparams, ModelError> {
    let dims = |name: &str, rank: usize| -> Result<Vec<usize>, ModelError> {
        let v = model.require(name)?;
        if v.shape.len() != rank {
            return Err(ModelError::Convert(format!(
                "{name} has shape {:?}, expected rank {rank}",
                v.shape
            )));
        }
        Ok(v.shape.clone())
    };
    let i = |v: usize, what: &str| {
        i32::try_from(v).map_err(|_| ModelError::Convert(format!("{what} {v} too large")))
    };
    let audio_pos = dims("encoder/position_encodings/encodings", 2)?;
    let text_pos = dims("decoder/position_encodings/encodings", 2)?;
    let embedding = dims("decoder/embeddings/weight", 2)?;
    let conv1 = dims("encoder/conv1/weight", 3)?;
    if embedding[1] != text_pos[1] {
        return Err(ModelError::Convert(
            "token embedding and decoder positions differ in width".into(),
        ));
    }
    Ok(WhisperHparams {
        n_vocab: i(embedding[0], "n_vocab")?,
        n_audio_ctx: i(audio_pos[0], "n_audio_ctx")?,
        n_audio_state: i(audio_pos[1], "n_audio_state")?,
        n_audio_head: i(model.scalar_usize("encoder/num_heads")?, "n_audio_head")?,
        n_audio_layer: i(layer_count(model, "encoder")?, "n_audio_layer")?,
        n_text_ctx: i(text_pos[0], "n_text_ctx")?,
        n_text_state: i(text_pos[1], "n_text_state")?,
        n_text_head: i(model.scalar_usize("decoder/num_heads")?, "n_text_head")?,
        n_text_layer: i(layer_count(model, "decoder")?, "n_text_layer")?,
        n_mels: i(conv1[1], "n_mels")?,
        ftype: 1,
    })
}

/// Counts `{stack}/layer_N/` prefixes and checks they run 0..N without gaps.
fn layer_count(model: &Ct2Model, stack: &str) -> Result<usize, ModelError> {
    let prefix = format!("{stack}/layer_");
    let mut seen = std::collections::BTreeSet::new();
    for v in model.variables() {
        if let Some(rest) = v.name.strip_prefix(&prefix) {
            // `encoder/layer_norm/...` shares the prefix; only numbered layers count.
            if let Some(n) = rest.split('/').next().and_then(|n| n.parse::<usize>().ok()) {
                seen.insert(n);
            }
        }
    }
    let count = seen.len();
    if count == 0 || seen.iter().copied().ne(0..count) {
        return Err(ModelError::Convert(format!(
            "{stack} layers are not numbered 0..{count}: {seen:?}"
        )));
    }
    Ok(count)
}

/// Which part of a CTranslate2 variable becomes one whisper.cpp tensor.
#[derive(Debug, Clone)]
struct PlanEntry {
    ggml_name: String,
    ct2_name: String,
    /// `(index, parts)`: take row block `index` of `parts` equal blocks (fused projections).
    part: Option<(usize, usize)>,
    ggml_type: GgmlType,
    /// Conv biases are stored (n, 1) in whisper.cpp.
    as_column: bool,
}

impl PlanEntry {
    fn build(&self, model: &Ct2Model) -> Result<GgmlTensor, ModelError> {
        let var = model.require(&self.ct2_name)?;
        let mut shape = var.shape.clone();
        let rows = shape.first().copied().unwrap_or(1);
        let (index, parts) = self.part.unwrap_or((0, 1));
        if !rows.is_multiple_of(parts) {
            return Err(ModelError::Convert(format!(
                "{} has {rows} rows, not divisible by {parts}",
                var.name
            )));
        }
        let part_rows = rows / parts;
        if let Some(first) = shape.first_mut() {
            *first = part_rows;
        }
        let row_len: usize = var.shape.iter().skip(1).product();
        let elements = index * part_rows * row_len..(index + 1) * part_rows * row_len;
        let data = match self.ggml_type {
            GgmlType::F16 => TensorData::F16(f16_bits(model, var, elements)?),
            GgmlType::F32 => {
                let values = model.to_f32(var)?;
                TensorData::F32(values.get(elements).map(<[f32]>::to_vec).ok_or_else(|| {
                    ModelError::Convert(format!("{} is shorter than its shape", var.name))
                })?)
            }
        };
        if self.as_column {
            shape.push(1);
        }
        if shape.is_empty() {
            shape.push(1);
        }
        Ok(GgmlTensor {
            name: self.ggml_name.clone(),
            shape,
            data,
        })
    }
}

/// f16 bits of a range of elements; f16 sources are copied bit for bit.
fn f16_bits(
    model: &Ct2Model,
    var: &Ct2Variable,
    elements: std::ops::Range<usize>,
) -> Result<Vec<u16>, ModelError> {
    let short = || ModelError::Convert(format!("{} is shorter than its shape", var.name));
    if var.dtype == Ct2Dtype::F16 {
        let raw = model
            .raw(var)
            .get(elements.start * 2..elements.end * 2)
            .ok_or_else(short)?;
        return Ok(raw
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect());
    }
    let values = model.to_f32(var)?;
    Ok(values
        .get(elements)
        .ok_or_else(short)?
        .iter()
        .map(|&v| f32_to_f16(v))
        .collect())
}

/// The full list of tensors, in PyTorch `state_dict` order.
fn tensor_plan(h: &WhisperHparams) -> Vec<PlanEntry> {
    let mut plan = Vec::new();
    let mut add =
        |ggml: String, ct2: String, part: Option<(usize, usize)>, ty: GgmlType, col: bool| {
            plan.push(PlanEntry {
                ggml_name: ggml,
                ct2_name: ct2,
                part,
                ggml_type: ty,
                as_column: col,
            });
        };
    use GgmlType::{F16, F32};
    add(
        "encoder.positional_embedding".into(),
        "encoder/position_encodings/encodings".into(),
        None,
        F32,
        false,
    );
    for conv in ["conv1", "conv2"] {
        add(
            format!("encoder.{conv}.weight"),
            format!("encoder/{conv}/weight"),
            None,
            F16,
            false,
        );
        add(
            format!("encoder.{conv}.bias"),
            format!("encoder/{conv}/bias"),
            None,
            F32,
            true,
        );
    }
    for n in 0..h.n_audio_layer {
        let (g, c) = (format!("encoder.blocks.{n}"), format!("encoder/layer_{n}"));
        attention(
            &mut add,
            &format!("{g}.attn"),
            &format!("{c}/self_attention"),
            true,
        );
        norm(
            &mut add,
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
        );
        mlp(&mut add, &g, &c);
    }
    norm(&mut add, "encoder.ln_post", "encoder/layer_norm");
    add(
        "decoder.positional_embedding".into(),
        "decoder/position_encodings/encodings".into(),
        None,
        F32,
        false,
    );
    add(
        "decoder.token_embedding.weight".into(),
        "decoder/embeddings/weight".into(),
        None,
        F16,
        false,
    );
    for n in 0..h.n_text_layer {
        let (g, c) = (format!("decoder.blocks.{n}"), format!("decoder/layer_{n}"));
        attention(
            &mut add,
            &format!("{g}.attn"),
            &format!("{c}/self_attention"),
            true,
        );
        norm(
            &mut add,
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
        );
        attention(
            &mut add,
            &format!("{g}.cross_attn"),
            &format!("{c}/attention"),
            false,
        );
        norm(
            &mut add,
            &format!("{g}.cross_attn_ln"),
            &format!("{c}/attention/layer_norm"),
        );
        mlp(&mut add, &g, &c);
    }
    norm(&mut add, "decoder.ln", "decoder/layer_norm");
    plan
}

type Add<'a> = dyn FnMut(String, String, Option<(usize, usize)>, GgmlType, bool) + 'a;

/// Query, key, value and output projections. Self-attention fuses Q, K, V in `linear_0`;
/// cross-attention has the query in `linear_0` and fuses K, V in `linear_1`. The key has no
/// bias in Whisper (and so none in whisper.cpp): that block of the fused bias is dropped.
fn attention(add: &mut Add<'_>, g: &str, c: &str, fused_qkv: bool) {
    use GgmlType::{F16, F32};
    let (q, k, v, out) = if fused_qkv {
        let fused = format!("{c}/linear_0");
        (
            (fused.clone(), Some((0, 3))),
            (fused.clone(), Some((1, 3))),
            (fused, Some((2, 3))),
            format!("{c}/linear_1"),
        )
    } else {
        let kv = format!("{c}/linear_1");
        (
            (format!("{c}/linear_0"), None),
            (kv.clone(), Some((0, 2))),
            (kv, Some((1, 2))),
            format!("{c}/linear_2"),
        )
    };
    add(
        format!("{g}.query.weight"),
        format!("{}/weight", q.0),
        q.1,
        F16,
        false,
    );
    add(
        format!("{g}.query.bias"),
        format!("{}/bias", q.0),
        q.1,
        F32,
        false,
    );
    add(
        format!("{g}.key.weight"),
        format!("{}/weight", k.0),
        k.1,
        F16,
        false,
    );
    add(
        format!("{g}.value.weight"),
        format!("{}/weight", v.0),
        v.1,
        F16,
        false,
    );
    add(
        format!("{g}.value.bias"),
        format!("{}/bias", v.0),
        v.1,
        F32,
        false,
    );
    add(
        format!("{g}.out.weight"),
        format!("{out}/weight"),
        None,
        F16,
        false,
    );
    add(
        format!("{g}.out.bias"),
        format!("{out}/bias"),
        None,
        F32,
        false,
    );
}

fn norm(add: &mut Add<'_>, g: &str, c: &str) {
    add(
        format!("{g}.weight"),
        format!("{c}/gamma"),
        None,
        GgmlType::F32,
        false,
    );
    add(
        format!("{g}.bias"),
        format!("{c}/beta"),
        None,
        GgmlType::F32,
        false,
    );
}

fn mlp(add: &mut Add<'_>, g: &str, c: &str) {
    use GgmlType::{F16, F32};
    add(
        format!("{g}.mlp.0.weight"),
        format!("{c}/ffn/linear_0/weight"),
        None,
        F16,
        false,
    );
    add(
        format!("{g}.mlp.0.bias"),
        format!("{c}/ffn/linear_0/bias"),
        None,
        F32,
        false,
    );
    add(
        format!("{g}.mlp.2.weight"),
        format!("{c}/ffn/linear_1/weight"),
        None,
        F16,
        false,
    );
    add(
        format!("{g}.mlp.2.bias"),
        format!("{c}/ffn/linear_1/bias"),
        None,
        F32,
        false,
    );
    norm(add, &format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"));
}
