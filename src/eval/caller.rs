//! A reactive synthetic caller: places one SIP call with the crate's own sans-IO
//! [`UserAgent`], sends the caller's audio as real RTP (one G.711 μ-law packet every 20 ms),
//! keys with RFC 4733 telephone-events, and listens to the server's RTP to know when a prompt
//! has finished (its packets turn silent) and when the answer to the measured utterance starts.
//!
//! Turn latency is measured from the send time of the caller's last
//! voiced 20 ms frame to the arrival of the first audible RTP packet of the server's answer.
//! Packets that belong to the canned holding phrase are recognised by their payload and skipped.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::EvalError;
use super::audio::{AUDIBLE_RMS, FRAME, last_voiced_frame, rms};
use crate::media::dtmf::rfc4733::TelephoneEventSender;
use crate::media::g711::{linear_to_ulaw, ulaw_to_linear};
use crate::media::rtp::{RTP_HEADER_LEN, RtpHeader, RtpPacket};
use crate::sip::sdp::{Direction, LocalMedia, SessionDescription, build_offer, parse_answer};
use crate::sip::ua::{CallHandle, OutboundTarget, Transport, UaConfig, UaEvent, UserAgent};

/// μ-law silence (RFC 3551 §4.5.14: 0xFF is zero).
const ULAW_SILENCE: u8 = 0xFF;
/// G.711 μ-law static payload type (RFC 3551 table 4).
const PCMU: u8 = 0;

/// One thing the caller does once the server's current prompt has finished.
#[derive(Debug, Clone)]
pub enum Step {
    /// Press keys (RFC 4733), e.g. to reach a slot question by the menus.
    Keys(String),
    /// Say something that only navigates (not measured).
    Say(Arc<[i16]>),
}

/// What one call does: navigate, then say the measured utterance.
#[derive(Debug, Clone)]
pub struct CallScript {
    pub steps: Vec<Step>,
    pub utterance: Arc<[i16]>,
    /// The intent the utterance means: a clarifying question ("did you mean") after it is
    /// answered truthfully, as the caller it stands for would.
    pub clarify: Option<ClarifyTruthfully>,
}

/// How the caller answers a clarifying question about its utterance.
#[derive(Debug, Clone)]
pub struct ClarifyTruthfully {
    /// What the caller meant.
    pub meant: String,
    /// The caller saying "no" (when neither of two offered intents is what it meant).
    pub no: Arc<[i16]>,
}

/// The answer to a clarifying question that offered `offered` (likeliest first), for a caller
/// who meant `meant`: key 1 for the first, key 2 for the second (or for "no" when only one was
/// offered), or `None` for a spoken "no".
pub fn clarify_keys(offered: &[String], meant: &str) -> Option<&'static str> {
    match offered {
        [first, ..] if first == meant => Some("1"),
        [_, second] if second == meant => Some("2"),
        [_] => Some("2"),
        _ => None,
    }
}

/// The intents a clarifying question on call `call_id` offered, from the tail of the server's
/// log (`clarifying question ... offered=a,b`).
pub fn clarification_in_log(log: &std::path::Path, call_id: &str) -> Option<Vec<String>> {
    use std::io::{Read, Seek, SeekFrom};
    /// Enough for the last few seconds of eight callers' log lines.
    const TAIL: u64 = 1 << 20;
    let mut file = std::fs::File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let needle = format!("call_id={call_id} ");
    text.lines()
        .rev()
        .filter(|l| l.contains("clarifying question") && l.contains(&needle))
        .find_map(|l| {
            let rest = l.split(" offered=").nth(1)?;
            let list = rest.split_whitespace().next()?;
            Some(list.split(',').map(str::to_string).collect())
        })
}

/// Timing knobs of a caller.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// The server's SIP address.
    pub server: SocketAddr,
    /// This long without an audible packet after a prompt means the prompt has finished.
    pub prompt_quiet: Duration,
    /// Give up waiting for the answer this long after the caller stopped speaking.
    pub answer_timeout: Duration,
    /// Stay on the line this long after the answer starts (so the server's turn is complete).
    pub linger: Duration,
    /// The whole call may take no longer than this.
    pub call_limit: Duration,
    /// μ-law payloads of the holding phrase's frames: such packets are not an answer.
    pub holding_frames: Arc<HashSet<Vec<u8>>>,
    /// The server's log, where a clarifying question names what it offered.
    pub server_log: Option<std::path::PathBuf>,
}

