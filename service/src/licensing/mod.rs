//! Licensing data: product versions, the import of commercial data, changes to it one record
//! at a time (the admin API's), and the demo data set.

pub mod demo;
pub mod import;
pub mod manage;
pub mod version;
