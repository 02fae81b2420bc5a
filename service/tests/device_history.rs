//! Importing devices records their history: registration, then every status change.

use diesel::prelude::*;
use licet::db::models::DeviceEvent;
use licet::db::schema::device_events;
use licet::db::{Database, migrate};
use licet::licensing::import;

const FILE: &str = r#"
products:
  - { id: cad, name: CAD, features: [{ id: cad.view, name: View }] }
tenants:
  - id: acme
    name: Acme
    devices:
      - { id: d-1, fingerprint: fp-1, name: One, status: STATUS }
"#;

fn import_with_status(db: &Database, status: &str) -> import::Summary {
    let text = FILE.replace("STATUS", status);
    let data = import::parse("devices.yaml", &text).unwrap();
    import::import(&mut db.conn().unwrap(), "devices.yaml", &data, "test").unwrap()
}

fn history(db: &Database) -> Vec<(String, Option<String>, String)> {
    device_events::table
        .order(device_events::id)
        .load::<DeviceEvent>(&mut db.conn().unwrap())
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.from_status, e.to_status))
        .collect()
}

/// A migrated SQLite database in a folder that lives as long as the returned guard.
fn fresh_database() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/licet.db", dir.path().display());
    let db = Database::connect(&url, 2, std::time::Duration::from_secs(5)).unwrap();
    migrate::run_pending(&mut db.conn().unwrap()).unwrap();
    (dir, db)
}

#[test]
fn device_history_records_registration_and_status_changes() {
    let (_dir, db) = fresh_database();

    import_with_status(&db, "active");
    import_with_status(&db, "active");
    let summary = import_with_status(&db, "revoked");
    assert_eq!(summary.updated.get("devices"), Some(&1));

    assert_eq!(
        history(&db),
        vec![
            ("registered".into(), None, "active".into()),
            (
                "status_changed".into(),
                Some("active".into()),
                "revoked".into()
            ),
        ]
    );
}

#[test]
fn a_fingerprint_held_by_another_stored_device_is_refused_by_name() {
    let (_dir, db) = fresh_database();
    import_with_status(&db, "active");

    let clash = FILE
        .replace("STATUS", "active")
        .replace("id: d-1", "id: d-2");
    let data = import::parse("clash.yaml", &clash).unwrap();
    let err = import::import(&mut db.conn().unwrap(), "clash.yaml", &data, "test").unwrap_err();
    assert_eq!(
        err.to_string(),
        "clash.yaml: 1 problem(s) found, nothing was written:\n  clash.yaml: tenant `acme`, device `d-2`, field `fingerprint`: `fp-1` already belongs to device `d-1`"
    );
}
