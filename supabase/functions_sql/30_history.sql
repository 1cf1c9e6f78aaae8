-- History and saved replies: own rows only, newest first, keyset pages on (created_at, id).
-- A cursor is opaque to clients: base64url of "<list>|<created_at UTC>|<id>" of the last
-- row of the previous page. Rows inserted while paging land before the cursor (newer) or
-- after it, never on both sides, so pages have no duplicates and no gaps.

-- Opaque cursor for list `kind` positioned after the row (created_at, id).
create or replace function private.encode_cursor(kind text, created_at timestamptz, id uuid)
returns text
language sql
immutable
set search_path = ''
as $$
  select rtrim(translate(encode(convert_to(
           kind || '|' || (created_at at time zone 'UTC')::text || '|' || id::text, 'UTF8'),
           'base64'), E'+/\n', '-_'), '=')
$$;
grant execute on function private.encode_cursor(text, timestamptz, uuid) to authenticated, service_role;

-- Position (created_at, id) encoded in a cursor of list `kind`; PT400 invalid_input otherwise.
create or replace function private.decode_cursor(kind text, cursor text,
  out created_at timestamptz, out id uuid)
language plpgsql
stable
set search_path = ''
as $$
declare
  v_b64 text;
  v_parts text[];
begin
  begin
    v_b64 := translate(cursor, '-_', '+/');
    v_b64 := v_b64 || repeat('=', (4 - length(v_b64) % 4) % 4);
    v_parts := string_to_array(convert_from(decode(v_b64, 'base64'), 'UTF8'), '|');
    if array_length(v_parts, 1) = 3 and v_parts[1] = kind then
      created_at := v_parts[2]::timestamp at time zone 'UTC';
      id := v_parts[3]::uuid;
    end if;
  exception when others then
    created_at := null;
  end;
  if created_at is null or id is null then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'cursor', 'reason', 'not_a_cursor'),
      'Pass next_cursor from the previous page, or nothing for the first page.');
  end if;
end
$$;
grant execute on function private.decode_cursor(text, text) to authenticated, service_role;

-- PT400 invalid_input unless page_size is 1–100.
create or replace function private.check_page_size(page_size integer) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if page_size is null or page_size not between 1 and 100 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'page_size', 'reason', 'out_of_range', 'min', 1, 'max', 100),
      'page_size is between 1 and 100.');
  end if;
end
$$;
grant execute on function private.check_page_size(integer) to authenticated, service_role;

-- The caller's analyses, newest first: {items:[summary…], next_cursor}.
create or replace function private.get_history(page_size integer, cursor text)
returns public.history_page
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user_id();
  -- first page: a position after every row, so one index range scan serves every page
  v_after_at timestamptz := 'infinity'::timestamptz;
  v_after_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid;
  v_items public.history_item[];
  v_more boolean;
  v_last_at timestamptz;
  v_last_id uuid;
begin
  perform private.check_page_size(page_size);
  if cursor is not null then
    select c.created_at, c.id into v_after_at, v_after_id from private.decode_cursor('h', cursor) c;
  end if;

  with page as (
    select a.id, a.action_type, a.status, a.cost, a.created_at, a.finished_at
      from public.analyses a
     where a.user_id = v_uid
       and (a.created_at, a.id) < (v_after_at, v_after_id)
     order by a.created_at desc, a.id desc
     limit page_size + 1
  ), numbered as (
    select p.*, row_number() over (order by p.created_at desc, p.id desc) as n from page p
  )
  select coalesce(array_agg(row(n.id, n.action_type, n.status, n.cost, n.created_at,
                                n.finished_at)::public.history_item
           order by n.n) filter (where n.n <= page_size), '{}'),
         count(*) > page_size,
         (array_agg(n.created_at order by n.n desc) filter (where n.n <= page_size))[1],
         (array_agg(n.id order by n.n desc) filter (where n.n <= page_size))[1]
    into v_items, v_more, v_last_at, v_last_id
    from numbered n;

  if not v_more then
    return row(v_items, null)::public.history_page;
  end if;
  return row(v_items, private.encode_cursor('h', v_last_at, v_last_id))::public.history_page;
end
$$;
grant execute on function private.get_history(integer, text) to authenticated;

-- The signed-in user's analyses, newest first, one page at a time.
create or replace function public.get_history(page_size integer default 20, cursor text default null)
returns public.history_page
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.get_history(page_size, cursor);
end
$$;
grant execute on function public.get_history(integer, text) to authenticated;

-- One of the caller's analyses in full; PT404 analysis_not_found for any other id.
create or replace function private.get_analysis(analysis_id uuid) returns public.analysis_detail
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user_id();
  v_result public.analysis_detail;
begin
  select a.id, a.action_type, a.status, a.cost, a.input, a.result, a.error, a.model, a.usage,
         a.created_at, a.started_at, a.finished_at
    into v_result
    from public.analyses a
   where a.id = get_analysis.analysis_id and a.user_id = v_uid;
  if not found then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', get_analysis.analysis_id),
      'This analysis does not exist.');
  end if;
  return v_result;
end
$$;
grant execute on function private.get_analysis(uuid) to authenticated;

-- One analysis of the signed-in user, with its input and result.
create or replace function public.get_analysis(analysis_id uuid) returns public.analysis_detail
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.get_analysis(analysis_id);
end
$$;
grant execute on function public.get_analysis(uuid) to authenticated;

