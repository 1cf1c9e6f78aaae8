-- Local stack only: plpgsql_check, the function linter `supabase db lint` runs. It needs a
-- superuser to create it, so `supabase db lint --db-url …` as postgres finds it ready.
create extension if not exists plpgsql_check with schema extensions;
