//! The compiled detectors of one effective policy. The built-in patterns form one multi-pattern
//! regex searched in a single leftmost-first pass (pattern order breaks ties at the same start);
//! every candidate is validated (checksums, number plans, std parsing, entropy), and a candidate
//! that fails is retried with the later patterns anchored at the same start before the search
//! moves on to the next word. Tenant regexes run in their own pass. Overlapping findings are
//! resolved leftmost-longest, then by detector order.

use regex::Regex;
use regex_automata::{Anchored, Input, PatternID, meta};

use super::policy::{Action, PiiPolicy, PiiType};
use super::validate;

/// What validates a pattern's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Email,
    Phone,
    Card,
    Ssn,
    Iban,
    Ipv4,
    Ipv6,
    Secret,
}

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}";
/// Shapes the phone validator can accept: `+` and a country code, `(AAA) EEE-LLLL`, or three
/// or more groups ending in four digits.
const PHONE: &str = r"\+[0-9]{8,15}|\+[0-9]{1,4}(?:[ .-][0-9]{1,8}){1,6}|\([0-9]{3}\)[ .-]?[0-9]{3}[ .-][0-9]{4}|[0-9]{1,5}(?:[ .-][0-9]{1,5}){1,4}[ .-][0-9]{4}";
const CARD: &str = r"[0-9](?:[ -]?[0-9]){12,22}";
const SSN: &str = r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}";
const IBAN: &str = r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,34}";
const IPV4: &str = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}";
const SECRET: &str = r"[A-Za-z0-9][A-Za-z0-9_+/-]{15,}={0,2}";

/// Built-in patterns in search order (ties at one start go to the earlier pattern).
const SEARCH_ORDER: [(PiiType, Check, &str); 8] = [
    (PiiType::Email, Check::Email, EMAIL),
    (PiiType::Iban, Check::Iban, IBAN),
    (PiiType::Card, Check::Card, CARD),
    (PiiType::Ssn, Check::Ssn, SSN),
    (PiiType::Ip, Check::Ipv4, IPV4),
    (PiiType::Ip, Check::Ipv6, IPV6),
    (PiiType::Phone, Check::Phone, PHONE),
    (PiiType::Secret, Check::Secret, SECRET),
];

/// One active detector.
#[derive(Debug)]
pub struct Detector {
    /// Count key and policy name: `email`, …, or the custom rule's name.
    pub key: String,
    /// Placeholder label: `EMAIL`, …, or the custom rule's name.
    pub label: String,
    /// The built-in type, `None` for a custom rule.
    pub builtin: Option<PiiType>,
    pub action: Action,
}

/// A validated match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    /// Index into [`Detectors::detectors`].
    pub detector: usize,
}

/// The compiled form of one effective policy.
#[derive(Debug)]
pub struct Detectors {
    pub detectors: Vec<Detector>,
    /// The active built-in patterns as one regex; pattern i is `checks[i]`.
    builtin: Option<meta::Regex>,
    /// Per built-in pattern: its validation and its detector.
    checks: Vec<(Check, usize)>,
    /// Tenant regexes and their detectors.
    custom: Vec<(Regex, usize)>,
}

impl Detectors {
    /// Compiles the rules of `policy` that do something; `Ok(None)` when none does.
    pub fn compile(policy: &PiiPolicy) -> Result<Option<Detectors>, String> {
        policy.validate()?;
        let mut detectors = Vec::new();
        let mut custom = Vec::new();
        for rule in &policy.custom {
            if rule.action == Action::Allow {
                continue;
            }
            custom.push((
                Regex::new(&rule.pattern).map_err(|e| e.to_string())?,
                detectors.len(),
            ));
            detectors.push(Detector {
                key: rule.name.clone(),
                label: rule.name.clone(),
                builtin: None,
                action: rule.action,
            });
        }
        let mut checks = Vec::new();
        let mut patterns = Vec::new();
        for (t, check, pattern) in SEARCH_ORDER {
            let Some(action) = policy.get(t).filter(|a| *a != Action::Allow) else {
                continue;
            };
            let index = match detectors.iter().position(|d| d.builtin == Some(t)) {
                Some(i) => i,
                None => {
                    detectors.push(Detector {
                        key: t.key().to_owned(),
                        label: t.label().to_owned(),
                        builtin: Some(t),
                        action,
                    });
                    detectors.len() - 1
                }
            };
            checks.push((check, index));
            patterns.push(pattern);
        }
        if detectors.is_empty() {
            return Ok(None);
        }
        let builtin = if patterns.is_empty() {
            None
        } else {
            Some(meta::Regex::new_many(&patterns).map_err(|e| e.to_string())?)
        };
        Ok(Some(Detectors {
            detectors,
            builtin,
            checks,
            custom,
        }))
    }

