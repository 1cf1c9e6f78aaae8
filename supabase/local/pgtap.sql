-- Local stack only: pgTAP for the SQL test suite.
create extension if not exists pgtap with schema extensions;
