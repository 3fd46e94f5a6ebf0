//! The PII policy as stored (tenant `settings.pii`, team `settings.pii`, key `metadata.pii`) and
//! the merge rule: per type, the most specific level that names the type wins (key over team
//! over tenant); custom rules merge by name the same way. `allow` at a more specific level
//! switches a less specific rule off.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What to do with one kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave it (the rule is off).
    Allow,
    /// Replace it with `[TYPE]`.
    Redact,
    /// Hide most of it (`j***@e***.com`, `************4242`).
    Mask,
    /// Replace it with `[TYPE_n]` upstream and restore the value in the caller's answer.
    Tokenize,
    /// Refuse the request (400 `pii_blocked`).
    Block,
}

impl Action {
    /// The spelling used in the policy and on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Redact => "redact",
            Action::Mask => "mask",
            Action::Tokenize => "tokenize",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" | "off" => Ok(Action::Allow),
            "redact" => Ok(Action::Redact),
            "mask" => Ok(Action::Mask),
            "tokenize" => Ok(Action::Tokenize),
            "block" => Ok(Action::Block),
            other => Err(format!(
                "unknown PII action `{other}` (allow, redact, mask, tokenize, block)"
            )),
        }
    }
}

/// The built-in detectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiType {
    Email,
    Phone,
    Card,
    Ssn,
    Iban,
    Ip,
    Secret,
}

impl PiiType {
    /// Every built-in type, in the order overlapping matches are preferred.
    pub const ALL: [PiiType; 7] = [
        PiiType::Secret,
        PiiType::Email,
        PiiType::Iban,
        PiiType::Card,
        PiiType::Ssn,
        PiiType::Ip,
        PiiType::Phone,
    ];

    /// The policy key (`email`, `card`, …).
    pub fn key(self) -> &'static str {
        match self {
            PiiType::Email => "email",
            PiiType::Phone => "phone",
            PiiType::Card => "card",
            PiiType::Ssn => "ssn",
            PiiType::Iban => "iban",
            PiiType::Ip => "ip",
            PiiType::Secret => "secret",
        }
    }

    /// The redaction label (`EMAIL`, `CARD`, …).
    pub fn label(self) -> &'static str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::Phone => "PHONE",
            PiiType::Card => "CARD",
            PiiType::Ssn => "SSN",
            PiiType::Iban => "IBAN",
            PiiType::Ip => "IP",
            PiiType::Secret => "SECRET",
        }
    }
}

/// A tenant-defined detector: a named regular expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Upper-case name, used in placeholders (`[EMPLOYEE_ID]`).
    pub name: String,
    /// A `regex` crate pattern.
    pub pattern: String,
    pub action: Action,
}

/// One level's PII policy. Types left out are inherited from the less specific level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssn: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Action>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomRule>,
}

impl PiiPolicy {
    /// The action set for `t` at this level.
    pub fn get(&self, t: PiiType) -> Option<Action> {
        *self.slot(t)
    }

    /// Sets (or with `None` unsets) the action for `t`.
    pub fn set(&mut self, t: PiiType, action: Option<Action>) {
        *self.slot_mut(t) = action;
    }

    fn slot(&self, t: PiiType) -> &Option<Action> {
        match t {
            PiiType::Email => &self.email,
            PiiType::Phone => &self.phone,
            PiiType::Card => &self.card,
            PiiType::Ssn => &self.ssn,
            PiiType::Iban => &self.iban,
            PiiType::Ip => &self.ip,
            PiiType::Secret => &self.secret,
        }
    }

    fn slot_mut(&mut self, t: PiiType) -> &mut Option<Action> {
        match t {
            PiiType::Email => &mut self.email,
            PiiType::Phone => &mut self.phone,
            PiiType::Card => &mut self.card,
            PiiType::Ssn => &mut self.ssn,
            PiiType::Iban => &mut self.iban,
            PiiType::Ip => &mut self.ip,
            PiiType::Secret => &mut self.secret,
        }
    }

