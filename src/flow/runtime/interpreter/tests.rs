//! The interpreter on small flows, event by event.

use super::*;
use crate::flow::catalog::PromptCatalog;
use crate::flow::check::check;
use crate::flow::understand::Understanding;

const FLOW: &str = r#"
flow: unit
languages: [en, cy]
start: greet
intents:
  "yes": {examples: ["yes"], keywords: ["yes"]}
  "no": {examples: ["no"], keywords: ["no"]}
nodes:
  greet:
    say: {text: {en: "Hello", cy: "Helo"}}
    next: remember
  remember:
    set: {topic: "bins"}
    next: route
  route:
    branch:
      - when: {var: vars.topic, equals: bins}
        goto: count
    else: bye
  count:
    ask: {text: {en: "How many? Press 0 on its own for someone.", cy: "Faint? 0 am rywun."}}
    slot: {name: count, type: number}
    next: check
  check:
    confirm: {text: {en: "You said {slots.count}?", cy: "{slots.count}?"}}
    "yes": bye
    "no": count
  bye:
    hangup: {text: {en: "Bye {vars.topic}", cy: "Hwyl"}}
"#;

/// An interpreter for `yaml` on Thursday 2026-11-26 at 10:00, caller withheld.
fn interpreter(name: &str, yaml: &str) -> (Interpreter, Arc<Understanding>) {
    let (flow, d) = check(std::path::Path::new(name), yaml, &PromptCatalog::default());
    let flow = Arc::new(flow.unwrap_or_else(|| panic!("{d}")));
    let u = Arc::new(Understanding::new(&flow).unwrap());
    let ctx = CallContext {
        date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        time: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        caller: None,
        dialled: String::new(),
    };
    (Interpreter::new(flow, u.clone(), ctx), u)
}

fn start() -> (Interpreter, Arc<Understanding>, Vec<CallAction>) {
    let (mut i, u) = interpreter("unit.yaml", FLOW);
    let out = i.handle(FlowEvent::Started, Instant::now());
    (i, u, out)
}

fn texts(actions: &[CallAction]) -> Vec<String> {
    actions
        .iter()
        .flat_map(|a| match a {
            CallAction::Play { items, .. } => items.clone(),
            _ => Vec::new(),
        })
        .filter_map(|i| match i {
            PlayItem::Text { text, .. } => Some(text),
            _ => None,
        })
        .collect()
}

fn heard(i: &Interpreter, u: &Understanding, text: &str, lang: Option<&str>) -> FlowEvent {
    u.understand(
        i.expecting().as_ref(),
        text,
        i.call_date(),
        lang.map(str::to_string),
    )
}

#[test]
fn say_set_branch_ask_confirm_hangup() {
    let (mut i, u, out) = start();
    assert_eq!(texts(&out), ["Hello"]);
    let now = Instant::now();
    let out = i.handle(FlowEvent::PromptFinished, now);
    assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
    assert_eq!(i.path(), ["greet", "remember", "route", "count"]);
    let e = heard(&i, &u, "twelve", None);
    let out = i.handle(e, now);
    assert_eq!(texts(&out), ["You said 12?"]);
    let out = i.handle(FlowEvent::Dtmf('1'), now);
    assert_eq!(texts(&out), ["Bye bins"]);
    assert_eq!(
        i.handle(FlowEvent::PromptFinished, now),
        vec![CallAction::Hangup]
    );
    assert!(i.has_ended());
    assert!(
        i.handle(FlowEvent::Started, now).is_empty(),
        "nothing after the end"
    );
}

fn listen_of(actions: &[CallAction]) -> Option<ListenSpec> {
    actions.iter().find_map(|a| match a {
        CallAction::Listen(spec) => Some(spec.clone()),
        _ => None,
    })
}

