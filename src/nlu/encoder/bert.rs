//! A BERT sentence encoder on the CPU (candle): the all-MiniLM-L6-v2 architecture, token
//! embeddings mean-pooled over the sentence and scaled to unit length, as sentence-transformers
//! computes them. Only the forward pass an encoder needs: no heads, no dropout, no training.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use tokenizers::{Tokenizer, TruncationParams};

use super::{EncoderError, SentenceEncoder};

/// Longest input in tokens; the model was trained on sentences of at most 128 word pieces and a
/// caller's answer is rarely a quarter of that.
const MAX_TOKENS: usize = 128;

/// The fields of Hugging Face's `config.json` the forward pass needs.
#[derive(Debug, Clone, serde::Deserialize)]
struct BertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    hidden_act: String,
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A loaded BERT encoder with its tokenizer.
#[derive(Debug)]
pub struct BertEncoder {
    tokenizer: Tokenizer,
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    max_positions: usize,
    name: String,
}

fn model(e: candle_core::Error) -> EncoderError {
    EncoderError::Model(e.to_string())
}

impl BertEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<BertEncoder, EncoderError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| EncoderError::Io {
            path: config_path.clone(),
            source: e,
        })?;
        let config: BertConfig = serde_json::from_str(&text)
            .map_err(|e| EncoderError::Model(format!("{}: {e}", config_path.display())))?;
        // Hugging Face's "gelu" is the exact (erf) form.
        if config.hidden_act != "gelu" {
            return Err(EncoderError::Model(format!(
                "activation {:?} is not supported (expected gelu)",
                config.hidden_act
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(EncoderError::Model(
                "hidden size is not a multiple of the attention heads".into(),
            ));
        }
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| EncoderError::Model(format!("tokenizer.json: {e}")))?;
        // The packaged tokenizer pads every input to 128 tokens: a ten-word answer would cost
        // as much as a paragraph. Sentences are encoded alone or padded here, per batch.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| EncoderError::Model(format!("tokenizer.json: {e}")))?;
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| EncoderError::Io {
            path: weights.clone(),
            source: e,
        })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(model)?;
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let e = vb.pp("embeddings");
        let words = embedding(config.vocab_size, h, e.pp("word_embeddings")).map_err(model)?;
        let positions = embedding(
            config.max_position_embeddings,
            h,
            e.pp("position_embeddings"),
        )
        .map_err(model)?;
        let token_types =
            embedding(config.type_vocab_size, h, e.pp("token_type_embeddings")).map_err(model)?;
        let embedding_norm = layer_norm(h, eps, e.pp("LayerNorm")).map_err(model)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention");
                Ok(Layer {
                    query: linear(h, h, a.pp("self.query"))?,
                    key: linear(h, h, a.pp("self.key"))?,
                    value: linear(h, h, a.pp("self.value"))?,
                    attention_out: linear(h, h, a.pp("output.dense"))?,
                    attention_norm: layer_norm(h, eps, a.pp("output.LayerNorm"))?,
                    intermediate: linear(h, config.intermediate_size, l.pp("intermediate.dense"))?,
                    output: linear(config.intermediate_size, h, l.pp("output.dense"))?,
                    output_norm: layer_norm(h, eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, candle_core::Error>>()
            .map_err(model)?;
        Ok(BertEncoder {
            tokenizer,
            words,
            positions,
            token_types,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            head_size: h / config.num_attention_heads,
            max_positions: config.max_position_embeddings.min(MAX_TOKENS),
            name: dir
                .file_name()
                .map_or_else(|| "bert".into(), |n| n.to_string_lossy().into_owned()),
        })
    }

    /// Token ids of one sentence, with the model's [CLS] and [SEP].
    fn token_ids(&self, text: &str) -> Result<Vec<u32>, EncoderError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EncoderError::Model(format!("tokenising: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        ids.truncate(self.max_positions);
        Ok(ids)
    }

    /// Hidden states for a padded batch: `ids` and `mask` are `(batch, len)`.
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let mut x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?
            .broadcast_add(&self.token_types.forward(&ids.zeros_like()?)?)?;
        x = self.embedding_norm.forward(&x)?;
        // Padding is never attended to: a large negative bias before the softmax.
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((batch, 1, 1, len))?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((batch, len, self.heads, self.head_size))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((
                batch,
                len,
                self.heads * self.head_size,
            ))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        // Mean over the real tokens, then unit length (sentence-transformers' pooling and
        // normalisation for this model).
        let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = x.broadcast_mul(&weights)?.sum(1)?;
        let pooled = summed.broadcast_div(&weights.sum(1)?)?;
        let norm = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        pooled.broadcast_div(&norm.clamp(1e-12, f64::MAX)?)
    }
}

impl SentenceEncoder for BertEncoder {
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let all = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        let len = all.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(all.len() * len);
        let mut mask = Vec::with_capacity(all.len() * len);
        for sentence in &all {
            for i in 0..len {
                let id = sentence.get(i).copied();
                ids.push(id.unwrap_or(0));
                mask.push(u32::from(id.is_some()));
            }
        }
        let shape = (all.len(), len);
        let ids = Tensor::from_vec(ids, shape, &Device::Cpu).map_err(model)?;
        let mask = Tensor::from_vec(mask, shape, &Device::Cpu).map_err(model)?;
        self.forward(&ids, &mask)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(model)
    }

    fn name(&self) -> &str {
        &self.name
    }
}
