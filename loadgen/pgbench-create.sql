-- What PostgreSQL itself serves for the work of a SCIM create (`loadgen/bench.sh postgres
-- create` runs it beside the bridge): insert a user and its outbox row (the sync job) in one
-- transaction, as a client that sends each statement itself would. The bridge also writes
-- the user's email and an audit entry; this is the lower bound of its work, not a copy of it.
-- (No `:` inside string literals: pgbench would take what follows for a variable.)
\set n random(1, 9000000000000000000)
BEGIN;
INSERT INTO scim_users (id, user_name, user_name_lower, external_id, given_name, family_name,
    title, active, attributes, version, created_at, updated_at)
VALUES ('pgb-' || :client_id || '-' || :n, 'pgb-' || :client_id || '-' || :n,
    'pgb-' || :client_id || '-' || :n, 'ext-pgb-' || :n, 'Load', 'Generator', 'Tester', true,
    json_build_object('userName', 'pgb-' || :client_id || '-' || :n, 'active', true)::text, 1,
    localtimestamp, localtimestamp);
INSERT INTO sync_jobs (user_id, generation, enqueued_at, run_after, attempts)
VALUES ('pgb-' || :client_id || '-' || :n, 1, localtimestamp, localtimestamp, 0);
END;
