//! The whisper.cpp model file ("ggml" legacy format): writer, and a bounds-checked inspector used
//! to verify what was written. Knows the file layout only; which tensors a Whisper model has is
//! `convert`'s business.
//!
//! Layout: magic, 11 i32 hyperparameters, the mel filterbank, the regular vocabulary, then
//! tensors (i32 n_dims, i32 name length, i32 type, dims innermost first, name, data).

use std::io::Write;
use std::ops::Range;

use super::ModelError;
use super::mel::MelFilterbank;

/// `ggml` in ASCII, read as a little-endian u32 by whisper.cpp.
pub const MAGIC: u32 = 0x6767_6d6c;

/// Whisper hyperparameters in the order the file stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    /// 1 = weights stored as f16.
    pub ftype: i32,
}

impl WhisperHparams {
    fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(a: [i32; 11]) -> Self {
        let [
            n_vocab,
            n_audio_ctx,
            n_audio_state,
            n_audio_head,
            n_audio_layer,
            n_text_ctx,
            n_text_state,
            n_text_head,
            n_text_layer,
            n_mels,
            ftype,
        ] = a;
        Self {
            n_vocab,
            n_audio_ctx,
            n_audio_state,
            n_audio_head,
            n_audio_layer,
            n_text_ctx,
            n_text_state,
            n_text_head,
            n_text_layer,
            n_mels,
            ftype,
        }
    }
}

/// Tensor element type codes of the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
}

impl GgmlType {
    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

/// Tensor data ready to write: f32 values or f16 bits.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F16(v) => v.len(),
        }
    }

    fn ggml_type(&self) -> GgmlType {
        match self {
            Self::F32(_) => GgmlType::F32,
            Self::F16(_) => GgmlType::F16,
        }
    }
}

/// One named tensor with its row-major (PyTorch-order) shape.
#[derive(Debug, Clone, PartialEq)]
pub struct GgmlTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// Streams a whisper.cpp model file: header first, then tensors one at a time, so a whole model
/// never has to be held converted in memory.
pub struct GgmlWriter<W: Write> {
    out: W,
    bytes: u64,
}

impl<W: Write> GgmlWriter<W> {
    /// Writes magic, hyperparameters, mel filterbank and vocabulary.
    pub fn start(
        out: W,
        hparams: &WhisperHparams,
        mel: &MelFilterbank,
        vocab: &[Vec<u8>],
    ) -> Result<Self, ModelError> {
        let mut w = Self { out, bytes: 0 };
        w.put(&MAGIC.to_le_bytes())?;
        for v in hparams.to_array() {
            w.i32(v)?;
        }
        w.i32(to_i32(mel.n_mels, "n_mels")?)?;
        w.i32(to_i32(mel.n_freqs, "mel bins")?)?;
        for v in &mel.weights {
            w.put(&v.to_le_bytes())?;
        }
        w.i32(to_i32(vocab.len(), "vocabulary size")?)?;
        for token in vocab {
            w.i32(to_i32(token.len(), "token length")?)?;
            w.put(token)?;
        }
        Ok(w)
    }

