-- Runs once, when the postgresql volume is first initialised (docker-entrypoint-initdb.d).
-- Temporal's own databases (temporal, temporal_visibility) are created by the temporal-schema service
-- (deploy/temporal/setup-schema.sh).
-- Change the password here and in DATABASE_URL together.
CREATE ROLE leadflow WITH LOGIN PASSWORD 'leadflow';
CREATE DATABASE leadflow OWNER leadflow;