#[test]
fn spoken_values_wait_longer_for_the_end_of_speech_than_open_questions() {
    let (mut i, u, _) = start();
    let now = Instant::now();
    // `count` asks for a number: callers read numbers in groups, so the long silence.
    let out = i.handle(FlowEvent::PromptFinished, now);
    let spec = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(spec.end_of_speech, std::time::Duration::from_millis(1000));
    // No hint words at a question for a value: Whisper would hear them instead of digits.
    assert!(spec.hints.is_empty(), "{:?}", spec.hints);
    // The yes/no confirm is an open question: the short one.
    let e = heard(&i, &u, "twelve", None);
    let out = i.handle(e, now);
    let spec = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(spec.end_of_speech, std::time::Duration::from_millis(350));
    assert!(spec.hints.iter().any(|h| h == "yes"), "{:?}", spec.hints);
}

/// A menu with an intent that creates a case, and the `slower` global.
const CASE_FLOW: &str = r#"
flow: cases
start: menu
intents:
  missed_bin: {examples: ["my bin was not collected"], keywords: [bin]}
  slower: {examples: ["could you speak more slowly"], keywords: [slowly]}
nodes:
  menu:
    ask: {text: "What is it about? Press 1 for bins, 0 for someone."}
    intents: {missed_bin: record}
    keys: {"1": missed_bin}
  record:
    case: {type: missed_bin, fields: {note: "x"}}
    next: bye
  bye:
    hangup: {text: "Bye"}
"#;

#[test]
fn a_caller_who_asked_for_slower_speech_gets_longer_to_answer() {
    let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
    let now = Instant::now();
    // The question plays and is listened to at once (barge-in).
    let out = i.handle(FlowEvent::Started, now);
    let before = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(before.end_of_speech, std::time::Duration::from_millis(350));
    let e = heard(&i, &u, "could you speak more slowly", None);
    let out = i.handle(e, now);
    assert!(i.is_slow());
    // The question is asked again, slower, and the caller has longer to answer.
    let after = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(after.end_of_speech, before.end_of_speech * 2);
    assert_eq!(after.no_input_timeout, before.no_input_timeout * 3 / 2);
}