/// What happened on one call.
#[derive(Debug, Clone, Default)]
pub struct CallOutcome {
    /// The SIP Call-ID (the call record's key).
    pub call_id: String,
    /// Navigation steps carried out.
    pub steps_done: usize,
    /// The measured utterance was sent completely.
    pub spoke: bool,
    /// Milliseconds from the last voiced frame to the first audible packet of the answer.
    pub latency_ms: Option<f64>,
    /// The holding phrase played before the answer.
    pub holding_heard: bool,
    /// Why the call ended early, if it did.
    pub error: Option<String>,
    /// The intents a clarifying question after the utterance offered, if one was asked (and
    /// answered).
    pub clarified: Option<Vec<String>>,
}

/// Places one call and runs `script` on it.
pub async fn run_call(
    config: &CallerConfig,
    script: &CallScript,
) -> Result<CallOutcome, EvalError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| EvalError::Io { what, source }
    };
    let sip = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(io("binding a SIP socket"))?;
    let rtp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(io("binding an RTP socket"))?;
    let sip_addr = sip.local_addr().map_err(io("SIP socket address"))?;
    let rtp_addr = rtp.local_addr().map_err(io("RTP socket address"))?;
    let mut ua_config = UaConfig::new(sip_addr);
    ua_config.outbound_targets = vec![OutboundTarget {
        name: "frontdoor".to_string(),
        uri: format!("sip:council@{}", config.server),
        username: None,
        password: None,
    }];
    let mut ua = UserAgent::new(ua_config, crate::entropy::Entropy::from_os());
    let local = LocalMedia {
        addr: rtp_addr.ip(),
        port: rtp_addr.port(),
        session_id: u64::from(rand::random::<u32>()),
        session_version: 1,
    };
    let started = Instant::now();
    let handle = ua
        .place_call(
            started,
            "frontdoor",
            build_offer(&local, Direction::SendRecv),
        )
        .map_err(|e| EvalError::Call(e.to_string()))?;
    let mut call = Call::new(config, script, handle, local);
    let mut sip_buf = vec![0u8; 65_536];
    let mut rtp_buf = vec![0u8; 2048];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        while let Some(t) = ua.poll_transmit() {
            if call.outcome.call_id.is_empty() {
                call.outcome.call_id = header_value(&t.payload, "Call-ID").unwrap_or_default();
            }
            // A lost datagram is the UA's business (it retransmits); an error here is logged.
            if let Err(e) = sip.send_to(&t.payload, t.destination).await {
                tracing::debug!(%e, "SIP send failed");
            }
        }
        while let Some(event) = ua.poll_event() {
            call.on_sip_event(event);
        }
        if call.finished {
            break;
        }
        let now = Instant::now();
        if now.duration_since(started) > config.call_limit && !call.hanging_up {
            call.fail("call took longer than the limit");
            call.hang_up(&mut ua, now);
            continue;
        }
        let sip_deadline = ua.poll_timeout().unwrap_or(now + Duration::from_secs(1));
        tokio::select! {
            r = sip.recv_from(&mut sip_buf) => {
                let (n, from) = r.map_err(io("receiving SIP"))?;
                if let Some(data) = sip_buf.get(..n) {
                    ua.handle_datagram(Instant::now(), Transport::Udp, from, data);
                }
            }
            r = rtp.recv_from(&mut rtp_buf) => {
                let (n, _) = r.map_err(io("receiving RTP"))?;
                if let Some(data) = rtp_buf.get(..n) {
                    call.on_rtp(Instant::now(), data);
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                for packet in call.on_tick(now) {
                    if let Some(to) = call.remote_rtp {
                        let _ = rtp.send_to(&packet, to).await;
                    }
                }
                if call.wants_hangup(now) {
                    call.hang_up(&mut ua, now);
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(sip_deadline)) => {
                ua.handle_timeout(Instant::now());
            }
        }
    }
    Ok(call.outcome)
}

