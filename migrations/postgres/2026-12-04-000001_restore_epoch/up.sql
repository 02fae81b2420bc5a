-- licet: online-safe (adds a table that older versions never read)
-- Small facts about the database itself. `restore_epoch` counts the restores this database has
-- been through (`licet restore` raises it), so that replicas and clients can tell a restored
-- database from the one it replaced.
CREATE TABLE licet_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO licet_meta (key, value) VALUES ('restore_epoch', '0');
