DROP TABLE pending_changes;
DROP TABLE revocations;
DROP TABLE seat_assignments;
DROP TABLE license_keys;
ALTER TABLE devices DROP COLUMN last_checkin_at;
ALTER TABLE devices DROP COLUMN metadata;
ALTER TABLE devices DROP COLUMN license_key_id;
ALTER TABLE tenants DROP COLUMN require_approval;