/// Where the caller is in its script.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for the server's prompt to start and then finish.
    AwaitPrompt,
    /// Keys or navigation speech are going out.
    Acting,
    /// The measured utterance is going out.
    Speaking,
    /// Spoken; waiting for the answer.
    AwaitAnswer,
    /// The answer started at this instant; lingering.
    Answered(Instant),
    /// The answer was a clarifying question: waiting for it to finish.
    ClarifyPrompt,
    /// The clarifying question is being answered (keys or "no").
    ClarifyActing,
    /// Answered: waiting for the server's reply to it (or giving up at the instant).
    ClarifyAnswered(Instant),
}

struct Call<'a> {
    config: &'a CallerConfig,
    script: &'a CallScript,
    handle: CallHandle,
    local: LocalMedia,
    remote_rtp: Option<SocketAddr>,
    te_pt: Option<u8>,
    phase: Phase,
    next_step: usize,
    /// Audio queued for sending (navigation speech or the utterance), and the frame index of the
    /// utterance's last voiced frame within it.
    pending: std::collections::VecDeque<[i16; FRAME]>,
    frames_sent: usize,
    last_voiced: Option<usize>,
    last_voiced_at: Option<Instant>,
    dtmf: TelephoneEventSender,
    heard_since_action: bool,
    last_audible: Option<Instant>,
    action_done_at: Instant,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    talkspurt: bool,
    hanging_up: bool,
    finished: bool,
    /// The log was read for a clarifying question after the answer.
    clarify_checked: bool,
    outcome: CallOutcome,
}

impl<'a> Call<'a> {
    fn new(
        config: &'a CallerConfig,
        script: &'a CallScript,
        handle: CallHandle,
        local: LocalMedia,
    ) -> Self {
        Call {
            config,
            script,
            handle,
            local,
            remote_rtp: None,
            te_pt: None,
            phase: Phase::AwaitPrompt,
            next_step: 0,
            pending: Default::default(),
            frames_sent: 0,
            last_voiced: None,
            last_voiced_at: None,
            dtmf: TelephoneEventSender::new(),
            heard_since_action: false,
            last_audible: None,
            action_done_at: Instant::now(),
            seq: rand::random(),
            timestamp: rand::random(),
            ssrc: rand::random(),
            talkspurt: true,
            hanging_up: false,
            finished: false,
            clarify_checked: false,
            outcome: CallOutcome::default(),
        }
    }

    fn fail(&mut self, why: &str) {
        if self.outcome.error.is_none() {
            self.outcome.error = Some(why.to_string());
        }
    }

    fn on_sip_event(&mut self, event: UaEvent) {
        match event {
            UaEvent::OutgoingAnswered { call, sdp } if call == self.handle => {
                let negotiated = sdp
                    .as_deref()
                    .and_then(|s| SessionDescription::parse(s).ok())
                    .and_then(|d| parse_answer(&d, &self.local).ok());
                match negotiated {
                    Some(n) if n.payload_type == PCMU => {
                        self.remote_rtp = Some(n.remote_rtp);
                        self.te_pt = n.telephone_event_pt;
                        self.action_done_at = Instant::now();
                    }
                    Some(_) => self.fail("server did not choose PCMU"),
                    None => self.fail("unusable SDP answer"),
                }
            }
            UaEvent::Terminated { call, cause } if call == self.handle => {
                let answered = matches!(
                    self.phase,
                    Phase::Answered(_)
                        | Phase::ClarifyPrompt
                        | Phase::ClarifyActing
                        | Phase::ClarifyAnswered(_)
                );
                if !self.hanging_up && !answered {
                    self.fail(&format!("call ended by the server or network: {cause:?}"));
                }
                self.finished = true;
            }
            _ => {}
        }
    }

