//! Embeds the policy bundle of the repository (`../policies/*.cedar` and
//! `../schema/licet.cedarschema`) so that the binary runs with no files beside it, and the
//! text of every migration's `up.sql` so that `licet migrate --check` can read its safety mark.

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

    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let target = Path::new(&out_dir).join("embedded_bundle.rs");
    if let Err(err) = std::fs::write(&target, out) {
        panic!("cannot write {}: {err}", target.display());
    }

    let mut out = String::new();
    for (constant, backend) in [("SQLITE_UP", "sqlite"), ("POSTGRES_UP", "postgres")] {
        let folder = root.join("migrations").join(backend);
        println!("cargo:rerun-if-changed={}", folder.display());
        let mut names: Vec<_> = std::fs::read_dir(&folder)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("up.sql").is_file())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let _ = writeln!(out, "pub const {constant}: &[(&str, &str)] = &[");
        for dir in &names {
            let up = dir.join("up.sql");
            println!("cargo:rerun-if-changed={}", up.display());
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let _ = writeln!(
                out,
                "    ({name:?}, include_str!({:?})),",
                up.display().to_string()
            );
        }
        out.push_str("];\n");
    }
    let target = Path::new(&out_dir).join("migration_sql.rs");
    if let Err(err) = std::fs::write(&target, out) {
        panic!("cannot write {}: {err}", target.display());
    }
}
