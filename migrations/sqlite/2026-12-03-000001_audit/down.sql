DROP TABLE licet_locks;
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_events;
DROP TABLE decision_log;
DROP TABLE policy_activations;
DROP TABLE policy_versions;
