//! Embeds the policy bundle of the repository (`../policies/*.cedar` and
//! `../schema/licet.cedarschema`) so that the binary runs with no files beside it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest).join("..");
    let policies = root.join("policies");
    let schema = root.join("schema").join("licet.cedarschema");
    println!("cargo:rerun-if-changed={}", policies.display());
    println!("cargo:rerun-if-changed={}", schema.display());

    let mut files: Vec<_> = std::fs::read_dir(&policies)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "pub const EMBEDDED_SCHEMA: (&str, &str) = (\"schema/licet.cedarschema\", include_str!({:?}));",
        schema.display().to_string()
    );
    out.push_str("pub const EMBEDDED_POLICIES: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    (\"policies/{name}\", include_str!({:?})),",
            file.display().to_string()
        );
    }
    out.push_str("];\n");

    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("embedded_bundle.rs");
    if let Err(err) = std::fs::write(&target, out) {
        panic!("cannot write {}: {err}", target.display());
    }
}
