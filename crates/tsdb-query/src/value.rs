//! Query results.

use crate::compat::{Labels, Series};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Labels of the series (the metric name is absent when PromQL dropped it).
    pub labels: Labels,
    /// Evaluation timestamp in milliseconds.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// The result of a query, as in Prometheus' `/api/v1/query` result types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A single number at an evaluation time.
    Scalar {
        /// Evaluation timestamp in milliseconds.
        timestamp_ms: i64,
        /// The value.
        value: f64,
    },
    /// A string literal at an evaluation time.
    String {
        /// Evaluation timestamp in milliseconds.
        timestamp_ms: i64,
        /// The value.
        value: String,
    },
    /// An instant vector: one sample per series.
    Vector(Vec<Sample>),
    /// A range vector or the result of a range query: series with their points,
    /// sorted by labels for range queries.
    Matrix(Vec<Series>),
}

impl Value {
    /// The Prometheus name of the result type: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }

    /// The samples if this is a vector, else `None`.
    pub fn as_vector(&self) -> Option<&[Sample]> {
        match self {
            Value::Vector(v) => Some(v),
            _ => None,
        }
    }

    /// The series if this is a matrix, else `None`.
    pub fn as_matrix(&self) -> Option<&[Series]> {
        match self {
            Value::Matrix(m) => Some(m),
            _ => None,
        }
    }

    /// The value if this is a scalar, else `None`.
    pub fn as_scalar(&self) -> Option<f64> {
        match self {
            Value::Scalar { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// Number of points held (1 for scalars and strings).
    pub fn num_points(&self) -> usize {
        match self {
            Value::Scalar { .. } | Value::String { .. } => 1,
            Value::Vector(v) => v.len(),
            Value::Matrix(m) => m.iter().map(|s| s.values.len()).sum(),
        }
    }
}
