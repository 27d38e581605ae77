//! Runs every `tests/scripts/*.test` file.

use std::path::Path;

use tsdb_query::testing::script::run_script;

#[test]
fn all_scripts_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    let mut failures = Vec::new();
    let mut evals = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        match run_script(&src) {
            Ok(r) => {
                evals += r.evals;
                for e in r.failures {
                    failures.push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy()));
                }
            }
            Err(e) => failures.push(format!("{}: script error: {e}", f.display())),
        }
    }
    println!("{} scripts, {evals} evals", files.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs the scripts of a directory named by `TSDB_QUERY_SCRIPTS` (for checking
/// the engine against other script collections): `cargo test -p tsdb-query
/// --test it external -- --ignored --nocapture`.
#[test]
#[ignore]
fn external_scripts() {
    let Ok(dir) = std::env::var("TSDB_QUERY_SCRIPTS") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        match run_script(&src) {
            Ok(r) => {
                println!(
                    "{}: {} evals, {} failures",
                    f.display(),
                    r.evals,
                    r.failures.len()
                );
                for e in r.failures {
                    println!("  {e}");
                }
            }
            Err(e) => println!("{}: script error: {e}", f.display()),
        }
    }
}

#[test]
fn a_wrong_expectation_fails() {
    let r = run_script("load 1m\n  foo 1 2 3\n\neval instant at 2m foo\n  foo 4\n").unwrap();
    assert_eq!(r.evals, 1);
    assert_eq!(r.failures.len(), 1);
    let r = run_script("load 1m\n  foo 1\n\neval_fail instant at 0m foo\n").unwrap();
    assert_eq!(r.failures.len(), 1);
}
