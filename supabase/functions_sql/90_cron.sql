-- pg_cron jobs. Scheduled by `config sync` (intervals come from config.toml)
-- when pg_cron is installed in this database; re-scheduling is idempotent.

-- Schedule (or re-schedule) every flirt_* job; returns the job names.
create or replace function private.schedule_jobs(reset_every_minutes integer) returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_jobs text[][] := array[
    ['flirt_daily_reset', format('*/%s * * * *', reset_every_minutes), 'call private.run_daily_reset()'],
    ['flirt_reap_expired_leases', '* * * * *', 'select private.reap_expired_leases()'],
    ['flirt_refresh_metrics', '*/10 * * * *', 'select private.refresh_admin_metrics(current_date - 1, current_date)'],
    ['flirt_retention', '17 3 * * *', 'select private.purge_expired_inputs()']
  ];
  v_names text[] := '{}';
  i integer;
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return v_names;
  end if;
  for i in 1 .. array_length(v_jobs, 1) loop
    -- cron.schedule(name, …) updates a job of the same name in place
    perform cron.schedule(v_jobs[i][1], v_jobs[i][2], v_jobs[i][3]);
    v_names := v_names || v_jobs[i][1];
  end loop;
  return v_names;
end
$$;