    /// Every validated, non-overlapping finding in `text`, in order.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if let Some(re) = &self.builtin {
            self.find_builtin(re, text, &mut found);
        }
        for (regex, detector) in &self.custom {
            for m in regex.find_iter(text) {
                if m.start() < m.end() {
                    found.push(Finding {
                        start: m.start(),
                        end: m.end(),
                        detector: *detector,
                    });
                }
            }
        }
        if self.custom.is_empty() || found.len() < 2 {
            return found;
        }
        found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.detector));
        let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
        for f in found {
            if kept.last().is_none_or(|k| f.start >= k.end) {
                kept.push(f);
            }
        }
        kept
    }

    fn find_builtin(&self, re: &meta::Regex, text: &str, found: &mut Vec<Finding>) {
        let mut at = 0;
        while at < text.len() {
            let Some(m) = re.search(&Input::new(text).range(at..)) else {
                return;
            };
            let (start, end) = (m.start(), m.end());
            let first = m.pattern().as_usize();
            let mut hit = self.validate(first, text, start, end);
            // Later patterns may match at the same start (earlier ones did not).
            for next in first + 1..self.checks.len() {
                if hit.is_some() {
                    break;
                }
                let Some(pid) = PatternID::new(next).ok() else {
                    break;
                };
                let anchored = Input::new(text)
                    .range(start..)
                    .anchored(Anchored::Pattern(pid));
                if let Some(m) = re.search(&anchored) {
                    hit = self.validate(next, text, m.start(), m.end());
                }
            }
            match hit {
                Some(f) => {
                    at = f.end.max(start + 1);
                    found.push(f);
                }
                None => at = next_word(text, start),
            }
        }
    }

    fn validate(&self, pattern: usize, text: &str, start: usize, end: usize) -> Option<Finding> {
        let (check, detector) = self.checks[pattern];
        validated(check, text, start, end).map(|(start, end)| Finding {
            start,
            end,
            detector,
        })
    }
}

/// The first position after `from` that follows an ASCII byte other than a letter or digit
/// (where a new candidate may start), or the end.
fn next_word(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    (from + 1..bytes.len())
        .find(|&i| bytes[i - 1].is_ascii() && !bytes[i - 1].is_ascii_alphanumeric())
        .unwrap_or(bytes.len())
}

fn byte_at(text: &str, i: usize) -> Option<u8> {
    text.as_bytes().get(i).copied()
}

fn before(text: &str, start: usize) -> Option<u8> {
    start.checked_sub(1).and_then(|i| byte_at(text, i))
}

/// Whether the span stands alone: the byte before is not alphanumeric nor in `also_before`, the
/// byte after is not alphanumeric nor in `also_after`, and (for numeric types) no `.`/`-`
/// followed by a digit continues the number.
fn stands_alone(
    text: &str,
    start: usize,
    end: usize,
    also_before: &[u8],
    also_after: &[u8],
    numeric: bool,
) -> bool {
    let ok_before =
        before(text, start).is_none_or(|b| !b.is_ascii_alphanumeric() && !also_before.contains(&b));
    let after = byte_at(text, end);
    let ok_after = after.is_none_or(|b| !b.is_ascii_alphanumeric() && !also_after.contains(&b));
    let continues = numeric
        && matches!(after, Some(b'.' | b'-' | b'/' | b','))
        && byte_at(text, end + 1).is_some_and(|b| b.is_ascii_digit());
    let continued = numeric
        && matches!(before(text, start), Some(b'.' | b'-' | b'/'))
        && start
            .checked_sub(2)
            .and_then(|i| byte_at(text, i))
            .is_some_and(|b| b.is_ascii_digit());
    ok_before && ok_after && !continues && !continued
}

