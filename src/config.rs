//! `frontdoor.yaml`, overridden by `FRONTDOOR_*` environment variables and command-line flags.
//!
//! Every key has a default, so an empty file (or none at all) gives a server that answers on
//! 127.0.0.1:5060 with the council flow. Precedence, lowest first: built-in default, the YAML
//! file, `FRONTDOOR_*` environment variables, command-line flags (clap merges the last two).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors reading or checking the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// An IPv4 or IPv6 network in CIDR notation, e.g. `127.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpNet {
    /// Whether `ip` lies inside this network. IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix_len.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix_len.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0-{max}"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix_len })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive UDP port range for RTP, e.g. `20000-29999`. RTP uses the even port and RTCP the
/// next odd one (RFC 3550 §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// How many RTP/RTCP pairs fit.
    pub fn pairs(&self) -> usize {
        let low = self.low + (self.low % 2);
        if self.high <= low {
            return 0;
        }
        usize::from(self.high - low).div_ceil(2)
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (l, h) = s
            .split_once('-')
            .ok_or_else(|| format!("`{s}`: expected LOW-HIGH"))?;
        let low: u16 = l
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad low port"))?;
        let high: u16 = h
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad high port"))?;
        if low == 0 || high <= low {
            return Err(format!("`{s}`: need 0 < LOW < HIGH"));
        }
        Ok(PortRange { low, high })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A party Frontdoor may call (advisor queues). Nothing in a SIP request can add to this list:
/// Frontdoor never dials a number a caller chose (no toll fraud).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundTarget {
    /// Name used by flows (`transfer: { queue: advisors }`).
    pub name: String,
    /// SIP URI to call, e.g. `sip:agent@127.0.0.1:5070`.
    pub uri: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Where cases and call records are kept, and which CRM they are delivered to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CasesConfig {
    /// `sqlite` (embedded, a file under `data`) or `postgres` (shared by several instances).
    pub store: StoreKind,
    /// Connection string when `store: postgres`, e.g. `host=127.0.0.1 port=5432 user=frontdoor dbname=frontdoor`.
    pub postgres: Option<String>,
    /// Deliver every case event to this CRM webhook (see docs/webhook.md).
    pub webhook: Option<WebhookConfig>,
    /// Prefix of case references read back to callers (e.g. `TC` gives `TC-4K7Q-92`).
    pub reference_prefix: String,
    /// Transcripts in call records are deleted after this many days; aggregates are kept. The
    /// server applies it at start and hourly; 0 keeps transcripts indefinitely.
    pub retention_days: u32,
}

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            store: StoreKind::Sqlite,
            postgres: None,
            webhook: None,
            reference_prefix: "TC".to_string(),
            retention_days: 90,
        }
    }
}

/// How caller numbers are written where Frontdoor runs, so that every spelling of one number
/// (`07700 900123`, `+44 7700 900123`, `00447700900123`, `sip:07700900123@pbx`) is stored,
/// exported, erased and looked up as one E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneNumbersConfig {
    /// ITU-T E.164 country code that a national number (trunk prefix `0`) belongs to: 44 for
    /// the United Kingdom. International numbers (`+…`, `00…`) keep their own.
    pub country_code: u16,
}

impl Default for PhoneNumbersConfig {
    fn default() -> Self {
        PhoneNumbersConfig { country_code: 44 }
    }
}

/// Which store holds cases and the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Postgres,
}

/// A CRM webhook (HMAC-signed JSON POSTs with an Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name used in the outbox and dead-letter listings.
    #[serde(default = "default_webhook_name")]
    pub name: String,
    pub url: String,
    /// Shared secret for the `X-Frontdoor-Signature` HMAC-SHA256.
    pub secret: String,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u64,
}

fn default_webhook_name() -> String {
    "crm".to_string()
}

fn default_webhook_timeout() -> u64 {
    10
}

