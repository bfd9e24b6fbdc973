//! Reader for CTranslate2 `model.bin` files (binary versions 5 and 6), the format faster-whisper
//! ships Whisper weights in. Owns parsing and de-quantisation only; it knows nothing of Whisper's
//! layer names (see `convert`) and never touches the filesystem beyond reading the one file.
//!
//! The whole file is read once and variables borrow from it, so a variable can never claim more
//! bytes than the file holds: every length is checked against what is left before it is used.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::ModelError;
use super::half::{bf16_to_f32, f16_to_f32};

/// The oldest and newest CTranslate2 binary versions this reader understands.
const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 5..=6;
/// A tensor rank above this is certainly corruption (Whisper's largest is 3).
const MAX_RANK: u8 = 8;

/// Element type of a CTranslate2 variable, as stored in its one-byte type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    /// The one-byte type code used in the file.
    pub fn code(self) -> u8 {
        match self {
            Self::F32 => 0,
            Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::F16 => 4,
            Self::Bf16 => 5,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One named variable: its row-major shape, element type and where its bytes lie in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Variable {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: Ct2Dtype,
    bytes: Range<usize>,
}

impl Ct2Variable {
    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the variable holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed `model.bin`: the spec it declares, its variables (by name) and aliases.
#[derive(Debug)]
pub struct Ct2Model {
    pub binary_version: u32,
    pub spec: String,
    pub spec_revision: u32,
    variables: BTreeMap<String, Ct2Variable>,
    aliases: BTreeMap<String, String>,
    file: Vec<u8>,
}

impl Ct2Model {
    /// Reads and parses a `model.bin` file.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let file = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(file)
    }

    /// Parses the bytes of a `model.bin`. The input must be consumed exactly.
    pub fn parse(file: Vec<u8>) -> Result<Self, ModelError> {
        let mut cur = Cursor { buf: &file, pos: 0 };
        let binary_version = cur.u32("binary version")?;
        if !SUPPORTED_VERSIONS.contains(&binary_version) {
            return Err(ModelError::Ct2(format!(
                "unsupported binary version {binary_version} (expected 5 or 6)"
            )));
        }
        let spec = cur.string("spec name")?;
        let spec_revision = cur.u32("spec revision")?;
        let count = cur.u32("variable count")?;
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let var = cur.variable()?;
            if variables.contains_key(&var.name) {
                return Err(ModelError::Ct2(format!(
                    "variable {} appears twice",
                    var.name
                )));
            }
            variables.insert(var.name.clone(), var);
        }
        let alias_count = cur.u32("alias count")?;
        let mut aliases = BTreeMap::new();
        for _ in 0..alias_count {
            let alias = cur.string("alias name")?;
            let target = cur.string("alias target")?;
            aliases.insert(alias, target);
        }
        if cur.pos != file.len() {
            return Err(ModelError::Ct2(format!(
                "{} trailing bytes after the aliases at offset {}",
                file.len() - cur.pos,
                cur.pos
            )));
        }
        Ok(Self {
            binary_version,
            spec,
            spec_revision,
            variables,
            aliases,
            file,
        })
    }

    /// All variables, by name (aliases not included).
    pub fn variables(&self) -> impl Iterator<Item = &Ct2Variable> {
        self.variables.values()
    }

    /// Aliases, alias name to target name.
    pub fn aliases(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }

    /// Looks a variable up by name, following one alias if the name is not a variable itself.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        self.variables.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.variables.get(target))
        })
    }

    /// Like [`Ct2Model::get`], but a missing variable is an error naming it.
    pub fn require(&self, name: &str) -> Result<&Ct2Variable, ModelError> {
        self.get(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    /// The raw little-endian bytes of a variable.
    pub fn raw(&self, var: &Ct2Variable) -> &[u8] {
        // Invariant: `bytes` was bounds-checked against this same buffer when parsed.
        &self.file[var.bytes.clone()]
    }

    /// The variable's values as f32. Integer weights are de-quantised with the sibling
    /// `weight_scale` variable (one scale per output row) when there is one.
    pub fn to_f32(&self, var: &Ct2Variable) -> Result<Vec<f32>, ModelError> {
        let raw = self.raw(var);
        let values: Vec<f32> = match var.dtype {
            Ct2Dtype::F32 => le_chunks::<4>(raw).map(f32::from_le_bytes).collect(),
            Ct2Dtype::F16 => le_chunks::<2>(raw)
                .map(|b| f16_to_f32(u16::from_le_bytes(b)))
                .collect(),
            Ct2Dtype::Bf16 => le_chunks::<2>(raw)
                .map(|b| bf16_to_f32(u16::from_le_bytes(b)))
                .collect(),
            Ct2Dtype::I8 => raw.iter().map(|&b| f32::from(b as i8)).collect(),
            Ct2Dtype::I16 => le_chunks::<2>(raw)
                .map(|b| f32::from(i16::from_le_bytes(b)))
                .collect(),
            Ct2Dtype::I32 => le_chunks::<4>(raw)
                .map(|b| i32::from_le_bytes(b) as f32)
                .collect(),
        };
        match var.dtype {
            Ct2Dtype::I8 | Ct2Dtype::I16 => self.dequantise(var, values),
            _ => Ok(values),
        }
    }

    /// Reads an integer scalar such as `encoder/num_heads` (any integer or float type).
    pub fn scalar_usize(&self, name: &str) -> Result<usize, ModelError> {
        let var = self.require(name)?;
        let raw = self.raw(var);
        let value: i64 = match var.dtype {
            Ct2Dtype::I8 => raw.first().map(|&b| i64::from(b as i8)),
            Ct2Dtype::I16 => le_chunks::<2>(raw)
                .next()
                .map(|b| i64::from(i16::from_le_bytes(b))),
            Ct2Dtype::I32 => le_chunks::<4>(raw)
                .next()
                .map(|b| i64::from(i32::from_le_bytes(b))),
            _ => self.to_f32(var)?.first().map(|&v| v as i64),
        }
        .ok_or_else(|| ModelError::Ct2(format!("{name} is empty")))?;
        usize::try_from(value).map_err(|_| ModelError::Ct2(format!("{name} is negative: {value}")))
    }

    fn dequantise(&self, var: &Ct2Variable, mut values: Vec<f32>) -> Result<Vec<f32>, ModelError> {
        let scale_name = match var.name.strip_suffix("weight") {
            Some(prefix) => format!("{prefix}weight_scale"),
            None => return Ok(values),
        };
        let Some(scale_var) = self.get(&scale_name) else {
            return Err(ModelError::Ct2(format!(
                "{} is quantised but {scale_name} is missing",
                var.name
            )));
        };
        let scales = self.to_f32(scale_var)?;
        let rows = var.shape.first().copied().unwrap_or(1);
        if rows == 0 || !values.len().is_multiple_of(rows) {
            return Err(ModelError::Ct2(format!(
                "{} has no rows to scale",
                var.name
            )));
        }
        let cols = values.len() / rows;
        // One scale per output row, or one for the whole tensor.
        let per_row = match scales.len() {
            n if n == rows => true,
            1 => false,
            n => {
                return Err(ModelError::Ct2(format!(
                    "{scale_name} has {n} scales for {rows} rows"
                )));
            }
        };
        for (row, chunk) in values.chunks_mut(cols).enumerate() {
            let scale = if per_row {
                scales.get(row)
            } else {
                scales.first()
            }
            .copied()
            .unwrap_or(1.0);
            if scale == 0.0 || !scale.is_finite() {
                return Err(ModelError::Ct2(format!(
                    "{scale_name} row {row} is {scale}"
                )));
            }
            for v in chunk {
                *v /= scale;
            }
        }
        Ok(values)
    }
}

/// Iterates fixed-size little-endian chunks; a short tail (impossible after parsing) is ignored.
fn le_chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut b = [0u8; N];
        b.copy_from_slice(c);
        b
    })
}