    fn on_rtp(&mut self, now: Instant, data: &[u8]) {
        let Ok(packet) = RtpPacket::parse(data) else {
            return;
        };
        if packet.header.payload_type != PCMU {
            return;
        }
        let samples: Vec<i16> = packet.payload.iter().map(|&b| ulaw_to_linear(b)).collect();
        if rms(&samples) < AUDIBLE_RMS {
            return;
        }
        self.last_audible = Some(now);
        self.heard_since_action = true;
        if self.phase == Phase::AwaitAnswer {
            if self.config.holding_frames.contains(packet.payload) {
                self.outcome.holding_heard = true;
            } else if let Some(spoke_at) = self.last_voiced_at {
                self.outcome.latency_ms =
                    Some(now.saturating_duration_since(spoke_at).as_secs_f64() * 1000.0);
                self.phase = Phase::Answered(now);
            }
        }
    }

    /// One 20 ms tick: advance the script and return the packets to send.
    fn on_tick(&mut self, now: Instant) -> Vec<Vec<u8>> {
        if self.remote_rtp.is_none() || self.hanging_up {
            return Vec::new();
        }
        self.advance(now);
        let mut out = Vec::new();
        if self.dtmf.is_busy() {
            let pt = self.te_pt.unwrap_or(101);
            while let Some(event) = self.dtmf.poll_packet(now, self.timestamp) {
                out.push(self.packet(pt, event.marker, event.timestamp, &event.event.to_bytes()));
            }
        }
        if !self.dtmf.is_active() {
            let frame = self.pending.pop_front();
            let payload: Vec<u8> = match &frame {
                Some(f) => f.iter().map(|&s| linear_to_ulaw(s)).collect(),
                None => vec![ULAW_SILENCE; FRAME],
            };
            let marker = frame.is_some() && self.talkspurt;
            self.talkspurt = frame.is_none();
            out.push(self.packet(PCMU, marker, self.timestamp, &payload));
            if frame.is_some() && self.phase == Phase::Speaking {
                if Some(self.frames_sent) == self.last_voiced {
                    self.last_voiced_at = Some(now);
                }
                self.frames_sent += 1;
            }
        }
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        out
    }

    fn packet(&mut self, pt: u8, marker: bool, timestamp: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; RTP_HEADER_LEN + payload.len()];
        let header = RtpHeader {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        if header.write(&mut buf).is_ok()
            && let Some(dst) = buf.get_mut(RTP_HEADER_LEN..)
        {
            dst.copy_from_slice(payload);
        }
        buf
    }