-- Keep a reply from one of the caller's analyses; saving the same reply again returns the first
-- row. A user keeps at most [limits] max_saved_replies (PT409 too_many_saved_replies).
create or replace function private.save_reply(analysis_id uuid, reply text)
returns public.saved_reply
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_uid uuid := private.require_user_id();
  v_row public.saved_replies;
  v_max integer;
  v_saved integer;
begin
  if save_reply.reply is null or char_length(save_reply.reply) not between 1 and 2000 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'reply', 'reason', 'bad_length', 'min_chars', 1,
                         'max_chars', 2000, 'chars', coalesce(char_length(save_reply.reply), 0)),
      'A reply is 1 to 2000 characters.');
  end if;
  if save_reply.analysis_id is not null and not exists (
       select from public.analyses a where a.id = save_reply.analysis_id and a.user_id = v_uid) then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', save_reply.analysis_id), 'This analysis does not exist.');
  end if;

  -- one save of this user at a time: the count below holds until this one commits
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('saved_replies:' || v_uid::text, 0));
  -- saved before (possibly by a concurrent call: this statement sees its commit)
  select s.* into v_row
    from public.saved_replies s
   where s.user_id = v_uid and s.analysis_id is not distinct from save_reply.analysis_id
     and md5(s.reply) = md5(save_reply.reply);
  if not found then
    v_max := (private.required_setting('max_saved_replies') #>> '{}')::integer;
    select count(*) into v_saved
      from (select from public.saved_replies s where s.user_id = v_uid limit v_max) s;
    if v_saved >= v_max then
      perform private.raise_api_error(409, 'too_many_saved_replies',
        jsonb_build_object('saved', v_saved, 'max_saved_replies', v_max),
        format('You keep at most %s saved replies. Delete some to save more.', v_max));
    end if;
    insert into public.saved_replies (user_id, analysis_id, reply)
    values (v_uid, save_reply.analysis_id, save_reply.reply)
    returning * into v_row;
  end if;
  return row(v_row.id, v_row.analysis_id, v_row.reply, v_row.created_at)::public.saved_reply;
end
$$;
grant execute on function private.save_reply(uuid, text) to authenticated;

-- Save a suggested reply (deduplicated per analysis and text); returns the saved row.
create or replace function public.save_reply(analysis_id uuid, reply text)
returns public.saved_reply
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.save_reply(analysis_id, reply);
end
$$;
grant execute on function public.save_reply(uuid, text) to authenticated;

-- The caller's saved replies, newest first: {items:[…], next_cursor}.
create or replace function private.get_saved_replies(page_size integer, cursor text)
returns public.saved_replies_page
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user_id();
  -- first page: a position after every row, so one index range scan serves every page
  v_after_at timestamptz := 'infinity'::timestamptz;
  v_after_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid;
  v_items public.saved_reply[];
  v_more boolean;
  v_last_at timestamptz;
  v_last_id uuid;
begin
  perform private.check_page_size(page_size);
  if cursor is not null then
    select c.created_at, c.id into v_after_at, v_after_id from private.decode_cursor('s', cursor) c;
  end if;

  with page as (
    select s.id, s.analysis_id, s.reply, s.created_at
      from public.saved_replies s
     where s.user_id = v_uid
       and (s.created_at, s.id) < (v_after_at, v_after_id)
     order by s.created_at desc, s.id desc
     limit page_size + 1
  ), numbered as (
    select p.*, row_number() over (order by p.created_at desc, p.id desc) as n from page p
  )
  select coalesce(array_agg(row(n.id, n.analysis_id, n.reply, n.created_at)::public.saved_reply
           order by n.n) filter (where n.n <= page_size), '{}'),
         count(*) > page_size,
         (array_agg(n.created_at order by n.n desc) filter (where n.n <= page_size))[1],
         (array_agg(n.id order by n.n desc) filter (where n.n <= page_size))[1]
    into v_items, v_more, v_last_at, v_last_id
    from numbered n;

  if not v_more then
    return row(v_items, null)::public.saved_replies_page;
  end if;
  return row(v_items, private.encode_cursor('s', v_last_at, v_last_id))::public.saved_replies_page;
end
$$;
grant execute on function private.get_saved_replies(integer, text) to authenticated;

-- The signed-in user's saved replies, newest first, one page at a time.
create or replace function public.get_saved_replies(page_size integer default 50, cursor text default null)
returns public.saved_replies_page
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.get_saved_replies(page_size, cursor);
end
$$;
grant execute on function public.get_saved_replies(integer, text) to authenticated;

-- Delete one of the caller's saved replies; PT404 reply_not_found for any other id.
create or replace function private.delete_saved_reply(reply_id uuid) returns private.deleted_reply
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user_id();
begin
  delete from public.saved_replies s
   where s.id = delete_saved_reply.reply_id and s.user_id = v_uid;
  if not found then
    perform private.raise_api_error(404, 'reply_not_found',
      jsonb_build_object('reply_id', delete_saved_reply.reply_id), 'This saved reply does not exist.');
  end if;
  return row(delete_saved_reply.reply_id, true)::private.deleted_reply;
end
$$;
grant execute on function private.delete_saved_reply(uuid) to authenticated;

-- Delete a saved reply of the signed-in user; one row.
create or replace function public.delete_saved_reply(reply_id uuid)
returns table (id uuid, deleted boolean)
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return query select * from private.delete_saved_reply(reply_id);
end
$$;
grant execute on function public.delete_saved_reply(uuid) to authenticated;
