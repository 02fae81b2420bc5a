//! What the tests of the `licet` binary share: running it, reading its output, and preparing
//! a data folder (demo data, a copy of the policy bundle).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `dir` as its data folder, warnings-only logs and no configuration file.
pub fn licet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(args)
        .env("LICET__SERVER__DATA_DIR", dir)
        .env("LICET__LOG__LEVEL", "warn")
        .env_remove("LICET_CONFIG")
        .output()
        .expect("the licet binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies the repository's policies to `dir/policies` and its schema to
/// `dir/licet.cedarschema`, and returns both paths.
pub fn copy_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for entry in std::fs::read_dir(root.join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
        }
    }
    let schema = dir.join("licet.cedarschema");
    std::fs::copy(root.join("schema/licet.cedarschema"), &schema).unwrap();
    (policies, schema)
}

/// Imports today's demo data into a SQLite database in `dir` with the binary.
pub fn demo_database(dir: &Path) {
    let file = dir.join("demo.yaml");
    std::fs::write(
        &file,
        licet::licensing::demo::data(chrono::Utc::now().date_naive()).unwrap(),
    )
    .unwrap();
    let out = licet(dir, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