    fn advance(&mut self, now: Instant) {
        match self.phase {
            Phase::AwaitPrompt => {
                let quiet_since = self.last_audible.unwrap_or(self.action_done_at);
                let finished = self.heard_since_action
                    && now.saturating_duration_since(quiet_since) >= self.config.prompt_quiet;
                if finished {
                    self.start_next(now);
                } else if now.saturating_duration_since(self.action_done_at)
                    > self.config.call_limit
                {
                    self.fail("no prompt");
                }
            }
            Phase::Acting => {
                if self.pending.is_empty() && !self.dtmf.is_busy() {
                    self.phase = Phase::AwaitPrompt;
                    self.heard_since_action = false;
                    self.action_done_at = now;
                }
            }
            Phase::Speaking => {
                if self.pending.is_empty() {
                    self.outcome.spoke = true;
                    self.phase = Phase::AwaitAnswer;
                    if self.last_voiced_at.is_none() {
                        // Silence or noise below the voicing threshold: time from the end.
                        self.last_voiced_at = Some(now);
                    }
                }
            }
            Phase::Answered(at) => {
                if !self.clarify_checked && now.saturating_duration_since(at) >= self.config.linger
                {
                    self.clarify_checked = true;
                    let offered = match (&self.script.clarify, &self.config.server_log) {
                        (Some(_), Some(log)) => clarification_in_log(log, &self.outcome.call_id),
                        _ => None,
                    };
                    if let Some(offered) = offered {
                        self.outcome.clarified = Some(offered);
                        self.phase = Phase::ClarifyPrompt;
                    }
                }
            }
            Phase::ClarifyPrompt => {
                let quiet = self
                    .last_audible
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.config.prompt_quiet);
                if quiet {
                    self.answer_clarification(now);
                }
            }
            Phase::ClarifyActing => {
                if self.pending.is_empty() && !self.dtmf.is_busy() {
                    self.heard_since_action = false;
                    self.phase = Phase::ClarifyAnswered(now);
                }
            }
            Phase::AwaitAnswer | Phase::ClarifyAnswered(_) => {}
        }
    }

    /// Keys 1 or 2, or a spoken "no", for what the caller meant.
    fn answer_clarification(&mut self, now: Instant) {
        let offered = self.outcome.clarified.clone().unwrap_or_default();
        let Some(clarify) = self.script.clarify.clone() else {
            return;
        };
        match clarify_keys(&offered, &clarify.meant) {
            Some(keys) => {
                for key in keys.chars() {
                    self.dtmf.queue(now, key, Duration::from_millis(100));
                }
            }
            None => self.queue_audio(&clarify.no),
        }
        self.phase = Phase::ClarifyActing;
    }

    fn start_next(&mut self, now: Instant) {
        match self.script.steps.get(self.next_step).cloned() {
            Some(Step::Keys(keys)) => {
                for key in keys.chars() {
                    self.dtmf.queue(now, key, Duration::from_millis(100));
                }
                self.phase = Phase::Acting;
            }
            Some(Step::Say(audio)) => {
                self.queue_audio(&audio);
                self.phase = Phase::Acting;
            }
            None => {
                self.queue_audio(&self.script.utterance.clone());
                self.last_voiced = last_voiced_frame(&self.script.utterance);
                self.frames_sent = 0;
                self.phase = Phase::Speaking;
                return;
            }
        }
        self.next_step += 1;
        self.outcome.steps_done = self.next_step;
    }

    fn queue_audio(&mut self, audio: &[i16]) {
        for chunk in audio.chunks(FRAME) {
            let mut frame = [0i16; FRAME];
            if let Some(dst) = frame.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.pending.push_back(frame);
        }
    }

    fn wants_hangup(&self, now: Instant) -> bool {
        if self.hanging_up || self.outcome.error.is_some() {
            return !self.hanging_up;
        }
        match self.phase {
            Phase::Answered(at) => {
                self.clarify_checked && now.saturating_duration_since(at) >= self.config.linger
            }
            // The reply to the clarification has started (lingered on), or never came.
            Phase::ClarifyAnswered(at) => {
                let replied = self.heard_since_action
                    && self
                        .last_audible
                        .is_some_and(|t| now.saturating_duration_since(t) < self.config.linger);
                replied && now.saturating_duration_since(at) >= self.config.linger
                    || now.saturating_duration_since(at) >= self.config.answer_timeout
            }
            Phase::AwaitAnswer => self
                .last_voiced_at
                .is_some_and(|t| now.saturating_duration_since(t) >= self.config.answer_timeout),
            _ => false,
        }
    }

    fn hang_up(&mut self, ua: &mut UserAgent, now: Instant) {
        self.hanging_up = true;
        ua.hangup(now, self.handle);
    }
}

/// The value of a header in a SIP message's bytes (long form only; we wrote the message).
fn header_value(message: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(message).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clarifying_questions_are_answered_truthfully() {
        let offered = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(clarify_keys(&offered(&["a", "b"]), "a"), Some("1"));
        assert_eq!(clarify_keys(&offered(&["a", "b"]), "b"), Some("2"));
        assert_eq!(clarify_keys(&offered(&["a"]), "b"), Some("2"));
        assert_eq!(clarify_keys(&offered(&["a", "b"]), "c"), None);
    }

    #[test]
    fn the_offered_intents_are_read_from_the_call_s_log_line() {
        let dir = std::env::temp_dir().join(format!("fd-clarify-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("server.log");
        std::fs::write(
            &log,
            "x INFO clarifying question call_id=other@h node=main_menu offered=pothole\n\
             x INFO clarifying question call_id=abc@h node=main_menu offered=council_tax_pay,council_tax_balance\n",
        )
        .expect("log");
        assert_eq!(
            clarification_in_log(&log, "abc@h"),
            Some(vec![
                "council_tax_pay".to_string(),
                "council_tax_balance".to_string()
            ])
        );
        assert_eq!(clarification_in_log(&log, "none@h"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn finds_the_call_id_of_an_invite() {
        let invite = b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(header_value(invite, "call-id").as_deref(), Some("abc@h"));
        assert_eq!(header_value(invite, "To"), None);
    }
}