    /// Adds or replaces the custom rule of the same name.
    pub fn put_custom(&mut self, rule: CustomRule) {
        self.custom.retain(|c| c.name != rule.name);
        self.custom.push(rule);
    }

    /// Whether nothing is set at this level.
    pub fn is_empty(&self) -> bool {
        PiiType::ALL.iter().all(|t| self.get(*t).is_none()) && self.custom.is_empty()
    }

    /// Whether any rule does something (is not `allow`).
    pub fn is_active(&self) -> bool {
        PiiType::ALL
            .iter()
            .any(|t| self.get(*t).is_some_and(|a| a != Action::Allow))
            || self.custom.iter().any(|c| c.action != Action::Allow)
    }

    /// Merges levels from least to most specific (tenant, team, key).
    pub fn merge<'a>(levels: impl IntoIterator<Item = &'a PiiPolicy>) -> PiiPolicy {
        let mut out = PiiPolicy::default();
        for level in levels {
            for t in PiiType::ALL {
                if let Some(a) = level.get(t) {
                    out.set(t, Some(a));
                }
            }
            for rule in &level.custom {
                out.put_custom(rule.clone());
            }
        }
        out
    }

    /// Checks the custom rules: names are `[A-Z][A-Z0-9_]*` and do not reuse a built-in label,
    /// patterns compile.
    pub fn validate(&self) -> Result<(), String> {
        for rule in &self.custom {
            let valid_name = rule.name.starts_with(|c: char| c.is_ascii_uppercase())
                && rule
                    .name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !valid_name {
                return Err(format!(
                    "custom PII name `{}` must be upper case letters, digits and `_`, starting with a letter",
                    rule.name
                ));
            }
            if PiiType::ALL.iter().any(|t| t.label() == rule.name) {
                return Err(format!(
                    "custom PII name `{}` is a built-in type",
                    rule.name
                ));
            }
            regex::Regex::new(&rule.pattern)
                .map_err(|e| format!("custom PII pattern for `{}`: {e}", rule.name))?;
        }
        Ok(())
    }

    /// Reads the `pii` member of a settings/metadata JSON object (absent: an empty policy).
    pub fn from_settings(settings: &str) -> Result<PiiPolicy, String> {
        let value: serde_json::Value =
            serde_json::from_str(settings).map_err(|e| format!("settings are not JSON: {e}"))?;
        match value.get("pii") {
            None | Some(serde_json::Value::Null) => Ok(PiiPolicy::default()),
            Some(pii) => serde_json::from_value(pii.clone()).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_level_wins_per_type() {
        let tenant = PiiPolicy {
            email: Some(Action::Redact),
            card: Some(Action::Block),
            ..Default::default()
        };
        let key = PiiPolicy {
            email: Some(Action::Tokenize),
            card: Some(Action::Allow),
            ..Default::default()
        };
        let merged = PiiPolicy::merge([&tenant, &PiiPolicy::default(), &key]);
        assert_eq!(merged.email, Some(Action::Tokenize));
        assert_eq!(merged.card, Some(Action::Allow));
        assert!(merged.is_active());
        let off = PiiPolicy::merge([&PiiPolicy {
            card: Some(Action::Allow),
            ..Default::default()
        }]);
        assert!(!off.is_active());
    }

    #[test]
    fn policies_round_trip_through_settings_json() {
        let p: PiiPolicy = PiiPolicy::from_settings(
            r#"{"other":1,"pii":{"email":"mask","custom":[{"name":"EMP","pattern":"E-[0-9]{4}","action":"redact"}]}}"#,
        )
        .unwrap();
        assert_eq!(p.email, Some(Action::Mask));
        assert_eq!(p.custom.len(), 1);
        assert!(p.validate().is_ok());
        assert_eq!(
            PiiPolicy::from_settings("{}").unwrap(),
            PiiPolicy::default()
        );
        let bad = PiiPolicy {
            custom: vec![CustomRule {
                name: "EMAIL".into(),
                pattern: "x".into(),
                action: Action::Redact,
            }],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
