//! Temporary stand-ins for the `tsdb-index` / `tsdb-core` contract types until
//! those branches land. Signatures follow /work/notes/CONTRACT.md exactly.
#![allow(missing_docs, dead_code)]

use std::fmt;
use std::sync::Arc;

pub const METRIC_NAME: &str = "__name__";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid regex {regex}: {reason}")]
    InvalidRegex { regex: String, reason: String },
    #[error("empty label name")]
    EmptyLabelName,
    #[error("duplicate label name {0}")]
    DuplicateLabelName(String),
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("storage: {0}")]
    Other(String),
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Labels(Arc<Vec<(String, String)>>);

impl Labels {
    pub fn new<I, N, V>(pairs: I) -> Result<Labels, IndexError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut v: Vec<(String, String)> = Vec::new();
        for (n, val) in pairs {
            if n.as_ref().is_empty() {
                return Err(IndexError::EmptyLabelName);
            }
            if val.as_ref().is_empty() {
                continue;
            }
            v.push((n.as_ref().to_string(), val.as_ref().to_string()));
        }
        v.sort();
        for w in v.windows(2) {
            if let [a, b] = w
                && a.0 == b.0
            {
                return Err(IndexError::DuplicateLabelName(a.0.clone()));
            }
        }
        Ok(Labels(Arc::new(v)))
    }
    pub fn empty() -> Labels {
        Labels::default()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn hash64(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut h);
        h.finish()
    }
    pub fn with(&self, name: &str, value: &str) -> Result<Labels, IndexError> {
        if name.is_empty() {
            return Err(IndexError::EmptyLabelName);
        }
        let mut v: Vec<(String, String)> =
            self.0.iter().filter(|(n, _)| n != name).cloned().collect();
        if !value.is_empty() {
            v.push((name.to_string(), value.to_string()));
            v.sort();
        }
        Ok(Labels(Arc::new(v)))
    }
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(n, _)| !names.contains(&n.as_str()))
                .cloned()
                .collect(),
        ))
    }
    pub fn keep_only(&self, names: &[&str]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(n, _)| names.contains(&n.as_str()))
                .cloned()
                .collect(),
        ))
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for (n, v) in self.iter() {
            if n == METRIC_NAME {
                continue;
            }
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        write!(f, "}}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    op: MatchOp,
    name: String,
    value: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Matcher, IndexError> {
        let re = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    IndexError::InvalidRegex {
                        regex: value.to_string(),
                        reason: e.to_string(),
                    }
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            op,
            name: name.to_string(),
            value: value.to_string(),
            re,
        })
    }
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            op: MatchOp::Equal,
            name: name.to_string(),
            value: value.to_string(),
            re: None,
        }
    }
    pub fn op(&self) -> MatchOp {
        self.op
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn value(&self) -> &str {
        &self.value
    }
    pub fn matches(&self, value: &str) -> bool {
        match (&self.op, &self.re) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Tier {
    #[default]
    Raw,
    FiveMinutes,
    OneHour,
    OneDay,
}

#[derive(Clone, Debug)]
pub struct SelectHints {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub tier: Tier,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

pub trait Querier: Send + Sync {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>, CoreError>;
    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>, CoreError>;
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, CoreError>;
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, CoreError>;
}

impl<Q: Querier + ?Sized> Querier for Arc<Q> {
    fn select(&self, m: &[Matcher], h: &SelectHints) -> Result<Vec<Series>, CoreError> {
        (**self).select(m, h)
    }
    fn series(&self, m: &[Matcher], h: &SelectHints) -> Result<Vec<Labels>, CoreError> {
        (**self).series(m, h)
    }
    fn label_names(&self, m: &[Matcher]) -> Result<Vec<String>, CoreError> {
        (**self).label_names(m)
    }
    fn label_values(&self, n: &str, m: &[Matcher]) -> Result<Vec<String>, CoreError> {
        (**self).label_values(n, m)
    }
}
