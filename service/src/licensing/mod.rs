//! Licensing data: product versions, the import of commercial data, changes to it one record
//! at a time (the admin API's), the demo data set, licence keys, activation and the device
//! lifecycle, and signed licence files.

pub mod activation;
pub mod demo;
pub mod import;
pub mod keys;
pub mod license_file;
pub mod limits;
pub mod manage;
pub mod version;
