//! Parsing with `promql-parser` and lowering of its AST into the engine's own
//! expression tree ([`Expr`]), so no parser type leaks past this module.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{
    self as pp, AtModifier, LabelModifier, Offset, VectorMatchCardinality,
};

use crate::compat::{METRIC_NAME, MatchOp, Matcher};
use crate::error::{QueryError, Result};
use crate::functions::Func;

/// The kind of value an expression yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    String,
    Vector,
    Matrix,
}

/// A vector selector.
#[derive(Clone, Debug)]
pub(crate) struct Selector {
    pub matchers: Vec<Matcher>,
    pub offset_ms: i64,
    pub at_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne(Vec<String>),
    OneToMany(Vec<String>),
    ManyToMany,
}

#[derive(Clone, Debug)]
pub(crate) struct VectorMatching {
    pub card: Card,
    pub on: bool,
    pub labels: Vec<String>,
}

/// The engine's expression tree.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Number(f64),
    Str(String),
    Selector(Box<Selector>),
    Range {
        sel: Box<Selector>,
        range_ms: i64,
    },
    Subquery {
        expr: Box<Expr>,
        range_ms: i64,
        step_ms: Option<i64>,
        offset_ms: i64,
        at_ms: Option<i64>,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
    },
    Aggregate {
        op: AggOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        grouping: Grouping,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        matching: VectorMatching,
        return_bool: bool,
    },
    Neg(Box<Expr>),
}

impl Expr {
    pub fn kind(&self) -> Kind {
        match self {
            Expr::Number(_) => Kind::Scalar,
            Expr::Str(_) => Kind::String,
            Expr::Selector(_) | Expr::Aggregate { .. } => Kind::Vector,
            Expr::Range { .. } | Expr::Subquery { .. } => Kind::Matrix,
            Expr::Call { func, .. } => func.return_kind(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.kind() == Kind::Scalar && rhs.kind() == Kind::Scalar {
                    Kind::Scalar
                } else {
                    Kind::Vector
                }
            }
            Expr::Neg(e) => e.kind(),
        }
    }
}

/// Query times the lowering needs (`@ start()`, `@ end()`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryTimes {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Parses `query` and lowers it; returns the tree and the number of selectors.
pub(crate) fn parse(query: &str, times: QueryTimes) -> Result<(Expr, usize)> {
    let ast = parse_guarded(query)?;
    let mut l = Lower { times, next_id: 0 };
    let e = l.expr(&ast)?;
    Ok((e, l.next_id))
}

struct Lower {
    times: QueryTimes,
    next_id: usize,
}

/// Largest magnitude of any time or duration the engine works with (about
/// 35 700 years in ms): keeps every sum of a few of them inside `i64`.
pub(crate) const MAX_ABS_TIME_MS: i64 = 1 << 50;

fn dur_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis())
        .unwrap_or(i64::MAX)
        .min(MAX_ABS_TIME_MS)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => dur_ms(&d),
        Err(e) => -dur_ms(&e.duration()),
    }
}

/// Deepest nesting of brackets accepted (parsing and evaluation recurse).
pub(crate) const MAX_NESTING: usize = 200;
/// Longest query accepted, in bytes.
pub(crate) const MAX_QUERY_BYTES: usize = 256 * 1024;
/// Most operator characters (`+ - * / % ^ < > = !`) and set/`atan2` keywords
/// accepted outside string literals: chains of operators nest the tree (and
/// the recursion of parsing and evaluation) as deeply as brackets do.
pub(crate) const MAX_OPERATORS: usize = 1000;

/// Refuses queries whose size or bracket nesting could exhaust the stack.
fn check_shape(query: &str) -> Result<()> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(QueryError::Parse(format!(
            "query is {} bytes, more than the {MAX_QUERY_BYTES} accepted",
            query.len()
        )));
    }
    let is_keyword = |w: &str| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "and" | "or" | "unless" | "atan2"
        )
    };
    let (mut depth, mut max, mut ops) = (0usize, 0usize, 0usize);
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if is_keyword(&word) {
            ops += 1;
        }
        word.clear();
        match c {
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' => ops += 1,
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if is_keyword(&word) {
        ops += 1;
    }
    if ops > MAX_OPERATORS {
        return Err(QueryError::Parse(format!(
            "query has {ops} operators, more than the {MAX_OPERATORS} accepted"
        )));
    }
    if max > MAX_NESTING {
        return Err(QueryError::Parse(format!(
            "query nests {max} levels deep, more than the {MAX_NESTING} accepted"
        )));
    }
    Ok(())
}

/// Runs the parser, turning a panic inside it into a parse error: a query
/// string from a user must never take the process down.
fn parse_guarded(query: &str) -> Result<pp::Expr> {
    check_shape(query)?;
    let q = query.to_string();
    match std::panic::catch_unwind(move || pp::parse(&q)) {
        Ok(r) => r.map_err(QueryError::Parse),
        Err(_) => Err(QueryError::Parse("the parser failed on this query".into())),
    }
}

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(QueryError::Unsupported(what.into()))
}

