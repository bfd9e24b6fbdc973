//! Prompts as written: a name, `{prompt: name}`, `{text: "..."}` or `{text: {lang: "..."}}`,
//! one or a list, and escalating reprompts.

use super::{RawPrompt, Reader, Sp};
use crate::flow::language::yaml::{Node, Value};

impl Reader<'_> {
    /// Escalating reprompts: a list whose entries are each a prompt or a list of prompts.
    pub(super) fn prompt_steps(&mut self, node: &Node) -> Vec<Vec<RawPrompt>> {
        match &node.value {
            Value::Seq(items) => items.iter().map(|i| self.prompts(i)).collect(),
            _ => vec![self.prompts(node)],
        }
    }

    /// One prompt or a list: `name`, `{text: "..."}`, `{text: {en: "...", cy: "..."}}`.
    pub(super) fn prompts(&mut self, node: &Node) -> Vec<RawPrompt> {
        match &node.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.prompt(i)).collect(),
            _ => self.prompt(node).into_iter().collect(),
        }
    }

    fn prompt(&mut self, node: &Node) -> Option<RawPrompt> {
        match &node.value {
            Value::Str(s) => Some(RawPrompt::Named(Sp {
                value: s.clone(),
                pos: node.pos,
            })),
            Value::Map(_) => {
                let entries = self.map(node, "a prompt", &["text", "prompt"])?;
                let (k, v) = entries.first()?;
                match k.as_str() {
                    Some("prompt") => self
                        .string(v, "`prompt` (a prompt name)")
                        .map(RawPrompt::Named),
                    _ => match &v.value {
                        Value::Str(s) => Some(RawPrompt::Text {
                            pos: v.pos,
                            by_lang: vec![(
                                None,
                                Sp {
                                    value: s.clone(),
                                    pos: v.pos,
                                },
                            )],
                        }),
                        Value::Map(_) => {
                            let by_lang = self
                                .string_map(v, "`text` per language (lang: text)")
                                .into_iter()
                                .map(|(l, t)| (Some(l), t))
                                .collect();
                            Some(RawPrompt::Text {
                                pos: v.pos,
                                by_lang,
                            })
                        }
                        _ => {
                            self.wrong_type(v, "`text`");
                            None
                        }
                    },
                }
            }
            _ => {
                self.wrong_type(node, "a prompt (a name, or `text:`)");
                None
            }
        }
    }
}
