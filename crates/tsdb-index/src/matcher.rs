//! Label matchers: `=`, `!=`, `=~`, `!~` with Prometheus semantics.

use regex::Regex;

use crate::error::{IndexError, Result};
use crate::labels::Labels;

/// The operator of a [`Matcher`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatchOp {
    /// `name="value"`
    Equal,
    /// `name!="value"`
    NotEqual,
    /// `name=~"regex"` (fully anchored)
    RegexMatch,
    /// `name!~"regex"` (fully anchored)
    RegexNoMatch,
}

/// What a regex pattern reduces to, when it reduces to something simpler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FastPath {
    /// A set of literals (`a|b|c`, or a single literal), sorted and deduplicated.
    Literals(Vec<String>),
    /// A literal prefix followed by `.*`.
    Prefix(String),
    /// No simpler form: run the regex.
    None,
}

#[derive(Clone, Debug)]
struct Pattern {
    re: Regex,
    fast: FastPath,
    /// A literal every matching value starts with (for patterns with no fast path).
    prefix: Option<String>,
}

impl Pattern {
    #[inline]
    fn is_match(&self, v: &str) -> bool {
        match &self.fast {
            FastPath::Literals(l) => l.binary_search_by(|x| x.as_str().cmp(v)).is_ok(),
            FastPath::Prefix(p) => v.starts_with(p.as_str()),
            FastPath::None => self.re.is_match(v),
        }
    }
}

/// A condition on one label: `name op value`. A missing label matches as the empty
/// string, as in Prometheus, so `{foo=""}` selects series without `foo`.
#[derive(Clone, Debug)]
pub struct Matcher {
    op: MatchOp,
    name: String,
    value: String,
    pattern: Option<Pattern>,
}