/// Speech recognition in live calls (see docs/speech.md). A missing model file is not an error:
/// the server logs a warning and runs keypad-only (speech `ask`s get `SpeechUnavailable`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {
    /// whisper.cpp model for English recognition (`frontdoor model install` puts it here).
    pub model: PathBuf,
    /// Multilingual model used only to detect the caller's language; empty disables detection.
    pub language_model: PathBuf,
    /// Decode worker threads (one decode per thread). Default: the available cores, at most 2.
    pub workers: Option<usize>,
    /// Utterances allowed to wait for a worker; past this an `ask` falls back to keys.
    pub queue_depth: usize,
    /// A pause this long starts recognition speculatively (before end of speech is certain).
    pub speculative_pause_ms: u64,
    /// When a decode had to queue and its result is not back after this long, the holding
    /// phrase (prompt `holding`) plays so the caller is never left in silence.
    pub holding_after_ms: u64,
    /// Sentence model directory understanding uses to recognise phrasings no example spells
    /// out (`frontdoor model install` puts it here); empty disables it. Missing or corrupt, the
    /// server logs a warning and understands by keywords and example words alone.
    pub sentence_model: PathBuf,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: PathBuf::from("models/ggml-tiny.en.bin"),
            language_model: PathBuf::from("models/ggml-base.bin"),
            workers: None,
            queue_depth: 4,
            speculative_pause_ms: 150,
            holding_after_ms: 700,
            sentence_model: PathBuf::from("models/all-minilm-l6-v2"),
        }
    }
}

impl AsrConfig {
    /// Most decode workers by default: on the 2-core target more threads only contend.
    pub const MAX_DEFAULT_WORKERS: usize = 2;

    /// Decode threads to start: `workers`, else the available cores capped at
    /// [`Self::MAX_DEFAULT_WORKERS`].
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
                .min(Self::MAX_DEFAULT_WORKERS)
        })
    }

    /// Whether language detection is configured.
    pub fn detects_language(&self) -> bool {
        !self.language_model.as_os_str().is_empty()
    }
}

/// Stopping without cutting calls: on SIGTERM new calls are refused and calls in progress
/// continue for `drain_secs`; then each remaining caller hears `closing_prompt` and gets a BYE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Seconds calls in progress may continue after SIGTERM before they are closed.
    pub drain_secs: u64,
    /// Retry-After (seconds) on the 503 that new INVITEs and OPTIONS get while draining
    /// (RFC 3261 §20.33): how long a PBX should send calls elsewhere.
    pub retry_after_secs: u32,
    /// Prompt (in `prompts`) each remaining caller hears before the BYE; a missing prompt is
    /// logged and the BYE goes out without it.
    pub closing_prompt: String,
    /// Longest the closing message may play before the BYE (a longer recording is cut).
    pub closing_message_max_secs: u64,
    /// How long to wait for the answers to the BYEs (and the last call records) before exiting;
    /// the BYE transaction itself could take 32 s (RFC 3261 §17.1.2.2, Timer F).
    pub bye_wait_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_secs: 60,
            retry_after_secs: 120,
            closing_prompt: "service_closing".into(),
            closing_message_max_secs: 15,
            bye_wait_secs: 3,
        }
    }
}

/// Which sources a call's RTP, RTCP and RFC 4733 keys are taken from before the first packet
/// latches the stream (after that, only the latched address until a new offer/answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    /// The IP the caller's SDP names, or the IP its SIP signalling came from (a caller behind
    /// NAT whose SDP names a private address; an SBC that relays media from its signalling IP).
    #[default]
    SdpOrSignallingIp,
    /// Only the IP the caller's SDP names (a media relay that is not the signalling host still
    /// works when it writes its own address into the SDP, as SBCs do).
    SdpOnly,
}

