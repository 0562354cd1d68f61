-- The school's class database on its PostgreSQL server (docs/deploy.md), as the postgres user:
--   sudo -u postgres psql -f deploy/postgres.sql
-- then allow the app machines in pg_hba.conf (scram-sha-256) and set listen_addresses. The app
-- makes its tables itself, at its first start (Alembic, model_store/migrations).
CREATE ROLE mnistlab LOGIN PASSWORD 'CHANGE-ME';
CREATE DATABASE mnistlab OWNER mnistlab;
