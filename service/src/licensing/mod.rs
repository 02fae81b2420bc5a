//! Licensing data: product versions, the import of commercial data, the demo data set,
//! licence keys, activation and the device lifecycle, and signed licence files.

pub mod activation;
pub mod demo;
pub mod import;
pub mod keys;
pub mod license_file;
pub mod limits;
pub mod version;