/// Where call media may come from and go to (YAML `media:`). Protects calls from a third party
/// that sends RTP to a call's port (hijacking its audio or injecting keys) and from offers
/// that point our RTP at broadcast, multicast, loopback or privileged ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaPolicy {
    /// Which sources may start a call's media stream. Default `sdp_or_signalling_ip`.
    pub accept_from: MediaSource,
    /// Networks an offer's media address must lie in; empty (default) allows any address that
    /// is not refused outright (unspecified, broadcast, multicast, loopback from a peer that is
    /// not itself on loopback, or a port below 1024). Offers outside get 488.
    pub allowed_networks: Vec<IpNet>,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            accept_from: MediaSource::SdpOrSignallingIp,
            allowed_networks: Vec::new(),
        }
    }
}

/// SIP over TCP: what one peer, or all of them, may hold (see docs/security.md). TCP
/// connections cost a descriptor and a buffer each, so they are bounded where UDP is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpConfig {
    /// Most TCP connections open at once. The server lowers it further so that descriptors
    /// stay free for RTP: never more than the descriptor limit minus two per `max_calls` minus
    /// `descriptor_headroom`.
    pub max_connections: usize,
    /// Most TCP connections open at once from one source address.
    pub max_connections_per_source: usize,
    /// A connection with nothing received for this long is closed (unless a call uses it).
    pub idle_timeout_secs: u64,
    /// Once a message's first byte has arrived, its headers and body must all arrive within
    /// this many milliseconds, or the connection is closed (slow-send attacks).
    pub message_timeout_ms: u64,
    /// Messages queued for sending on one connection; a peer that stops reading and lets
    /// the queue fill has its connection closed.
    pub send_queue: usize,
    /// Descriptors kept back from TCP besides the two per call (SIP sockets, files, store).
    pub descriptor_headroom: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_connections: 1024,
            max_connections_per_source: 64,
            idle_timeout_secs: 300,
            message_timeout_ms: 10_000,
            send_queue: 64,
            descriptor_headroom: 256,
        }
    }
}

/// Per-source limits on SIP requests and calls (see docs/security.md). A source is an IPv4
/// address or an IPv6 /64 on the allow-list; UDP sources can be spoofed, so these keep one
/// source (or someone pretending to be it) from taking every call slot. Requests over a
/// rate are dropped without an answer. A rate of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipLimitsConfig {
    /// Requests of any method per second from one source, sustained.
    pub requests_per_second: u32,
    /// Requests one source may send at once above that rate.
    pub request_burst: u32,
    /// New calls (initial INVITEs) per second from one source, sustained.
    pub invites_per_second: u32,
    /// New calls one source may start at once above that rate.
    pub invite_burst: u32,
    /// Share of `max_calls` one source may hold at once, in percent (1-100); past it its new
    /// INVITEs get 503.
    pub max_calls_per_source_percent: u8,
    /// Sources tracked individually; beyond this, new sources share one set of buckets.
    pub max_sources: usize,
}

impl Default for SipLimitsConfig {
    fn default() -> Self {
        SipLimitsConfig {
            requests_per_second: 200,
            request_burst: 400,
            invites_per_second: 20,
            invite_burst: 100,
            max_calls_per_source_percent: 80,
            max_sources: 4096,
        }
    }
}

impl SipLimitsConfig {
    /// Concurrent calls one source may hold when the server takes `max_calls` (at least 1).
    pub fn max_calls_per_source(&self, max_calls: usize) -> usize {
        let percent = usize::from(self.max_calls_per_source_percent.clamp(1, 100));
        (max_calls.saturating_mul(percent).div_ceil(100)).max(1)
    }
}

/// What decides what an answered call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// The YAML call flows in `flows` (the product).
    #[default]
    Flow,
    /// The small DTMF menu from `demo_menu` (the foundation's demo handler).
    DemoMenu,
}