impl Lower {
    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.times.start_ms),
            Some(AtModifier::End) => Some(self.times.end_ms),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    fn selector(&mut self, vs: &pp::VectorSelector) -> Result<Selector> {
        if !vs.matchers.or_matchers.is_empty() {
            return unsupported("`or` inside label matchers");
        }
        let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
        if let Some(name) = &vs.name {
            matchers.push(Matcher::equal(METRIC_NAME, name));
        }
        for m in &vs.matchers.matchers {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::RegexMatch,
                PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            matchers.push(Matcher::new(op, &m.name, &m.value)?);
        }
        if !matchers.iter().any(|m| !m.matches("")) {
            return Err(QueryError::Parse(
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        self.next_id += 1;
        Ok(Selector {
            matchers,
            offset_ms: offset_ms(&vs.offset),
            at_ms: self.at_ms(&vs.at),
        })
    }

    fn expr(&mut self, e: &pp::Expr) -> Result<Expr> {
        Ok(match e {
            pp::Expr::NumberLiteral(n) => Expr::Number(n.val),
            pp::Expr::StringLiteral(s) => Expr::Str(s.val.clone()),
            pp::Expr::Paren(p) => self.expr(&p.expr)?,
            pp::Expr::Unary(u) => Expr::Neg(Box::new(self.expr(&u.expr)?)),
            pp::Expr::VectorSelector(vs) => Expr::Selector(Box::new(self.selector(vs)?)),
            pp::Expr::MatrixSelector(ms) => Expr::Range {
                sel: Box::new(self.selector(&ms.vs)?),
                range_ms: dur_ms(&ms.range),
            },
            pp::Expr::Subquery(sq) => {
                let step_ms = sq.step.as_ref().map(dur_ms).filter(|s| *s > 0);
                Expr::Subquery {
                    expr: Box::new(self.expr(&sq.expr)?),
                    range_ms: dur_ms(&sq.range),
                    step_ms,
                    offset_ms: offset_ms(&sq.offset),
                    at_ms: self.at_ms(&sq.at),
                }
            }
            pp::Expr::Call(c) => {
                let Some(func) = Func::from_name(c.func.name) else {
                    return unsupported(format!("function {}", c.func.name));
                };
                let mut args = Vec::with_capacity(c.args.args.len());
                for a in &c.args.args {
                    args.push(self.expr(a)?);
                }
                func.check_args(&args)?;
                Expr::Call { func, args }
            }
            pp::Expr::Aggregate(a) => {
                let op = match a.op.to_string().as_str() {
                    "sum" => AggOp::Sum,
                    "avg" => AggOp::Avg,
                    "min" => AggOp::Min,
                    "max" => AggOp::Max,
                    "count" => AggOp::Count,
                    "group" => AggOp::Group,
                    "stddev" => AggOp::Stddev,
                    "stdvar" => AggOp::Stdvar,
                    "topk" => AggOp::Topk,
                    "bottomk" => AggOp::Bottomk,
                    "quantile" => AggOp::Quantile,
                    "count_values" => AggOp::CountValues,
                    other => return unsupported(format!("aggregation {other}")),
                };
                let grouping = match &a.modifier {
                    None => Grouping::default(),
                    Some(LabelModifier::Include(ls)) => Grouping {
                        without: false,
                        labels: ls.labels.clone(),
                    },
                    Some(LabelModifier::Exclude(ls)) => Grouping {
                        without: true,
                        labels: ls.labels.clone(),
                    },
                };
                let param = match &a.param {
                    Some(p) => Some(Box::new(self.expr(p)?)),
                    None => None,
                };
                Expr::Aggregate {
                    op,
                    expr: Box::new(self.expr(&a.expr)?),
                    param,
                    grouping,
                }
            }
            pp::Expr::Binary(b) => self.binary(b)?,
            pp::Expr::Extension(_) => return unsupported("extension expressions"),
        })
    }

    fn binary(&mut self, b: &pp::BinaryExpr) -> Result<Expr> {
        let op = match b.op.to_string().as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            "atan2" => BinOp::Atan2,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            ">" => BinOp::Gt,
            "<" => BinOp::Lt,
            ">=" => BinOp::Ge,
            "<=" => BinOp::Le,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "unless" => BinOp::Unless,
            other => return unsupported(format!("binary operator {other}")),
        };
        let lhs = self.expr(&b.lhs)?;
        let rhs = self.expr(&b.rhs)?;
        let mut matching = VectorMatching {
            card: if op.is_set() {
                Card::ManyToMany
            } else {
                Card::OneToOne
            },
            on: false,
            labels: Vec::new(),
        };
        let mut return_bool = false;
        if let Some(m) = &b.modifier {
            if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                return unsupported("fill modifiers");
            }
            return_bool = m.return_bool;
            match &m.matching {
                Some(LabelModifier::Include(ls)) => {
                    matching.on = true;
                    matching.labels = ls.labels.clone();
                }
                Some(LabelModifier::Exclude(ls)) => matching.labels = ls.labels.clone(),
                None => {}
            }
            matching.card = match &m.card {
                VectorMatchCardinality::OneToOne => matching.card,
                VectorMatchCardinality::ManyToMany => Card::ManyToMany,
                VectorMatchCardinality::ManyToOne(ls) => Card::ManyToOne(ls.labels.clone()),
                VectorMatchCardinality::OneToMany(ls) => Card::OneToMany(ls.labels.clone()),
            };
            if op.is_set() {
                matching.card = Card::ManyToMany;
            }
        }
        if op.is_comparison()
            && !return_bool
            && lhs.kind() == Kind::Scalar
            && rhs.kind() == Kind::Scalar
        {
            return Err(QueryError::Parse(
                "comparisons between scalars must use BOOL modifier".into(),
            ));
        }
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            matching,
            return_bool,
        })
    }
}
