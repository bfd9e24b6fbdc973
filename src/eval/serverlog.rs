//! Per-turn recognition figures from the server's log: each `speech turn` line carries the
//! utterance length, queue wait, decode time and the time from end of speech to the result;
//! `language detected` lines carry the detected language. Keyed by Call-ID, so each evaluation
//! call gets its own stage breakdown (where the turn latency goes).

use std::collections::HashMap;

use serde::Serialize;

/// One recognised turn as the server logged it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TurnStages {
    pub utterance_ms: Option<f64>,
    pub queue_wait_ms: Option<f64>,
    pub decode_ms: Option<f64>,
    /// From the endpointer's end of speech to the recogniser's result.
    pub end_to_result_ms: Option<f64>,
    /// `hit`, `miss`... (whether the speculative decode at the first pause was used).
    pub speculative: Option<String>,
    pub heard: Option<bool>,
    /// Why a turn counted as no input (`empty`, `filler`...), if it did.
    pub no_input: Option<String>,
}

impl TurnStages {
    /// Decode time over audio length.
    pub fn real_time_factor(&self) -> Option<f64> {
        match (self.decode_ms, self.utterance_ms) {
            (Some(d), Some(u)) if u > 0.0 => Some(d / u),
            _ => None,
        }
    }
}

/// What the log says about each call.
#[derive(Debug, Clone, Default)]
pub struct ServerLog {
    /// Call-ID → its speech turns, in order.
    pub turns: HashMap<String, Vec<TurnStages>>,
    /// Call-ID → detected language.
    pub languages: HashMap<String, String>,
}

impl ServerLog {
    pub fn parse(log: &str) -> ServerLog {
        let mut out = ServerLog::default();
        for line in log.lines() {
            let Some(call_id) = field(line, "call_id") else {
                continue;
            };
            if line.contains("speech turn") {
                let num = |k: &str| field(line, k).and_then(|v| v.parse::<f64>().ok());
                out.turns.entry(call_id).or_default().push(TurnStages {
                    utterance_ms: num("utterance_ms"),
                    queue_wait_ms: num("queue_wait_ms"),
                    decode_ms: num("decode_ms"),
                    end_to_result_ms: num("end_to_result_ms"),
                    speculative: field(line, "speculative"),
                    heard: field(line, "heard").map(|v| v == "true"),
                    no_input: field(line, "no_input").filter(|v| !v.is_empty()),
                });
            } else if line.contains("language detected")
                && let Some(language) = field(line, "language")
            {
                // `language=Some("pl")` (Debug of an Option) or `language=pl`.
                let code = language
                    .trim_start_matches("Some(")
                    .trim_end_matches(')')
                    .trim_matches('"')
                    .to_string();
                if code != "None" && !code.is_empty() {
                    out.languages.insert(call_id, code);
                }
            }
        }
        out
    }
}

/// The value of `key=value` in a tracing line: up to the next space, quotes removed.
fn field(line: &str, key: &str) -> Option<String> {
    let needle = format!(" {key}=");
    let start = line.find(&needle)? + needle.len();
    let rest = line.get(start..)?;
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next().unwrap_or_default()
    } else {
        rest.split(' ').next().unwrap_or_default()
    };
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-11-26T06:35:39Z  INFO speech turn call_id=abc@127.0.0.1:1 utterance_ms=2000 speculative=\"hit\" queue_wait_ms=10 decode_ms=500 end_to_result_ms=0 heard=true no_input=\"\" confidence=0.73 transcript=<redacted 27 chars>\n\
        2026-11-26T06:35:40Z  INFO language detected call_id=def@127.0.0.1:2 language=Some(\"pl\") probability=0.9\n\
        2026-11-26T06:35:41Z  INFO speech turn call_id=def@127.0.0.1:2 utterance_ms=1000 decode_ms=400 heard=false no_input=\"empty\"\n";

    #[test]
    fn reads_stages_and_languages_by_call() {
        let log = ServerLog::parse(LOG);
        let abc = &log.turns["abc@127.0.0.1:1"][0];
        assert_eq!(abc.decode_ms, Some(500.0));
        assert_eq!(abc.speculative.as_deref(), Some("hit"));
        assert_eq!(abc.no_input, None);
        assert_eq!(abc.real_time_factor(), Some(0.25));
        let def = &log.turns["def@127.0.0.1:2"][0];
        assert_eq!(
            (def.heard, def.no_input.as_deref()),
            (Some(false), Some("empty"))
        );
        assert_eq!(log.languages["def@127.0.0.1:2"], "pl");
    }
}