/// The whole configuration. Field docs are the documentation of `frontdoor.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// SIP listen address, UDP and TCP on the same port.
    pub listen: SocketAddr,
    /// Address to put in Contact and SDP when Frontdoor sits behind NAT. Default: the listen IP.
    pub public_address: Option<IpAddr>,
    /// RTP/RTCP port range. Sized for `max_calls` (two ports per call).
    pub rtp_ports: PortRange,
    /// Directory of YAML call flows.
    pub flows: PathBuf,
    /// Directory of prompt audio.
    pub prompts: PathBuf,
    /// Directory for the case store, call records and other state.
    pub data: PathBuf,
    /// Most concurrent calls; beyond it INVITEs get 503 with Retry-After.
    pub max_calls: usize,
    /// Source networks allowed to send SIP; others get 403 without any state created.
    pub allowed_sources: Vec<IpNet>,
    /// Sources whose P-Asserted-Identity is trusted (RFC 3325 §9.1); otherwise From is used.
    pub trusted_identity_sources: Vec<IpNet>,
    /// Seconds without RTP (not on hold) before hanging up.
    pub media_timeout_secs: u64,
    /// Milliseconds to ring (180 Ringing) before answering; 0 answers at once.
    pub answer_delay_ms: u64,
    /// RFC 4028 session interval we ask for, and the smallest we accept.
    pub session_expires_secs: u32,
    pub min_se_secs: u32,
    /// `flow` (default) or `demo_menu`.
    pub handler: HandlerKind,
    /// The DTMF demo menu used when `handler: demo_menu`.
    pub demo_menu: PathBuf,
    /// Parties Frontdoor may call (advisor queues).
    pub outbound_targets: Vec<OutboundTarget>,
    /// Case store and CRM delivery.
    pub cases: CasesConfig,
    /// How caller numbers are normalised before they are stored or matched.
    pub phone_numbers: PhoneNumbersConfig,
    /// Speech recognition.
    pub asr: AsrConfig,
    /// What SIGTERM does to calls in progress (docs/operations.md).
    pub shutdown: ShutdownConfig,
    /// Where call media may come from and go to.
    pub media: MediaPolicy,
    /// SIP over TCP connection limits.
    pub tcp: TcpConfig,
    /// Per-source SIP request and call limits.
    pub sip_limits: SipLimitsConfig,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `frontdoor=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            public_address: None,
            rtp_ports: PortRange {
                low: 20000,
                high: 29999,
            },
            flows: PathBuf::from("call-flows"),
            prompts: PathBuf::from("audio-prompts"),
            data: PathBuf::from("data"),
            max_calls: 1000,
            allowed_sources: vec![IpNet {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix_len: 8,
            }],
            trusted_identity_sources: vec![IpNet {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix_len: 8,
            }],
            media_timeout_secs: 30,
            answer_delay_ms: 0,
            session_expires_secs: 1800,
            min_se_secs: 90,
            handler: HandlerKind::Flow,
            demo_menu: PathBuf::from("demo/menu.yaml"),
            outbound_targets: Vec::new(),
            cases: CasesConfig::default(),
            phone_numbers: PhoneNumbersConfig::default(),
            asr: AsrConfig::default(),
            shutdown: ShutdownConfig::default(),
            media: MediaPolicy::default(),
            tcp: TcpConfig::default(),
            sip_limits: SipLimitsConfig::default(),
            log: "info".to_string(),
        }
    }
}

impl Config {
    /// Reads `path`. A missing file is an error only when `required` (the user named it).
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::from_yaml(&text).map_err(|message| ConfigError::Yaml {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses YAML text; an empty document gives the defaults.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Config::default());
        }
        serde_saphyr::from_str::<Config>(text).map_err(|e| e.to_string())
    }

    /// Checks cross-field rules after all overrides are applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_calls == 0 {
            return Err(ConfigError::Invalid {
                key: "max_calls",
                message: "must be at least 1".into(),
            });
        }
        if self.rtp_ports.pairs() < self.max_calls {
            return Err(ConfigError::Invalid {
                key: "rtp_ports",
                message: format!(
                    "{} holds {} RTP/RTCP pairs, fewer than max_calls ({})",
                    self.rtp_ports,
                    self.rtp_ports.pairs(),
                    self.max_calls
                ),
            });
        }
        if self.media_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "media_timeout_secs",
                message: "must be at least 1".into(),
            });
        }
        if self.min_se_secs < 90 {
            // RFC 4028 §4: Min-SE MUST NOT be less than 90 seconds.
            return Err(ConfigError::Invalid {
                key: "min_se_secs",
                message: "RFC 4028 requires at least 90".into(),
            });
        }
        if self.cases.store == StoreKind::Postgres && self.cases.postgres.is_none() {
            return Err(ConfigError::Invalid {
                key: "cases.postgres",
                message: "a connection string is needed when cases.store is postgres".into(),
            });
        }
        if !(1..=999).contains(&self.phone_numbers.country_code) {
            // ITU-T E.164 §6.2.1: country codes have one to three digits.
            return Err(ConfigError::Invalid {
                key: "phone_numbers.country_code",
                message: "must be an E.164 country code, 1 to 999".into(),
            });
        }
        if self.asr.workers == Some(0) {
            return Err(ConfigError::Invalid {
                key: "asr.workers",
                message: "must be at least 1".into(),
            });
        }
        if self.shutdown.bye_wait_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "shutdown.bye_wait_secs",
                message: "must be at least 1 (the BYEs need time to be answered)".into(),
            });
        }
        if !(1..=100).contains(&self.sip_limits.max_calls_per_source_percent) {
            return Err(ConfigError::Invalid {
                key: "sip_limits.max_calls_per_source_percent",
                message: "must be 1-100".into(),
            });
        }
        if self.sip_limits.max_sources == 0 {
            return Err(ConfigError::Invalid {
                key: "sip_limits.max_sources",
                message: "must be at least 1".into(),
            });
        }
        for (key, value) in [
            ("tcp.max_connections", self.tcp.max_connections),
            (
                "tcp.max_connections_per_source",
                self.tcp.max_connections_per_source,
            ),
            ("tcp.send_queue", self.tcp.send_queue),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be at least 1".into(),
                });
            }
        }
        if self.tcp.idle_timeout_secs == 0 || self.tcp.message_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "tcp",
                message: "idle_timeout_secs and message_timeout_ms must be at least 1".into(),
            });
        }
        if self.session_expires_secs < self.min_se_secs {
            return Err(ConfigError::Invalid {
                key: "session_expires_secs",
                message: "must not be below min_se_secs".into(),
            });
        }
        Ok(())
    }

    /// The address that goes into Contact and SDP `c=` lines.
    pub fn advertised_ip(&self) -> IpAddr {
        self.public_address.unwrap_or(self.listen.ip())
    }

    /// The configuration as documented YAML (for `frontdoor config --print-defaults`).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_yaml("# nothing\n").unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn keys_override_defaults() {
        let c =
            Config::from_yaml("listen: 127.0.0.1:5080\nrtp_ports: 30000-30999\nmax_calls: 10\n")
                .unwrap();
        assert_eq!(c.listen.port(), 5080);
        assert_eq!(
            c.rtp_ports,
            PortRange {
                low: 30000,
                high: 30999
            }
        );
        assert_eq!(c.max_calls, 10);
        assert_eq!(c.flows, PathBuf::from("call-flows"));
    }

    #[test]
    fn asr_keys_default_and_override() {
        let c = Config::from_yaml("asr:\n  queue_depth: 2\n  language_model: \"\"\n").unwrap();
        assert_eq!(c.asr.queue_depth, 2);
        assert!(!c.asr.detects_language());
        assert_eq!(c.asr.model, PathBuf::from("models/ggml-tiny.en.bin"));
        assert_eq!(c.asr.speculative_pause_ms, 150);
        let n = AsrConfig::default().worker_count();
        assert!((1..=AsrConfig::MAX_DEFAULT_WORKERS).contains(&n));
        let zero = Config {
            asr: AsrConfig {
                workers: Some(0),
                ..AsrConfig::default()
            },
            ..Config::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn shutdown_keys_default_and_override() {
        let d = Config::default().shutdown;
        assert_eq!(d.drain_secs, 60);
        assert_eq!(d.retry_after_secs, 120);
        assert_eq!(d.closing_prompt, "service_closing");
        let c = Config::from_yaml("shutdown:\n  drain_secs: 2\n  closing_prompt: restarting\n")
            .unwrap();
        assert_eq!(c.shutdown.drain_secs, 2);
        assert_eq!(c.shutdown.closing_prompt, "restarting");
        assert_eq!(c.shutdown.bye_wait_secs, d.bye_wait_secs);
        let zero = Config {
            shutdown: ShutdownConfig {
                bye_wait_secs: 0,
                ..ShutdownConfig::default()
            },
            ..Config::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn media_policy_defaults_and_override() {
        let c = Config::from_yaml(
            "media:\n  accept_from: sdp_only\n  allowed_networks: [10.20.0.0/16]\n",
        )
        .unwrap();
        assert_eq!(c.media.accept_from, MediaSource::SdpOnly);
        assert_eq!(
            c.media.allowed_networks,
            vec!["10.20.0.0/16".parse().unwrap()]
        );
        let d = MediaPolicy::default();
        assert_eq!(d.accept_from, MediaSource::SdpOrSignallingIp);
        assert!(d.allowed_networks.is_empty());
        assert!(Config::from_yaml("media:\n  accept_from: anywhere\n").is_err());
    }

    #[test]
    fn example_file_documents_the_media_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("frontdoor.example.yaml");
        let example = Config::load(&path, true).unwrap();
        assert_eq!(example.media, MediaPolicy::default());
    }

    #[test]
    fn phone_numbers_default_to_the_uk_and_reject_impossible_codes() {
        assert_eq!(Config::default().phone_numbers.country_code, 44);
        let c = Config::from_yaml("phone_numbers:\n  country_code: 353\n").unwrap();
        assert_eq!(c.phone_numbers.country_code, 353);
        c.validate().unwrap();
        let c = Config::from_yaml("phone_numbers:\n  country_code: 0\n").unwrap();
        assert!(c.validate().is_err());
        assert!(Config::from_yaml("phone_numbers:\n  trunk: 0\n").is_err());
    }

    #[test]
    fn tcp_and_sip_limit_keys_default_and_override() {
        let c = Config::from_yaml(
            "tcp:\n  max_connections_per_source: 8\nsip_limits:\n  invites_per_second: 5\n",
        )
        .unwrap();
        assert_eq!(c.tcp.max_connections_per_source, 8);
        assert_eq!(c.tcp.message_timeout_ms, 10_000);
        assert_eq!(c.sip_limits.invites_per_second, 5);
        assert_eq!(c.sip_limits.request_burst, 400);
        c.validate().unwrap();
        let limits = SipLimitsConfig::default();
        assert_eq!(limits.max_calls_per_source(1000), 800);
        assert_eq!(limits.max_calls_per_source(4), 4);
        assert_eq!(limits.max_calls_per_source(1), 1);
        let bad = Config {
            sip_limits: SipLimitsConfig {
                max_calls_per_source_percent: 0,
                ..SipLimitsConfig::default()
            },
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_yaml("lisen: 127.0.0.1:5080\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn networks_match() {
        let net: IpNet = "127.0.0.0/8".parse().unwrap();
        assert!(net.contains("127.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:127.0.0.1".parse().unwrap()));
        let v6: IpNet = "::1/128".parse().unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
    }

    #[test]
    fn port_range_capacity_checked() {
        let c = Config {
            rtp_ports: "20000-20010".parse().unwrap(),
            ..Config::default()
        };
        assert_eq!(c.rtp_ports.pairs(), 5);
        assert!(c.validate().is_err());
    }
}
