//! Applying a compiled policy to text and to a whole chat request: every message role's text
//! (system prompt and tool results included) and the assistant's tool-call arguments.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::detect::{Detector, Detectors};
use super::policy::{Action, PiiType};
use super::restore::Restorer;
use crate::providers::types::{ChatRequest, Part};

/// What one request's scrubbing found and did.
#[derive(Debug, Default)]
pub struct Session {
    /// Findings per type (policy key), blocked ones included.
    pub counts: BTreeMap<String, u32>,
    /// Types found whose action is `block`.
    pub blocked: BTreeSet<String>,
    /// Whether any text was rewritten.
    pub changed: bool,
    /// Tokenized values and their placeholders.
    pub restorer: Restorer,
    tokens: HashMap<(usize, String), String>,
    next: HashMap<String, u32>,
}

impl Session {
    fn placeholder(&mut self, index: usize, label: &str, value: &str) -> String {
        if let Some(p) = self.tokens.get(&(index, value.to_owned())) {
            return p.clone();
        }
        let n = self.next.entry(label.to_owned()).or_insert(0);
        *n += 1;
        let placeholder = format!("[{label}_{n}]");
        self.tokens
            .insert((index, value.to_owned()), placeholder.clone());
        self.restorer.insert(placeholder.clone(), value.to_owned());
        placeholder
    }
}

impl Detectors {
    /// `text` with the policy applied, or `None` when nothing in it changes.
    pub fn scrub(&self, text: &str, session: &mut Session) -> Option<String> {
        let findings = self.find(text);
        if findings.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        let mut changed = false;
        for f in findings {
            let detector = &self.detectors[f.detector];
            *session.counts.entry(detector.key.clone()).or_insert(0) += 1;
            let value = &text[f.start..f.end];
            let replacement = match detector.action {
                Action::Allow => continue,
                Action::Block => {
                    session.blocked.insert(detector.key.clone());
                    continue;
                }
                Action::Redact => format!("[{}]", detector.label),
                Action::Mask => mask(detector, value),
                Action::Tokenize => session.placeholder(f.detector, &detector.label, value),
            };
            out.push_str(&text[at..f.start]);
            out.push_str(&replacement);
            at = f.end;
            changed = true;
        }
        if !changed {
            return None;
        }
        out.push_str(&text[at..]);
        session.changed = true;
        Some(out)
    }

    /// Applies the policy to every text of `chat` the provider would see.
    pub fn scrub_chat(&self, chat: &mut ChatRequest) -> Session {
        let mut session = Session::default();
        for message in &mut chat.messages {
            for part in &mut message.content {
                if let Part::Text { text } = part
                    && let Some(t) = self.scrub(text, &mut session)
                {
                    *text = t;
                }
            }
            for call in &mut message.tool_calls {
                if let Some(t) = self.scrub(&call.arguments, &mut session) {
                    call.arguments = t;
                }
            }
        }
        session
    }
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// The masked form of `value`.
fn mask(detector: &Detector, value: &str) -> String {
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    match detector.builtin {
        Some(PiiType::Email) => {
            let (local, domain) = value.split_once('@').unwrap_or((value, ""));
            let tld = domain.rsplit_once('.').map_or("", |(_, t)| t);
            format!("{}***@{}***.{tld}", first(local), first(domain))
        }
        Some(PiiType::Card) => {
            let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
            let keep = digits.len().saturating_sub(4);
            let last: String = digits[keep..].iter().collect();
            format!("{}{last}", stars(keep))
        }
        Some(PiiType::Phone | PiiType::Ssn) => {
            let total = value.chars().filter(char::is_ascii_digit).count();
            let mut seen = 0;
            value
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        seen += 1;
                        if seen <= total.saturating_sub(4) {
                            return '*';
                        }
                    }
                    c
                })
                .collect()
        }
        Some(PiiType::Iban) => {
            let compact: Vec<char> = value.chars().filter(|c| *c != ' ').collect();
            let keep = compact.len().saturating_sub(4);
            let country: String = compact.iter().take(2).collect();
            let last: String = compact[keep..].iter().collect();
            format!("{country}{}{last}", stars(keep.saturating_sub(2)))
        }
        Some(PiiType::Ip) => match value.split_once('.') {
            Some((first_octet, _)) => format!("{first_octet}.*.*.*"),
            None => format!("{}:*", value.split(':').next().unwrap_or_default()),
        },
        Some(PiiType::Secret) => {
            let head: String = value.chars().take(4).collect();
            format!("{head}****")
        }
        None => format!("{}***", first(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pii::policy::{CustomRule, PiiPolicy};

    fn with(action: Action) -> Detectors {
        let mut p = PiiPolicy::default();
        for t in PiiType::ALL {
            p.set(t, Some(action));
        }
        p.custom.push(CustomRule {
            name: "EMPLOYEE_ID".into(),
            pattern: r"\bE-[0-9]{6}\b".into(),
            action,
        });
        Detectors::compile(&p).unwrap().unwrap()
    }

    #[test]
    fn each_action_rewrites_as_documented() {
        let text =
            "jane@example.com paid with 4242 4242 4242 4242, employee E-123456, from 10.1.2.3";
        let mut s = Session::default();
        assert_eq!(
            with(Action::Redact).scrub(text, &mut s).unwrap(),
            "[EMAIL] paid with [CARD], employee [EMPLOYEE_ID], from [IP]"
        );
        assert_eq!(
            with(Action::Mask)
                .scrub(text, &mut Session::default())
                .unwrap(),
            "j***@e***.com paid with ************4242, employee E***, from 10.*.*.*"
        );
        let mut s = Session::default();
        let twice = format!("{text} again jane@example.com");
        let out = with(Action::Tokenize).scrub(&twice, &mut s).unwrap();
        assert_eq!(
            out,
            "[EMAIL_1] paid with [CARD_1], employee [EMPLOYEE_ID_1], from [IP_1] again [EMAIL_1]"
        );
        assert_eq!(s.restorer.restore(&out, false), twice);
        assert_eq!(s.counts.get("email"), Some(&2));
        let mut s = Session::default();
        assert!(with(Action::Block).scrub(text, &mut s).is_none());
        assert!(s.blocked.contains("card") && s.blocked.contains("EMPLOYEE_ID"));
    }

    #[test]
    fn masks_phones_ssns_and_ibans_keeping_the_last_digits() {
        let mut s = Session::default();
        assert_eq!(
            with(Action::Mask)
                .scrub(
                    "ssn 123-45-6789 tel (415) 555-0132 iban GB82WEST12345698765432",
                    &mut s
                )
                .unwrap(),
            "ssn ***-**-6789 tel (***) ***-0132 iban GB****************5432"
        );
    }
}