    /// Appends one tensor. Dimensions are written innermost first (reverse of `shape`).
    pub fn tensor(&mut self, tensor: &GgmlTensor) -> Result<(), ModelError> {
        let elements: usize = tensor.shape.iter().product();
        if elements != tensor.data.len() {
            return Err(ModelError::Convert(format!(
                "{}: shape {:?} has {elements} elements but data has {}",
                tensor.name,
                tensor.shape,
                tensor.data.len()
            )));
        }
        let name = tensor.name.as_bytes();
        self.i32(to_i32(tensor.shape.len(), "n_dims")?)?;
        self.i32(to_i32(name.len(), "name length")?)?;
        self.i32(tensor.data.ggml_type() as i32)?;
        for &d in tensor.shape.iter().rev() {
            self.i32(to_i32(d, "dimension")?)?;
        }
        self.put(name)?;
        match &tensor.data {
            TensorData::F32(v) => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                self.put(&bytes)
            }
            TensorData::F16(v) => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                self.put(&bytes)
            }
        }
    }

    /// Flushes and returns the sink and the number of bytes written.
    pub fn finish(mut self) -> Result<(W, u64), ModelError> {
        self.out.flush().map_err(ModelError::Write)?;
        Ok((self.out, self.bytes))
    }

    fn i32(&mut self, v: i32) -> Result<(), ModelError> {
        self.put(&v.to_le_bytes())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ModelError> {
        self.out.write_all(bytes).map_err(ModelError::Write)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

fn to_i32(v: usize, what: &str) -> Result<i32, ModelError> {
    i32::try_from(v).map_err(|_| ModelError::Convert(format!("{what} {v} does not fit an i32")))
}

/// A tensor entry found by [`GgmlFile::parse`]: dims as stored (innermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlTensorInfo {
    pub name: String,
    pub dims: Vec<usize>,
    pub ggml_type: GgmlType,
    pub data: Range<usize>,
}

/// The parsed structure of a whisper.cpp model file (data stays in the caller's buffer).
#[derive(Debug, Clone, PartialEq)]
pub struct GgmlFile {
    pub hparams: WhisperHparams,
    pub mel: MelFilterbank,
    pub vocab: Vec<Vec<u8>>,
    pub tensors: Vec<GgmlTensorInfo>,
}

impl GgmlFile {
    /// Parses and checks a whole model file; trailing or missing bytes are errors.
    pub fn parse(buf: &[u8]) -> Result<Self, ModelError> {
        let mut r = Reader { buf, pos: 0 };
        if r.u32()? != MAGIC {
            return Err(ModelError::Ggml("bad magic".into()));
        }
        let mut h = [0i32; 11];
        for v in &mut h {
            *v = r.i32()?;
        }
        let hparams = WhisperHparams::from_array(h);
        let n_mels = r.len("n_mels")?;
        let n_freqs = r.len("mel bins")?;
        let count = n_mels
            .checked_mul(n_freqs)
            .ok_or_else(|| ModelError::Ggml("mel size overflows".into()))?;
        let mel_bytes = r.take(count.saturating_mul(4))?;
        let weights = buf[mel_bytes]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let n_vocab = r.len("vocabulary size")?;
        let mut vocab = Vec::new();
        for _ in 0..n_vocab {
            let len = r.len("token length")?;
            vocab.push(buf[r.take(len)?].to_vec());
        }
        let mut tensors = Vec::new();
        while r.pos < buf.len() {
            let n_dims = r.len("n_dims")?;
            if n_dims > 4 {
                return Err(ModelError::Ggml(format!("tensor with {n_dims} dims")));
            }
            let name_len = r.len("name length")?;
            let ggml_type = match r.i32()? {
                0 => GgmlType::F32,
                1 => GgmlType::F16,
                t => return Err(ModelError::Ggml(format!("unsupported tensor type {t}"))),
            };
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                dims.push(r.len("dimension")?);
            }
            let name = String::from_utf8(buf[r.take(name_len)?].to_vec())
                .map_err(|_| ModelError::Ggml("tensor name is not UTF-8".into()))?;
            let bytes = dims
                .iter()
                .try_fold(ggml_type.size(), |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| ModelError::Ggml(format!("{name} size overflows")))?;
            let data = r.take(bytes)?;
            tensors.push(GgmlTensorInfo {
                name,
                dims,
                ggml_type,
                data,
            });
        }
        Ok(Self {
            hparams,
            mel: MelFilterbank {
                n_mels,
                n_freqs,
                weights,
            },
            vocab,
            tensors,
        })
    }

    /// Finds a tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&GgmlTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<Range<usize>, ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                ModelError::Ggml(format!("file ends inside a field at offset {}", self.pos))
            })?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let r = self.take(4)?;
        let b = &self.buf[r];
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, ModelError> {
        self.u32().map(|v| v as i32)
    }

    fn len(&mut self, what: &str) -> Result<usize, ModelError> {
        let v = self.i32()?;
        usize::try_from(v).map_err(|_| ModelError::Ggml(format!("{what} is negative: {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_parses_back() {
        let h = WhisperHparams {
            n_vocab: 3,
            n_audio_ctx: 2,
            n_audio_state: 4,
            n_audio_head: 1,
            n_audio_layer: 1,
            n_text_ctx: 2,
            n_text_state: 4,
            n_text_head: 1,
            n_text_layer: 1,
            n_mels: 2,
            ftype: 1,
        };
        let mel = MelFilterbank {
            n_mels: 2,
            n_freqs: 3,
            weights: vec![0.5; 6],
        };
        let vocab = vec![b"a".to_vec(), b" bc".to_vec()];
        let mut w = GgmlWriter::start(Vec::new(), &h, &mel, &vocab).unwrap();
        let t = GgmlTensor {
            name: "x.weight".into(),
            shape: vec![2, 3],
            data: TensorData::F16(vec![1, 2, 3, 4, 5, 6]),
        };
        w.tensor(&t).unwrap();
        let (buf, n) = w.finish().unwrap();
        assert_eq!(n as usize, buf.len());
        let f = GgmlFile::parse(&buf).unwrap();
        assert_eq!(f.hparams, h);
        assert_eq!(f.mel, mel);
        assert_eq!(f.vocab, vocab);
        let info = f.tensor("x.weight").unwrap();
        assert_eq!(info.dims, vec![3, 2]);
        assert_eq!(
            &buf[info.data.clone()],
            &[1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]
        );
        for len in 0..buf.len() - 1 {
            let _ = GgmlFile::parse(&buf[..len]);
        }
        assert!(GgmlFile::parse(&buf[..buf.len() - 1]).is_err());
    }
}
