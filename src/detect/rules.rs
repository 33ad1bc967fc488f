//! Detection rules as data: the compiled-in defaults (`rules.toml`) and user files layered
//! on top of them. Owns parsing, merging and validation of the rules' shape; the word
//! tables built from them live in `lexicon`. Must not hold or log any detected value.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::DetectError;

const DEFAULT_RULES: &str = include_str!("rules.toml");

/// A language whose spoken numbers and context words are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Zh,
}

impl Language {
    pub fn code(&self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }
}

impl FromStr for Language {
    type Err = DetectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Language::En),
            "zh" | "chinese" | "cmn" | "zh-cn" | "zh-tw" => Ok(Language::Zh),
            other => Err(DetectError::UnknownLanguage(other.to_string())),
        }
    }
}

/// Everything the detector is configured by. Build with [`Rules::default`],
/// [`Rules::from_toml_str`] or [`Rules::load`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub languages: Vec<Language>,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub lang: BTreeMap<String, LangRules>,
    #[serde(default)]
    pub custom: Vec<CustomRule>,
    #[serde(default)]
    pub mobile: MobileRule,
}

/// Mainland China mobile numbers (11 digits, 1[3-9]…, optionally after 86): personal
/// information under Chinese privacy law, but usually wanted audible, so off by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileRule {
    pub enabled: bool,
}

/// Numeric knobs; see `rules.toml` for why each default is what it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub max_gap_s: f64,
    pub max_fillers: usize,
    pub context_before_s: f64,
    pub context_after_words: usize,
    pub payment_min_digits: usize,
    pub long_run_min_digits: usize,
    pub quantity_max_digits: usize,
    pub id_context_min_digits: usize,
    pub dense_min_digits: usize,
    pub dense_min_density: f32,
    pub dense_max_gap_chars: usize,
    pub dense_max_gap_words: usize,
    pub answer_wait_s: f64,
    pub answer_statement_wait_s: f64,
    pub answer_gap_s: f64,
    pub answer_max_s: f64,
    pub answer_max_words: usize,
    pub answer_asker_words: usize,
    pub answer_min_digits: usize,
    pub answer_min_code_digits: usize,
    pub answer_min_homophones: usize,
    pub unsure_answer_wait_s: f64,
    pub unsure_answer_confidence: f32,
    pub unsure_answer_min_words: usize,
    pub unsure_answer_end_words: usize,
    pub unsure_answer_max_s: f64,
    pub unsure_answer_max_code_s: f64,
}

/// Word tables of one language. Every field may be left out of a user file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LangRules {
    pub digits: BTreeMap<String, String>,
    pub homophones: BTreeMap<String, String>,
    pub teens: BTreeMap<String, String>,
    pub tens: BTreeMap<String, String>,
    pub repeats: BTreeMap<String, u8>,
    pub hundred: Vec<String>,
    pub thousand: Vec<String>,
    /// Chinese 十: "二十五" is 25.
    pub ten: Vec<String>,
    pub separators: Vec<String>,
    pub check_x: Vec<String>,
    pub fillers: Vec<String>,
    pub months: BTreeMap<String, String>,
    pub context: ContextRules,
}

/// Phrases that say what a nearby number is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextRules {
    pub card: Vec<String>,
    pub cvv: Vec<String>,
    pub expiry: Vec<String>,
    pub ssn: Vec<String>,
    pub cn_id: Vec<String>,
    /// Order, ticket and phone numbers, addresses: kept audible unless a validator says
    /// card or ID.
    pub negative: Vec<String>,
    /// Amounts, dates, times, durations, ages: as `negative`, for numbers of at most
    /// `thresholds.quantity_max_digits` digits.
    pub quantity: Vec<String>,
}

/// A user-defined entity, e.g. a bank's account-number format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Lower-case name; the tag is its upper-case form in brackets.
    pub name: String,
    /// Matched against the digits of a spoken digit run (anchor it with `^…$`).
    #[serde(default)]
    pub digits_regex: Option<String>,
    /// Matched against the text of each channel, words joined by single spaces.
    #[serde(default)]
    pub text_regex: Option<String>,
    /// If set, `digits_regex` applies only when one of these phrases is the nearest context.
    #[serde(default)]
    pub context: Vec<String>,
}

impl Default for Rules {
    /// The compiled-in rules. They are checked by a unit test, so this cannot fail.
    fn default() -> Self {
        Self::from_merged(default_value()).expect("compiled-in detect/rules.toml is valid")
    }
}

impl Rules {
    /// The defaults with `text` (a user rules file's contents) layered on top.
    pub fn from_toml_str(text: &str) -> Result<Self, DetectError> {
        let user: toml::Value = toml::from_str(text).map_err(|e| DetectError::RulesSyntax {
            message: e.message().to_string(),
        })?;
        let mut merged = default_value();
        merge(&mut merged, user);
        Self::from_merged(merged)
    }

