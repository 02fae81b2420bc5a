DROP TABLE licet_locks;
DROP TABLE audit_events;
DROP FUNCTION licet_audit_events_append_only();
DROP TABLE decision_log;
DROP TABLE policy_activations;
DROP TABLE policy_versions;
