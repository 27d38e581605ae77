//! The line-protocol parser and the wire-format helpers as units.

use crate::line_protocol::{FieldValue, Precision, parse_line, parse_lines};
use crate::prom_json::{parse_duration, parse_rfc3339, parse_time, push_time, push_value};

fn one(line: &str) -> crate::line_protocol::Point {
    parse_line(line).unwrap().unwrap()
}

#[test]
fn basic_line_with_tags_fields_and_timestamp() {
    let p = one("cpu,host=a,region=eu usage_idle=92.5,usage_user=3 1700000000000000000");
    assert_eq!(p.measurement, "cpu");
    assert_eq!(
        p.tags,
        vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
    );
    assert_eq!(
        p.fields,
        vec![
            ("usage_idle".into(), FieldValue::Float(92.5)),
            ("usage_user".into(), FieldValue::Float(3.0))
        ]
    );
    assert_eq!(p.timestamp, Some(1_700_000_000_000_000_000));
}

#[test]
fn field_types() {
    let p = one(r#"m i=-5i,u=7u,b1=t,b2=FALSE,b3=True,f=-1.5e3,s="hi \"there\" \\ x""#);
    assert_eq!(
        p.fields,
        vec![
            ("i".into(), FieldValue::Int(-5)),
            ("u".into(), FieldValue::UInt(7)),
            ("b1".into(), FieldValue::Bool(true)),
            ("b2".into(), FieldValue::Bool(false)),
            ("b3".into(), FieldValue::Bool(true)),
            ("f".into(), FieldValue::Float(-1500.0)),
            ("s".into(), FieldValue::Str(r#"hi "there" \ x"#.into())),
        ]
    );
    assert_eq!(p.timestamp, None);
    assert_eq!(FieldValue::Bool(true).as_f64(), Some(1.0));
    assert_eq!(FieldValue::Str("x".into()).as_f64(), None);
}

#[test]
fn escapes() {
    let p = one(r"my\ meas\,ure,tag\ key=tag\,val\=ue,t2=a\b field\=key=1 5");
    assert_eq!(p.measurement, "my meas,ure");
    assert_eq!(
        p.tags,
        vec![
            ("tag key".into(), "tag,val=ue".into()),
            ("t2".into(), r"a\b".into())
        ]
    );
    assert_eq!(p.fields, vec![("field=key".into(), FieldValue::Float(1.0))]);
    assert_eq!(p.timestamp, Some(5));
    // A comma and a space inside a string field do not end it.
    let p = one(r#"m s="a, b=c",x=1"#);
    assert_eq!(p.fields.len(), 2);
}

#[test]
fn blank_lines_comments_and_crlf() {
    assert_eq!(parse_line("").unwrap(), None);
    assert_eq!(parse_line("   ").unwrap(), None);
    assert_eq!(parse_line("# a comment").unwrap(), None);
    let p = one("m v=1 10\r");
    assert_eq!(p.timestamp, Some(10));
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    let cases = [
        ("cpu", "missing fields"),
        ("cpu ", "missing field key"),
        ("cpu,host=a", "missing fields"),
        ("cpu,host usage=1", "missing tag value"),
        ("cpu,host= usage=1", "missing tag value"),
        ("cpu usage", "missing field value"),
        ("cpu usage=", "missing field value"),
        ("cpu usage=abc", "invalid value"),
        ("cpu usage=1x", "invalid value"),
        ("cpu usage=1.5i", "invalid value"),
        ("cpu usage=-1u", "invalid value"),
        ("cpu usage=inf", "invalid value"),
        ("cpu usage=1 12abc", "invalid timestamp"),
        ("cpu usage=1 1.5", "invalid timestamp"),
        (r#"cpu s="open"#, "unterminated string"),
        (",host=a v=1", "missing measurement"),
    ];
    for (line, want) in cases {
        let err = parse_line(line).expect_err(line);
        assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
    }
}

#[test]
fn parse_lines_keeps_good_lines_and_numbers_errors() {
    let body = "a v=1 1\nbad\n\n# c\nb v=2 2\nc v=1 notatime\n";
    let (points, errors) = parse_lines(body);
    assert_eq!(
        points
            .iter()
            .map(|(n, p)| (*n, p.measurement.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "a"), (5, "b")]
    );
    assert_eq!(
        errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2, 6]
    );
    assert!(
        errors[1]
            .to_string()
            .starts_with("line 6: invalid timestamp")
    );
}

#[test]
fn precision() {
    let t = 1_700_000_000_123_456_789i64;
    assert_eq!(
        Precision::parse("").unwrap().to_ms(t),
        Some(1_700_000_000_123)
    );
    assert_eq!(
        Precision::parse("ns").unwrap().to_ms(t),
        Some(1_700_000_000_123)
    );
    assert_eq!(
        Precision::parse("us").unwrap().to_ms(1_700_000_000_123_456),
        Some(1_700_000_000_123)
    );
    assert_eq!(Precision::parse("u").unwrap().to_ms(1_000_999), Some(1_000));
    assert_eq!(Precision::parse("ms").unwrap().to_ms(5), Some(5));
    assert_eq!(Precision::parse("s").unwrap().to_ms(5), Some(5_000));
    assert_eq!(Precision::parse("m").unwrap().to_ms(2), Some(120_000));
    assert_eq!(Precision::parse("h").unwrap().to_ms(1), Some(3_600_000));
    assert_eq!(Precision::parse("h").unwrap().to_ms(i64::MAX), None);
    assert_eq!(Precision::parse("d"), None);
    // Floor, not truncation, before the epoch.
    assert_eq!(Precision::Nanoseconds.to_ms(-1), Some(-1));
}

#[test]
fn prometheus_times_and_durations() {
    assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
    assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
    assert_eq!(
        parse_time("2015-07-01T20:10:51.781Z"),
        Ok(1_435_781_451_781)
    );
    assert_eq!(parse_time("2015-07-01T20:10:51Z"), Ok(1_435_781_451_000));
    assert_eq!(
        parse_time("2015-07-01T22:10:51.7+02:00"),
        Ok(1_435_781_451_700)
    );
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    for bad in [
        "",
        "abc",
        "NaN",
        "Inf",
        "2015-13-01T00:00:00Z",
        "2015-07-01 20:10:51Z",
        "2015-07-01T20:10:51",
    ] {
        assert!(parse_time(bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_duration("15"), Ok(15_000));
    assert_eq!(parse_duration("0.5"), Ok(500));
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
    assert_eq!(parse_duration("100ms"), Ok(100));
    assert_eq!(parse_duration("2d"), Ok(172_800_000));
    for bad in ["", "5x", "m", "-1", "1.5m"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn prometheus_number_formats() {
    let time = |t| {
        let mut s = String::new();
        push_time(&mut s, t);
        s
    };
    assert_eq!(time(1_435_781_451_781), "1435781451.781");
    assert_eq!(time(1_435_781_451_000), "1435781451");
    assert_eq!(time(1_435_781_451_500), "1435781451.5");
    assert_eq!(time(1_435_781_451_050), "1435781451.05");
    assert_eq!(time(-1_500), "-1.5");
    let value = |v| {
        let mut s = String::new();
        push_value(&mut s, v);
        s
    };
    assert_eq!(value(1.0), "\"1\"");
    assert_eq!(value(0.1), "\"0.1\"");
    assert_eq!(value(-2.5), "\"-2.5\"");
    assert_eq!(value(1e21), "\"1000000000000000000000\"");
    assert_eq!(value(f64::NAN), "\"NaN\"");
    assert_eq!(value(f64::INFINITY), "\"+Inf\"");
    assert_eq!(value(f64::NEG_INFINITY), "\"-Inf\"");
}

mod hostile_input {
    use proptest::prelude::*;

    use crate::ingest::Outcome;
    use crate::label_cache::LabelCache;
    use crate::line_protocol::{Precision, parse_lines};
    use crate::proto::snappy_decompress;
    use crate::write_view::WriteView;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text: parsed or refused line by line, never a panic.
        #[test]
        fn line_protocol_never_panics(s in "[a-z ,=\"\\\\0-9.eitfu#\\n-]{0,200}") {
            let (points, errors) = parse_lines(&s);
            let mut outcome = Outcome::default();
            let _ = crate::influx::to_batch(&points, Precision::Seconds, 0, &mut outcome);
            prop_assert!(points.len() + errors.len() <= s.split('\n').count());
        }

        /// Any bytes as a remote-write body: refused or decoded, never a panic.
        #[test]
        fn remote_write_body_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(raw) = snappy_decompress(&b, 1 << 16) {
                prop_assert!(raw.len() <= 1 << 16);
                if let Ok(req) = WriteView::decode(&raw) {
                    let mut outcome = Outcome::default();
                    let _ = crate::remote_write::to_batch(&req, &LabelCache::new(16), &mut Vec::new(), &mut outcome);
                }
            }
            if let Ok(req) = WriteView::decode(&b) {
                let mut outcome = Outcome::default();
                let _ = crate::remote_write::to_batch(&req, &LabelCache::new(16), &mut Vec::new(), &mut outcome);
            }
        }
    }
}