/// Parses a regex literal (with `\`-escaped punctuation); `None` if it has any
/// regex operator.
fn parse_literal(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return None,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// Splits `s` on top-level unescaped `|` (none inside brackets or groups: any group
/// makes the caller fall back to the regex anyway).
fn split_alternation(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '|' => {
                parts.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or(""));
    parts
}

/// A non-empty literal that every value matched by the anchored `pattern` starts
/// with, if one is easy to see: the leading literal characters up to the first regex
/// operator, minus the last one if a quantifier follows. Conservative: any `|` or a
/// leading group or flag gives `None`.
pub(crate) fn required_prefix(pattern: &str) -> Option<String> {
    if pattern.contains('|') {
        return None;
    }
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => break,
            },
            '*' | '?' | '{' | '+' => {
                out.pop();
                break;
            }
            '.' | '(' | ')' | '[' | ']' | '}' | '^' | '$' => break,
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Detects the fast paths of a regex pattern.
pub(crate) fn fast_path(pattern: &str) -> FastPath {
    let mut p = pattern;
    // Strip one enclosing non-capturing or capturing group: `(?:a|b)`, `(a|b)`.
    for open in ["(?:", "("] {
        if let Some(inner) = p.strip_prefix(open).and_then(|r| r.strip_suffix(')'))
            && !inner.contains(['(', ')'])
        {
            p = inner;
            break;
        }
    }
    if let Some(prefix) = p.strip_suffix(".*")
        && !prefix.ends_with('\\')
        && let Some(lit) = parse_literal(prefix)
    {
        return FastPath::Prefix(lit);
    }
    let mut lits = Vec::new();
    for part in split_alternation(p) {
        match parse_literal(part) {
            Some(l) => lits.push(l),
            None => return FastPath::None,
        }
    }
    lits.sort_unstable();
    lits.dedup();
    FastPath::Literals(lits)
}

impl Matcher {
    /// A matcher; regexes are fully anchored (`^(?s:value)$`, as Prometheus does, so
    /// `.` also matches a newline). An invalid regex gives [`IndexError::InvalidRegex`].
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Matcher> {
        let pattern = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                let re = Regex::new(&format!("^(?s:{value})$")).map_err(|e| {
                    IndexError::InvalidRegex {
                        name: name.to_string(),
                        pattern: value.to_string(),
                        reason: e.to_string(),
                    }
                })?;
                let fast = fast_path(value);
                let prefix = match fast {
                    FastPath::None => required_prefix(value),
                    _ => None,
                };
                Some(Pattern { re, fast, prefix })
            }
        };
        Ok(Matcher {
            op,
            name: name.to_string(),
            value: value.to_string(),
            pattern,
        })
    }

    /// `name="value"` (cannot fail).
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            op: MatchOp::Equal,
            name: name.to_string(),
            value: value.to_string(),
            pattern: None,
        }
    }

    /// `name!="value"` (cannot fail).
    pub fn not_equal(name: &str, value: &str) -> Matcher {
        Matcher {
            op: MatchOp::NotEqual,
            ..Matcher::equal(name, value)
        }
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value or the regex pattern as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `value` matches (a missing label is matched as `""`).
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match (&self.op, &self.pattern) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(p)) => p.is_match(value),
            (MatchOp::RegexNoMatch, Some(p)) => !p.is_match(value),
            (_, None) => false,
        }
    }

    /// Whether the series with `labels` matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the empty string (a missing label) matches.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The literal values that a value must equal for the positive form of this
    /// matcher (`=` or `=~` without negation) to match, when they are few and known.
    pub(crate) fn positive_literals(&self) -> Option<&[String]> {
        match (&self.op, &self.pattern) {
            (MatchOp::Equal, _) | (MatchOp::NotEqual, _) => Some(std::slice::from_ref(&self.value)),
            (
                _,
                Some(Pattern {
                    fast: FastPath::Literals(l),
                    ..
                }),
            ) => Some(l),
            _ => None,
        }
    }

    /// A literal prefix of every value the positive form matches: the prefix of a
    /// `prefix.*` regex, or the leading literal of another regex.
    pub(crate) fn positive_prefix(&self) -> Option<&str> {
        let p = self.pattern.as_ref()?;
        match &p.fast {
            FastPath::Prefix(prefix) => Some(prefix),
            _ => p.prefix.as_deref(),
        }
    }

    /// Whether the value matches the positive form (`=` for `=`/`!=`, `=~` for
    /// `=~`/`!~`).
    #[inline]
    pub(crate) fn positive_matches(&self, value: &str) -> bool {
        match &self.pattern {
            None => value == self.value,
            Some(p) => p.is_match(value),
        }
    }

    /// Whether the operator is a negation (`!=`, `!~`).
    pub(crate) fn is_negative(&self) -> bool {
        matches!(self.op, MatchOp::NotEqual | MatchOp::RegexNoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_paths() {
        assert_eq!(
            fast_path("b|a|c|a"),
            FastPath::Literals(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(fast_path("foo.*"), FastPath::Prefix("foo".into()));
        assert_eq!(fast_path(".*"), FastPath::Prefix(String::new()));
        assert_eq!(
            fast_path("(?:a|b)"),
            FastPath::Literals(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            fast_path(r"http\.req"),
            FastPath::Literals(vec!["http.req".into()])
        );
        assert_eq!(
            fast_path("a|"),
            FastPath::Literals(vec!["".into(), "a".into()])
        );
        assert_eq!(fast_path("fo+"), FastPath::None);
        assert_eq!(fast_path(r"a\|b"), FastPath::Literals(vec!["a|b".into()]));
        assert_eq!(fast_path(r"foo\.*"), FastPath::None);
        assert_eq!(fast_path("(a)|(b)"), FastPath::None);
        assert_eq!(fast_path(r"\d"), FastPath::None);
    }

    #[test]
    fn required_prefixes() {
        assert_eq!(required_prefix("host_4[0-9]{2}").as_deref(), Some("host_4"));
        assert_eq!(required_prefix("abc*").as_deref(), Some("ab"));
        assert_eq!(required_prefix("a+").as_deref(), None);
        assert_eq!(required_prefix(r"api\.v[12]").as_deref(), Some("api.v"));
        assert_eq!(required_prefix("ab|cd"), None);
        assert_eq!(required_prefix("(?i)abc"), None);
        assert_eq!(required_prefix(r"\d+"), None);
        assert_eq!(required_prefix("x(a|b)"), None);
        assert_eq!(required_prefix("ab.c").as_deref(), Some("ab"));
    }

    #[test]
    fn anchored_and_semantics() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "fo+").unwrap();
        assert!(m.matches("foo") && !m.matches("xfoo") && !m.matches("foox"));
        let m = Matcher::new(MatchOp::RegexMatch, "a", "a|b").unwrap();
        assert!(m.matches("a") && m.matches("b") && !m.matches("ab"));
        let m = Matcher::new(MatchOp::RegexMatch, "a", "x.*").unwrap();
        assert!(m.matches("x\ny"));
        let m = Matcher::new(MatchOp::RegexNoMatch, "a", "x.*").unwrap();
        assert!(m.matches("") && !m.matches("xy"));
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(Matcher::not_equal("a", "x").matches_empty());
        assert!(matches!(
            Matcher::new(MatchOp::RegexMatch, "a", "("),
            Err(IndexError::InvalidRegex { .. })
        ));
    }

    #[test]
    fn fast_path_agrees_with_regex() {
        for pat in [
            "a|b|c", "foo.*", ".*", "(?:x|yy)", r"a\.b", "a|", "(z)", "fo+", "foob?", "ab.",
        ] {
            let m = Matcher::new(MatchOp::RegexMatch, "n", pat).unwrap();
            let re = Regex::new(&format!("^(?s:{pat})$")).unwrap();
            for v in [
                "", "a", "b", "c", "ab", "foo", "foobar", "xfoo", "x", "yy", "a.b", "axb", "z",
            ] {
                assert_eq!(m.matches(v), re.is_match(v), "{pat} vs {v}");
            }
        }
    }
}
