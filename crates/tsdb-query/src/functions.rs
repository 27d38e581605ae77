//! The PromQL functions this engine evaluates: names, argument shapes and which
//! of them keep the metric name.

use crate::error::{QueryError, Result};
use crate::parse::{Expr, Kind};

macro_rules! funcs {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A PromQL function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }
        impl Func {
            pub fn from_name(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$variant),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }
        }
    };
}

funcs! {
    Rate => "rate", Irate => "irate", Increase => "increase", Delta => "delta",
    Idelta => "idelta", Deriv => "deriv", PredictLinear => "predict_linear",
    Resets => "resets", Changes => "changes",
    AvgOverTime => "avg_over_time", SumOverTime => "sum_over_time",
    CountOverTime => "count_over_time", MinOverTime => "min_over_time",
    MaxOverTime => "max_over_time", QuantileOverTime => "quantile_over_time",
    StddevOverTime => "stddev_over_time", StdvarOverTime => "stdvar_over_time",
    LastOverTime => "last_over_time", FirstOverTime => "first_over_time",
    PresentOverTime => "present_over_time", MadOverTime => "mad_over_time",
    AbsentOverTime => "absent_over_time",
    Abs => "abs", Ceil => "ceil", Floor => "floor", Exp => "exp", Ln => "ln",
    Log2 => "log2", Log10 => "log10", Sqrt => "sqrt", Sgn => "sgn",
    Sin => "sin", Cos => "cos", Tan => "tan", Asin => "asin", Acos => "acos",
    Atan => "atan", Sinh => "sinh", Cosh => "cosh", Tanh => "tanh",
    Asinh => "asinh", Acosh => "acosh", Atanh => "atanh", Deg => "deg", Rad => "rad",
    Pi => "pi", Round => "round", Clamp => "clamp", ClampMin => "clamp_min",
    ClampMax => "clamp_max", Time => "time", Timestamp => "timestamp",
    Vector => "vector", Scalar => "scalar", Sort => "sort", SortDesc => "sort_desc",
    LabelReplace => "label_replace", LabelJoin => "label_join",
    HistogramQuantile => "histogram_quantile", Absent => "absent",
    Hour => "hour", Minute => "minute", Month => "month", Year => "year",
    DayOfWeek => "day_of_week", DayOfMonth => "day_of_month",
    DayOfYear => "day_of_year", DaysInMonth => "days_in_month",
}

impl Func {
    /// Index of the range-vector argument, for functions over range vectors.
    pub fn matrix_arg(self) -> Option<usize> {
        use Func::*;
        match self {
            QuantileOverTime => Some(1),
            Rate | Irate | Increase | Delta | Idelta | Deriv | PredictLinear | Resets | Changes
            | AvgOverTime | SumOverTime | CountOverTime | MinOverTime | MaxOverTime
            | StddevOverTime | StdvarOverTime | LastOverTime | FirstOverTime | PresentOverTime
            | MadOverTime | AbsentOverTime => Some(0),
            _ => None,
        }
    }

    /// Whether the output keeps the input's metric name.
    pub fn keeps_name(self) -> bool {
        matches!(
            self,
            Func::LastOverTime
                | Func::FirstOverTime
                | Func::Sort
                | Func::SortDesc
                | Func::LabelReplace
                | Func::LabelJoin
        )
    }

    pub fn return_kind(self) -> Kind {
        match self {
            Func::Time | Func::Scalar | Func::Pi => Kind::Scalar,
            _ => Kind::Vector,
        }
    }

    /// Expected argument kinds and how many trailing ones are optional
    /// (`None` optional count = variadic strings, for `label_join`).
    fn signature(self) -> (&'static [Kind], usize) {
        use Func::*;
        const S: Kind = Kind::Scalar;
        const V: Kind = Kind::Vector;
        const M: Kind = Kind::Matrix;
        const T: Kind = Kind::String;
        match self {
            Time | Pi => (&[], 0),
            Vector => (&[S], 0),
            Scalar => (&[V], 0),
            PredictLinear => (&[M, S], 0),
            QuantileOverTime => (&[S, M], 0),
            Round => (&[V, S], 1),
            Clamp => (&[V, S, S], 0),
            ClampMin | ClampMax => (&[V, S], 0),
            HistogramQuantile => (&[S, V], 0),
            LabelReplace => (&[V, T, T, T, T], 0),
            LabelJoin => (&[V, T, T], 0),
            Hour | Minute | Month | Year | DayOfWeek | DayOfMonth | DayOfYear | DaysInMonth => {
                (&[V], 1)
            }
            f if f.matrix_arg().is_some() => (&[M], 0),
            _ => (&[V], 0),
        }
    }

    /// Checks argument count and kinds (the parser checks too; this keeps the
    /// evaluator's assumptions explicit).
    pub fn check_args(self, args: &[Expr]) -> Result<()> {
        let (kinds, optional) = self.signature();
        let min = kinds.len() - optional;
        let variadic = self == Func::LabelJoin;
        if args.len() < min || (!variadic && args.len() > kinds.len()) {
            return Err(QueryError::Parse(format!(
                "wrong number of arguments for {}(): expected {}, got {}",
                self.name(),
                kinds.len(),
                args.len()
            )));
        }
        for (i, a) in args.iter().enumerate() {
            let want = kinds.get(i).copied().unwrap_or(Kind::String);
            if a.kind() != want {
                return Err(QueryError::Parse(format!(
                    "expected type {want:?} in call to function {}(), got {:?}",
                    self.name(),
                    a.kind()
                )));
            }
        }
        Ok(())
    }
}
