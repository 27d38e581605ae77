//! `label_replace` and `label_join`.

use super::{SSeries, merge_same_labels};
use crate::error::{QueryError, Result, exec_err};

pub(crate) fn label_replace(
    mut v: Vec<SSeries>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<SSeries>> {
    if dst.is_empty() {
        return exec_err(format!(
            "invalid destination label name in label_replace(): {dst}"
        ));
    }
    let re = regex::Regex::new(&format!("^(?s:{regex})$")).map_err(|_| {
        QueryError::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    for s in &mut v {
        let src_val = s.labels.get(src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&src_val) {
            let mut res = String::new();
            caps.expand(replacement, &mut res);
            s.labels = s.labels.with(dst, &res)?;
        }
    }
    merge_same_labels(v)
}

pub(crate) fn label_join(
    mut v: Vec<SSeries>,
    dst: &str,
    sep: &str,
    srcs: &[&str],
) -> Result<Vec<SSeries>> {
    if dst.is_empty() {
        return exec_err(format!(
            "invalid destination label name in label_join(): {dst}"
        ));
    }
    if let Some(bad) = srcs.iter().find(|s| s.is_empty()) {
        return exec_err(format!("invalid source label name in label_join(): {bad}"));
    }
    for s in &mut v {
        let joined = srcs
            .iter()
            .map(|n| s.labels.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(sep);
        s.labels = s.labels.with(dst, &joined)?;
    }
    merge_same_labels(v)
}
