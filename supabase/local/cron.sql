-- Local stack only: enable pg_cron in the database named by cron.database_name
-- and let postgres schedule jobs, as hosted Supabase does.
create extension if not exists pg_cron;
grant usage on schema cron to postgres;
grant all on all tables in schema cron to postgres;
grant all on all sequences in schema cron to postgres;
grant execute on all functions in schema cron to postgres;
