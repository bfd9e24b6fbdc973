//! The readers every section is built from: mappings with their allowed keys, strings,
//! numbers, booleans, and the wrong-type report.

use super::{Reader, Sp};
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::yaml::{Node, Pos, Value};

impl Reader<'_> {
    /// A mapping whose keys must be in `allowed`; reports unknown and repeated keys.
    pub(super) fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'n [(Node, Node)]> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, what);
            return None;
        };
        self.check_keys(entries, allowed, what);
        Some(entries)
    }

    pub(super) fn check_keys(&mut self, entries: &[(Node, Node)], allowed: &[&str], what: &str) {
        for (i, (key, _)) in entries.iter().enumerate() {
            let Some(name) = key.as_str() else {
                self.error(
                    key.pos,
                    "wrong-type",
                    format!("keys of {what} must be text"),
                    None,
                );
                continue;
            };
            if !allowed.contains(&name) {
                let hint = did_you_mean(name, allowed.iter().copied())
                    .or_else(|| Some(format!("{what} takes: {}", allowed.join(", "))));
                self.error(
                    key.pos,
                    "unknown-key",
                    format!("unknown key `{name}` in {what}"),
                    hint,
                );
            } else if entries[..i].iter().any(|(k, _)| k.as_str() == Some(name)) {
                self.error(
                    key.pos,
                    "duplicate-key",
                    format!("`{name}` is given twice in {what}"),
                    None,
                );
            }
        }
    }

    /// A mapping with designer-chosen keys (ids, names); duplicates are reported by `check`.
    pub(super) fn open_map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.wrong_type(node, what);
                None
            }
        }
    }

    pub(super) fn key(&mut self, node: &Node) -> Option<Sp<String>> {
        match node.scalar_text() {
            Some(value) => Some(Sp {
                value,
                pos: node.pos,
            }),
            None => {
                self.error(node.pos, "wrong-type", "a key must be text", None);
                None
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Str(_) | Value::Int(_) => node.scalar_text().map(|value| Sp {
                value,
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, what);
                None
            }
        }
    }

    pub(super) fn string_list(&mut self, node: &Node, what: &str) -> Vec<Sp<String>> {
        match &node.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            Value::Str(_) => self.string(node, what).into_iter().collect(),
            _ => {
                self.wrong_type(node, what);
                Vec::new()
            }
        }
    }

    pub(super) fn string_map(&mut self, node: &Node, what: &str) -> Vec<(Sp<String>, Sp<String>)> {
        let Some(entries) = self.open_map(node, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if let (Some(key), Some(value)) = (self.key(k), self.string(v, what)) {
                out.push((key, value));
            }
        }
        out
    }

    pub(super) fn number(&mut self, node: &Node, what: &str) -> Option<Sp<u32>> {
        match node.value {
            Value::Int(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(Sp {
                value: u32::try_from(n).unwrap_or(u32::MAX),
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, &format!("{what} (a whole number)"));
                None
            }
        }
    }

    /// A number from 0 to 1 (a probability).
    pub(super) fn fraction(&mut self, node: &Node, what: &str) -> Option<Sp<f64>> {
        let value = match node.value {
            Value::Float(f) => f,
            Value::Int(n) if (0..=1).contains(&n) => n as f64,
            _ => f64::NAN,
        };
        if (0.0..=1.0).contains(&value) {
            Some(Sp {
                value,
                pos: node.pos,
            })
        } else {
            self.wrong_type(node, &format!("{what} (a number from 0 to 1)"));
            None
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, what: &str) -> Option<Sp<bool>> {
        match node.value {
            Value::Bool(b) => Some(Sp {
                value: b,
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, &format!("{what} (true or false)"));
                None
            }
        }
    }

    pub(super) fn wrong_type(&mut self, node: &Node, what: &str) {
        self.error(
            node.pos,
            "wrong-type",
            format!("expected {what}, found {}", node.kind()),
            None,
        );
    }

    pub(super) fn error(
        &mut self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.error(self.file, pos, code, message, hint);
    }
}
