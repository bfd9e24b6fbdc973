//! The examples' embeddings kept on disk between runs, beside the model: a flow's examples
//! change rarely, and embedding several hundred of them costs seconds at every start.
//!
//! Format: `FDEMB2\n`, the model's name and a newline, then per sentence: its length (u32 LE),
//! its UTF-8 bytes, the vector's length (u32 LE) and its f32 LE values. Written to a temporary
//! file and renamed, so a reader never sees half a file.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::Embedding;

/// The file's name in the model's directory.
pub const FILE: &str = "examples.embeddings";
const MAGIC: &[u8] = b"FDEMB2\n";
/// More than any set of flows needs; a file claiming more is not ours.
const MAX_ENTRIES: usize = 200_000;
const MAX_DIMENSIONS: usize = 4096;

/// The embeddings in `path` made by the model `name`, or `None` when there is no such file or
/// it is not one this model wrote.
pub fn read(path: &Path, name: &str) -> Option<HashMap<String, Embedding>> {
    let bytes = std::fs::read(path).ok()?;
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let header = format!("{name}\n");
    rest = rest.strip_prefix(header.as_bytes())?;
    let mut out = HashMap::new();
    while !rest.is_empty() && out.len() < MAX_ENTRIES {
        let (len, r) = take_u32(rest)?;
        let (text, r) = take(r, len)?;
        let (dims, r) = take_u32(r)?;
        if dims > MAX_DIMENSIONS {
            return None;
        }
        let (raw, r) = take(r, dims.checked_mul(4)?)?;
        let vector: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(String::from_utf8(text.to_vec()).ok()?, vector.into());
        rest = r;
    }
    Some(out)
}

/// Writes every embedding in `known` to `path` (atomically).
pub fn write(path: &Path, name: &str, known: &HashMap<String, Embedding>) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(known.len() * (64 + 4 * 384));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(format!("{name}\n").as_bytes());
    for (text, vector) in known.iter().take(MAX_ENTRIES) {
        bytes.extend_from_slice(&len_u32(text.len())?.to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&len_u32(vector.len())?.to_le_bytes());
        for x in vector.iter() {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn len_u32(n: usize) -> std::io::Result<u32> {
    u32::try_from(n).map_err(|_| std::io::Error::other("too long"))
}

fn take_u32(b: &[u8]) -> Option<(usize, &[u8])> {
    let (head, rest) = take(b, 4)?;
    let n = u32::from_le_bytes(head.try_into().ok()?);
    Some((usize::try_from(n).ok()?, rest))
}

fn take(b: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (b.len() >= n).then(|| b.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_back_and_foreign_files_are_ignored() {
        let dir = std::env::temp_dir().join(format!("fd-embed-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        let mut known: HashMap<String, Embedding> = HashMap::new();
        known.insert("my bin was missed".into(), vec![0.6f32, 0.8].into());
        known.insert("pay my bill".into(), vec![1.0f32, 0.0].into());
        write(&path, "model-a", &known).unwrap();
        assert_eq!(read(&path, "model-a"), Some(known));
        assert_eq!(
            read(&path, "model-b"),
            None,
            "another model's vectors are not used"
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path, "model-a"), None, "a torn file is not used");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