/// The English model's words for a first answer the language check heard as another
/// language: a clear intent is English misheard as foreign and goes on; anything weaker
/// goes to the language question (interpreter offer), as a foreign answer must.
#[test]
fn english_words_tagged_with_another_language_need_a_clear_intent() {
    let tagged = |i: &Interpreter, u: &Understanding, text: &str| match heard(i, u, text, None) {
        FlowEvent::Heard {
            text,
            intent,
            confidence,
            slots,
            top,
            ..
        } => FlowEvent::Heard {
            text,
            intent,
            confidence,
            slots,
            language: Some("zh".into()),
            top,
        },
        other => panic!("{other:?}"),
    };
    let now = Instant::now();
    let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
    i.handle(FlowEvent::Started, now);
    let e = tagged(&i, &u, "my bin was not collected");
    let out = i.handle(e, now);
    assert!(
        out.iter().any(|a| matches!(a, CallAction::SaveCase(_))),
        "{out:?}"
    );

    // A global intent, however sure, is no evidence against the other language.
    let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
    i.handle(FlowEvent::Started, now);
    let e = tagged(&i, &u, "could you speak more slowly");
    let out = i.handle(e, now);
    assert_eq!(out, [CallAction::DetectLanguage]);

    let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
    i.handle(FlowEvent::Started, now);
    // An intent in English (0.50 here), but not clearly enough for words in another language.
    let e = tagged(&i, &u, "it was collected on monday");
    assert!(
        matches!(
            &e,
            FlowEvent::Heard {
                intent: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let out = i.handle(e, now);
    assert_eq!(out, [CallAction::DetectLanguage]);
}

#[test]
fn a_case_carries_intent_language_accessibility_and_what_was_said() {
    let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
    let now = Instant::now();
    i.handle(FlowEvent::Started, now);
    i.handle(FlowEvent::PromptFinished, now);
    let e = heard(&i, &u, "could you speak more slowly", None);
    i.handle(e, now);
    i.handle(FlowEvent::PromptFinished, now);
    let e = heard(&i, &u, "my bin was not collected", None);
    let out = i.handle(e, now);
    let case = out
        .iter()
        .find_map(|a| match a {
            CallAction::SaveCase(case) => Some(case.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(case.service, "missed_bin");
    assert_eq!(case.intent.as_deref(), Some("missed_bin"));
    assert_eq!(case.language, "en");
    assert_eq!(case.accessibility.flags(), ["slow_speech"]);
    let excerpts: Vec<&str> = case
        .transcript_excerpts
        .iter()
        .map(|t| t.expose().as_str())
        .collect();
    assert_eq!(
        excerpts,
        ["could you speak more slowly", "my bin was not collected"]
    );
    assert_eq!(case.update_of, None);
    assert_eq!(
        case.fields,
        [CaseField::new("note", FieldType::Text, json!("x"))]
    );
}

/// Case fields named like what describes a case, one of them a captured postcode.
const NAMED_FIELDS_FLOW: &str = r#"
flow: named
start: postcode
intents:
  missed_bin: {examples: ["my bin was not collected"], keywords: [bin]}
nodes:
  postcode:
    ask: {text: "Your postcode?"}
    slot: {name: postcode, type: uk_postcode}
    next: menu
    fallback: bye
  menu:
    ask: {text: "What is it about? Press 1 for bins."}
    intents: {missed_bin: record}
    keys: {"1": missed_bin}
  record:
    case:
      type: missed_bin
      fields: {intent: "designer's", language: "{slots.postcode}", type: "kerbside", flow: "x"}
    next: bye
  bye:
    hangup: {text: "Bye"}
"#;

#[test]
fn case_fields_may_be_named_anything_and_stay_fields() {
    let (mut i, u) = interpreter("named.yaml", NAMED_FIELDS_FLOW);
    let now = Instant::now();
    i.handle(FlowEvent::Started, now);
    let e = heard(&i, &u, "RM17 6SL", None);
    i.handle(e, now);
    let e = heard(&i, &u, "my bin was not collected", None);
    let out = i.handle(e, now);
    let case = out
        .iter()
        .find_map(|a| match a {
            CallAction::SaveCase(case) => Some(case.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(case.service, "missed_bin");
    assert_eq!(case.intent.as_deref(), Some("missed_bin"));
    assert_eq!(case.language, "en");
    assert_eq!(case.flow_name, "named");
    let names: Vec<&str> = case.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["intent", "language", "type", "flow"]);
    assert_eq!(case.fields[0].value.expose(), &json!("designer's"));
    // The postcode keeps its slot's type, and with it the wrapping of personal data.
    assert_eq!(case.fields[1].kind, FieldType::UkPostcode);
    assert!(matches!(
        &case.fields[1].value,
        crate::handler::FieldValue::Personal(p) if p.expose() == &json!("RM17 6SL")
    ));
    assert_eq!(case.fields[2].value.expose(), &json!("kerbside"));
}

#[test]
fn a_key_over_an_interruptible_say_moves_on_instead_of_waiting_forever() {
    // The runtime stops an interruptible prompt for any key and never reports it finished
    // (a `#` left over from digit entry used to leave the call stuck in the read-back).
    let (mut i, _, out) = start();
    assert!(matches!(&out[0], CallAction::Play { barge_in: true, .. }));
    let out = i.handle(FlowEvent::Dtmf('#'), Instant::now());
    assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
    assert_eq!(i.current_node(), "count");
}

#[test]
fn speaking_another_declared_language_switches_and_repeats() {
    let (mut i, u, _) = start();
    let now = Instant::now();
    i.handle(FlowEvent::PromptFinished, now);
    let e = heard(&i, &u, "dim diolch", Some("cy"));
    let out = i.handle(e, now);
    assert_eq!(texts(&out), ["Faint? 0 am rywun."]);
    assert_eq!(i.language(), "cy");
}

#[test]
fn safeguarding_interrupts_a_say_and_transfers_at_top_priority() {
    let (mut i, u, _) = start();
    let now = Instant::now();
    let e = heard(&i, &u, "I am in danger", None);
    let out = i.handle(e, now);
    assert_eq!(out[0], CallAction::StopPlayback);
    let out = i.handle(FlowEvent::PromptFinished, now);
    assert!(
        matches!(&out[0], CallAction::Transfer { queue, context } if queue == "safeguarding" && matches!(context, TransferContext::Flow(f) if f.priority == TransferPriority::Emergency)),
        "{out:?}"
    );
}

#[test]
fn digits_other_than_zero_alone_are_values_and_no_input_reprompts() {
    let (mut i, _, _) = start();
    let now = Instant::now();
    i.handle(FlowEvent::PromptFinished, now);
    let out = i.handle(FlowEvent::NoInput, now);
    assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
    let out = i.handle(FlowEvent::Digits("03#".into()), now);
    assert_eq!(texts(&out), ["You said 3?"]);
    let out = i.handle(FlowEvent::Dtmf('2'), now);
    assert_eq!(i.current_node(), "count", "{out:?}");
    let out = i.handle(FlowEvent::Digits("0".into()), now);
    assert!(
        matches!(&out[0], CallAction::Transfer { queue, .. } if queue == "advisors"),
        "{out:?}"
    );
}

const MENU: &str = r#"
flow: menu
start: menu
globals: {language: false}
intents:
  pay: {examples: ["pay my bill"], describe: "paying your bill"}
  balance: {examples: ["my balance"], describe: "your balance"}
  lost: {examples: ["I lost something"]}
nodes:
  menu:
    ask: {text: "How can I help?"}
    intents: {pay: paid, balance: told, lost: told}
    keys: {"1": pay}
    CLARIFY
  paid: {hangup: {text: "Paid"}}
  told: {hangup: {text: "Told"}}
"#;

/// A no-match with these best intents, as the classifier reports it.
fn unsure(top: &[(&str, f32)]) -> FlowEvent {
    FlowEvent::Heard {
        text: Pii::new("mumble".to_string()),
        intent: None,
        confidence: top.first().map_or(0.0, |t| t.1),
        slots: BTreeMap::new(),
        language: None,
        top: top.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
    }
}

fn menu(clarify: &str) -> Interpreter {
    let (mut i, _) = interpreter("menu.yaml", &MENU.replace("CLARIFY", clarify));
    i.handle(FlowEvent::Started, Instant::now());
    i
}

#[test]
fn a_near_answer_is_clarified_with_keys_then_taken() {
    let now = Instant::now();
    let mut i = menu("");
    let out = i.handle(unsure(&[("pay", 0.5), ("balance", 0.45)]), now);
    assert_eq!(
        texts(&out),
        [
            "Is that about paying your bill? Press 1 for yes, 2 for your balance, or 0 for an advisor."
        ]
    );
    assert_eq!(
        i.expecting(),
        Some(Expecting::Clarify {
            intents: vec!["pay".into(), "balance".into()]
        })
    );
    assert_eq!(i.turns().last().map(|t| t.prompt.as_str()), Some("menu"));
    let out = i.handle(FlowEvent::Dtmf('2'), now);
    assert_eq!(texts(&out), ["Told"]);
    assert_eq!(
        i.turns().last().map(|t| t.prompt.as_str()),
        Some("did_you_mean:pay,balance"),
        "the record names what was asked"
    );
}

#[test]
fn one_candidate_is_offered_alone_and_no_asks_the_question_again() {
    let now = Instant::now();
    let mut i = menu("");
    // The second is too far behind to be named; `lost` has no description and never is.
    let out = i.handle(
        unsure(&[("pay", 0.44), ("lost", 0.43), ("balance", 0.2)]),
        now,
    );
    assert_eq!(
        texts(&out),
        ["Is that about paying your bill? Press 1 for yes, 2 for no, or 0 for an advisor."]
    );
    let out = i.handle(FlowEvent::Dtmf('2'), now);
    assert_eq!(texts(&out), ["How can I help?"]);
    // Once per question: the next near answer is an ordinary no-match.
    let out = i.handle(unsure(&[("pay", 0.44)]), now);
    assert_eq!(texts(&out), ["How can I help?"]);
}

#[test]
fn far_answers_and_asks_that_switch_it_off_get_no_clarifying_question() {
    let now = Instant::now();
    let mut i = menu("");
    let out = i.handle(unsure(&[("pay", 0.2), ("balance", 0.1)]), now);
    assert_eq!(texts(&out), ["How can I help?"]);
    let mut i = menu("clarify: false");
    let out = i.handle(unsure(&[("pay", 0.5), ("balance", 0.45)]), now);
    assert_eq!(texts(&out), ["How can I help?"]);
}
