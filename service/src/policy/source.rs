//! Where bundle files come from (a folder, or the copy built into the binary) and how their
//! version is computed.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::BundleError;

include!(concat!(env!("OUT_DIR"), "/embedded_bundle.rs"));

/// One file of a bundle, named by its logical path (`schema/...` or `policies/...`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleFile {
    pub path: String,
    pub content: String,
}

/// The raw files of a bundle: one schema and the policy files, in path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSource {
    pub schema: BundleFile,
    pub policies: Vec<BundleFile>,
}

impl BundleSource {
    /// The bundle built into the binary from the repository's `policies/` and `schema/`.
    pub fn embedded() -> Self {
        let (path, content) = EMBEDDED_SCHEMA;
        let schema = BundleFile {
            path: path.into(),
            content: content.into(),
        };
        let policies = EMBEDDED_POLICIES
            .iter()
            .map(|(path, content)| BundleFile {
                path: (*path).into(),
                content: (*content).into(),
            })
            .collect();
        Self { schema, policies }
    }

    /// Reads `schema_file` and every `*.cedar` file directly inside `dir`.
    pub fn from_dir(dir: &Path, schema_file: &Path) -> Result<Self, BundleError> {
        let schema = BundleFile {
            path: format!("schema/{}", file_name(schema_file)),
            content: std::fs::read_to_string(schema_file)
                .map_err(|e| BundleError::io(schema_file, e))?,
        };
        Self::from_dir_with_schema(dir, schema)
    }

    /// Every `*.cedar` file directly inside `dir`, with `schema`.
    pub fn from_dir_with_schema(dir: &Path, schema: BundleFile) -> Result<Self, BundleError> {
        let read =
            |path: &Path| std::fs::read_to_string(path).map_err(|e| BundleError::io(path, e));

        let entries = std::fs::read_dir(dir).map_err(|e| BundleError::io(dir, e))?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        paths.sort();
        let policies = paths
            .iter()
            .map(|p| {
                Ok(BundleFile {
                    path: format!("policies/{}", file_name(p)),
                    content: read(p)?,
                })
            })
            .collect::<Result<Vec<_>, BundleError>>()?;
        if policies.is_empty() {
            return Err(BundleError::at(
                &dir.display().to_string(),
                0,
                "the folder holds no `*.cedar` policy files",
            ));
        }
        Ok(Self { schema, policies })
    }

    /// Every file, schema first, then policies in path order.
    pub fn files(&self) -> impl Iterator<Item = &BundleFile> {
        std::iter::once(&self.schema).chain(self.policies.iter())
    }

    /// `sha256:<hex>` over the files sorted by path, each as path, length and content. The
    /// same files give the same version on every machine.
    pub fn version(&self) -> String {
        let mut files: Vec<&BundleFile> = self.files().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut hasher = Sha256::new();
        for file in files {
            hasher.update(file.path.as_bytes());
            hasher.update(b"\n");
            hasher.update(file.content.len().to_string().as_bytes());
            hasher.update(b"\n");
            hasher.update(file.content.as_bytes());
            hasher.update(b"\n");
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_files_give_the_same_version_from_disk_and_from_the_binary() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let disk = BundleSource::from_dir(
            &root.join("policies"),
            &root.join("schema/licet.cedarschema"),
        )
        .unwrap();
        let embedded = BundleSource::embedded();
        assert_eq!(disk, embedded);
        assert_eq!(disk.version(), embedded.version());
        assert!(disk.version().starts_with("sha256:"));
        assert_eq!(disk.version().len(), "sha256:".len() + 64);
    }

    #[test]
    fn any_change_changes_the_version() {
        let mut source = BundleSource::embedded();
        let before = source.version();
        source.policies[0].content.push(' ');
        assert_ne!(before, source.version());
    }
}
