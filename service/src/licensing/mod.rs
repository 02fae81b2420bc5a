//! Licensing data: product versions, the import of commercial data, and the demo data set.

pub mod demo;
pub mod import;
pub mod version;