    /// The defaults with the rules file at `path` layered on top.
    pub fn load(path: &Path) -> Result<Self, DetectError> {
        let text = std::fs::read_to_string(path).map_err(|source| DetectError::RulesRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Restricts word recognition to `languages` (numerals are always recognised).
    pub fn with_languages(mut self, languages: &[Language]) -> Self {
        self.languages = languages.to_vec();
        self
    }

    fn from_merged(value: toml::Value) -> Result<Self, DetectError> {
        let rules: Rules =
            value
                .try_into()
                .map_err(|e: toml::de::Error| DetectError::RulesSyntax {
                    message: e.message().to_string(),
                })?;
        rules.check()?;
        Ok(rules)
    }

    fn check(&self) -> Result<(), DetectError> {
        let t = &self.thresholds;
        let bad = |what: &str| Err(DetectError::InvalidRule(what.to_string()));
        if !(t.max_gap_s.is_finite() && t.max_gap_s >= 0.0) {
            return bad("thresholds.max_gap_s must be a non-negative number of seconds");
        }
        for (name, value) in [
            ("context_before_s", t.context_before_s),
            ("answer_wait_s", t.answer_wait_s),
            ("answer_statement_wait_s", t.answer_statement_wait_s),
            ("answer_gap_s", t.answer_gap_s),
            ("answer_max_s", t.answer_max_s),
            ("unsure_answer_wait_s", t.unsure_answer_wait_s),
            ("unsure_answer_max_s", t.unsure_answer_max_s),
            ("unsure_answer_max_code_s", t.unsure_answer_max_code_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(DetectError::InvalidRule(format!(
                    "thresholds.{name} must be a non-negative number of seconds"
                )));
            }
        }
        for (name, value, min) in [
            ("long_run_min_digits", t.long_run_min_digits, 4),
            ("payment_min_digits", t.payment_min_digits, 4),
            ("quantity_max_digits", t.quantity_max_digits, 4),
            ("id_context_min_digits", t.id_context_min_digits, 1),
            ("answer_min_digits", t.answer_min_digits, 2),
            ("answer_min_code_digits", t.answer_min_code_digits, 1),
            ("answer_min_homophones", t.answer_min_homophones, 4),
            ("unsure_answer_min_words", t.unsure_answer_min_words, 1),
            ("unsure_answer_end_words", t.unsure_answer_end_words, 1),
        ] {
            if value < min {
                return Err(DetectError::InvalidRule(format!(
                    "thresholds.{name} must be at least {min}; lower would redact nearly every number"
                )));
            }
        }
        if !(0.0..=1.0).contains(&t.unsure_answer_confidence) {
            return bad("thresholds.unsure_answer_confidence must be a probability from 0 to 1");
        }
        for key in self.lang.keys() {
            key.parse::<Language>().map_err(|_| {
                DetectError::InvalidRule(format!("[lang.{key}] is not a known language (en, zh)"))
            })?;
        }
        for c in &self.custom {
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_')
            {
                return Err(DetectError::InvalidRule(
                    "custom rule names must be non-empty lower-case ascii letters or '_'"
                        .to_string(),
                ));
            }
            if c.digits_regex.is_none() && c.text_regex.is_none() {
                return Err(DetectError::InvalidRule(format!(
                    "custom rule `{}` needs digits_regex or text_regex",
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// Word tables of the active languages.
    pub(crate) fn active_langs(&self) -> impl Iterator<Item = &LangRules> {
        self.lang.iter().filter_map(|(code, rules)| {
            let lang = code.parse::<Language>().ok()?;
            self.languages.contains(&lang).then_some(rules)
        })
    }
}

fn default_value() -> toml::Value {
    toml::from_str(DEFAULT_RULES).expect("compiled-in detect/rules.toml parses")
}

/// Tables merge key by key; any other value from `over` replaces the base, except the
/// top-level `custom` list, which is appended so user entities add to the defaults.
fn merge(base: &mut toml::Value, over: toml::Value) {
    merge_at(base, over, true)
}

fn merge_at(base: &mut toml::Value, over: toml::Value, top: bool) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(toml::Value::Array(existing)) if top && k == "custom" => {
                        if let toml::Value::Array(more) = v {
                            existing.extend(more);
                        } else {
                            b.insert(k, v);
                        }
                    }
                    Some(slot) => merge_at(slot, v, false),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_cover_both_languages() {
        let r = Rules::default();
        assert_eq!(r.languages, vec![Language::En, Language::Zh]);
        assert!(r.lang["en"].digits.contains_key("seven"));
        assert!(r.lang["zh"].digits.contains_key("幺"));
        assert_eq!(r.active_langs().count(), 2);
        assert!(!r.mobile.enabled, "mobile numbers are opt-in");
        let on = Rules::from_toml_str("[mobile]\nenabled = true").unwrap();
        assert!(on.mobile.enabled);
    }

    #[test]
    fn user_file_overrides_and_appends() {
        let r = Rules::from_toml_str(
            r#"
            languages = ["zh"]
            [thresholds]
            max_gap_s = 1.5
            [lang.en.context]
            cvv = ["pin block"]
            [[custom]]
            name = "account"
            digits_regex = "^\\d{10}$"
            context = ["account number"]
            "#,
        )
        .unwrap();
        assert_eq!(r.thresholds.max_gap_s, 1.5);
        assert_eq!(r.thresholds.long_run_min_digits, 13);
        assert_eq!(r.lang["en"].context.cvv, vec!["pin block".to_string()]);
        assert!(!r.lang["en"].context.card.is_empty());
        assert_eq!(r.custom.len(), 1);
        assert_eq!(r.active_langs().count(), 1);
    }

    #[test]
    fn bad_files_are_specific_errors() {
        let e = Rules::from_toml_str("[thresholds]\nmax_gap = 2").unwrap_err();
        assert!(e.to_string().contains("max_gap"), "{e}");
        let e = Rules::from_toml_str("[lang.fr]\nfillers = []").unwrap_err();
        assert!(matches!(e, DetectError::InvalidRule(_)), "{e}");
        let e = Rules::from_toml_str("[[custom]]\nname = \"x\"").unwrap_err();
        assert!(e.to_string().contains("digits_regex"), "{e}");
        assert!("fr".parse::<Language>().is_err());
        let e = Rules::load(Path::new("no/such/rules.toml")).unwrap_err();
        assert!(matches!(e, DetectError::RulesRead { .. }));
    }
}