/// Bounds-checked reader over the file bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<Range<usize>, ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                ModelError::Ct2(format!(
                    "file ends inside {what}: needs {n} bytes at offset {}, {} left",
                    self.pos,
                    self.buf.len().saturating_sub(self.pos)
                ))
            })?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        let range = self.take(N, what)?;
        let mut b = [0u8; N];
        b.copy_from_slice(&self.buf[range]);
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A u16 length (counting a trailing NUL) then that many bytes.
    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let len = usize::from(self.u16(what)?);
        let range = self.take(len, what)?;
        let bytes = &self.buf[range];
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ModelError::Ct2(format!("{what} is not UTF-8 at offset {}", self.pos)))
    }

    fn variable(&mut self) -> Result<Ct2Variable, ModelError> {
        let name = self.string("variable name")?;
        let rank = self.u8("rank")?;
        if rank > MAX_RANK {
            return Err(ModelError::Ct2(format!("{name} has rank {rank}")));
        }
        let mut shape = Vec::with_capacity(usize::from(rank));
        for _ in 0..rank {
            shape.push(self.u32("shape")? as usize);
        }
        let code = self.u8("dtype")?;
        let dtype = Ct2Dtype::from_code(code)
            .ok_or_else(|| ModelError::Ct2(format!("{name} has unknown dtype code {code}")))?;
        let byte_count = self.u32("byte count")? as usize;
        let expected = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| ModelError::Ct2(format!("{name} shape {shape:?} overflows")))?;
        if byte_count != expected {
            return Err(ModelError::Ct2(format!(
                "{name} declares {byte_count} bytes but shape {shape:?} of {dtype:?} needs {expected}"
            )));
        }
        let bytes = self.take(byte_count, &name)?;
        Ok(Ct2Variable {
            name,
            shape,
            dtype,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    fn header(vars: u32) -> Vec<u8> {
        let mut out = 6u32.to_le_bytes().to_vec();
        string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&vars.to_le_bytes());
        out
    }

    fn variable(out: &mut Vec<u8>, name: &str, shape: &[u32], dtype: u8, data: &[u8]) {
        string(out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(dtype);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }

    #[test]
    fn parses_variables_and_aliases() {
        let mut f = header(1);
        let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        variable(&mut f, "a/b", &[2], 0, &data);
        f.extend_from_slice(&1u32.to_le_bytes());
        string(&mut f, "c");
        string(&mut f, "a/b");
        let m = Ct2Model::parse(f).unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        let v = m.get("c").unwrap();
        assert_eq!(m.to_f32(v).unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn dequantises_int8_per_row() {
        let mut f = header(2);
        variable(&mut f, "l/weight", &[2, 2], 1, &[10u8, 20, 4, 8]);
        let scales: Vec<u8> = [10.0f32, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        variable(&mut f, "l/weight_scale", &[2], 0, &scales);
        f.extend_from_slice(&0u32.to_le_bytes());
        let m = Ct2Model::parse(f).unwrap();
        let w = m.to_f32(m.get("l/weight").unwrap()).unwrap();
        assert_eq!(w, vec![1.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn rejects_trailing_bytes_and_short_reads() {
        let mut f = header(0);
        f.extend_from_slice(&0u32.to_le_bytes());
        let mut trailing = f.clone();
        trailing.push(0);
        assert!(Ct2Model::parse(trailing).is_err());
        assert!(Ct2Model::parse(f[..f.len() - 1].to_vec()).is_err());
        // A variable claiming 4 GB must fail on the bounds check, not allocate.
        let mut huge = header(1);
        variable(&mut huge, "x", &[u32::MAX], 0, &[]);
        assert!(Ct2Model::parse(huge).is_err());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut f = header(1);
        variable(&mut f, "v", &[3], 4, &[0, 60, 0, 60, 0, 60]);
        f.extend_from_slice(&0u32.to_le_bytes());
        assert!(Ct2Model::parse(f.clone()).is_ok());
        for len in 0..f.len() {
            assert!(
                Ct2Model::parse(f[..len].to_vec()).is_err(),
                "prefix {len} accepted"
            );
        }
    }
}