/// Tries the candidate, then shorter versions of it cut at a separator (from the right, then
/// from the left), so a number followed or preceded by an unrelated group is still found.
fn shrink(
    text: &str,
    start: usize,
    end: usize,
    accept: impl Fn(usize, usize) -> bool,
) -> Option<(usize, usize)> {
    if accept(start, end) {
        return Some((start, end));
    }
    let bytes = text.as_bytes();
    let cuts: Vec<usize> = (start..end)
        .filter(|&i| matches!(bytes[i], b' ' | b'-' | b'.'))
        .collect();
    for &cut in cuts.iter().rev() {
        if accept(start, cut) {
            return Some((start, cut));
        }
    }
    for &cut in &cuts {
        let s = cut + 1;
        if accept(s, end) {
            return Some((s, end));
        }
        for &c2 in cuts.iter().rev().filter(|c| **c > s) {
            if accept(s, c2) {
                return Some((s, c2));
            }
        }
    }
    None
}

fn validated(check: Check, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let s = |a: usize, b: usize| &text[a..b];
    match check {
        Check::Email => {
            let local = s(start, end).split('@').next().unwrap_or_default();
            let ok = !local.starts_with('.')
                && !local.ends_with('.')
                && stands_alone(text, start, end, b"_", b"_@", false);
            ok.then_some((start, end))
        }
        Check::Phone => shrink(text, start, end, |a, b| {
            validate::phone(s(a, b)) && stands_alone(text, a, b, b"_@+", b"_@", true)
        }),
        Check::Card => shrink(text, start, end, |a, b| {
            validate::card(s(a, b)) && stands_alone(text, a, b, b"_", b"_", true)
        }),
        Check::Ssn => (validate::ssn(s(start, end))
            && stands_alone(text, start, end, b"_", b"_", true))
        .then_some((start, end)),
        Check::Iban => {
            let len = validate::iban_prefix(s(start, end))?;
            stands_alone(text, start, start + len, b"_", b"_", false)
                .then_some((start, start + len))
        }
        Check::Ipv4 => (validate::ipv4(s(start, end))
            && stands_alone(text, start, end, b"_.", b"_", true))
        .then_some((start, end)),
        Check::Ipv6 => (validate::ipv6(s(start, end))
            && stands_alone(text, start, end, b"_:.", b"_:", false))
        .then_some((start, end)),
        Check::Secret => (validate::secret(s(start, end))
            && stands_alone(text, start, end, b"_-", b"", false))
        .then_some((start, end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Detectors {
        let mut p = PiiPolicy::default();
        for t in PiiType::ALL {
            p.set(t, Some(Action::Redact));
        }
        Detectors::compile(&p).unwrap().unwrap()
    }

    fn kinds(text: &str) -> Vec<(String, &str)> {
        let d = all();
        d.find(text)
            .into_iter()
            .map(|f| (d.detectors[f.detector].key.clone(), &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn finds_each_type_and_skips_near_misses() {
        let text = "Mail jane.doe@example.com or call +1 415-555-0132, card 4242 4242 4242 4242 \
                    (not 4242 4242 4242 4241), SSN 123-45-6789, IBAN DE89 3704 0044 0532 0130 00, \
                    host 10.0.0.12 and 2001:db8::1, key sk-proj-abcdefghijklmnopqrstuvwx. \
                    Released 2024-01-15 as v1.2.3, order 2024-558812.";
        let found = kinds(text);
        let expected = [
            ("email", "jane.doe@example.com"),
            ("phone", "+1 415-555-0132"),
            ("card", "4242 4242 4242 4242"),
            ("ssn", "123-45-6789"),
            ("iban", "DE89 3704 0044 0532 0130 00"),
            ("ip", "10.0.0.12"),
            ("ip", "2001:db8::1"),
            ("secret", "sk-proj-abcdefghijklmnopqrstuvwx"),
        ];
        let expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn nothing_active_compiles_to_nothing() {
        assert!(Detectors::compile(&PiiPolicy::default()).unwrap().is_none());
    }
}
