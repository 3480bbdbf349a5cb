-- The pg_cron procedure bounds each batch itself and never leaves a cancelled run 'running'.
--
-- A statement_timeout set on the job's role (Supabase sets them on its roles; 1 s was seen) bounds
-- the whole `CALL`, COMMITs included, and cannot be lifted from inside: a SET in the procedure does
-- not re-arm the timer that started with the CALL, and a SET clause on the procedure would forbid
-- its COMMITs. 0006's procedure was cancelled mid-batch by it; `WHEN OTHERS` does not catch a
-- cancel, so the run stayed 'running' until the next run's begin closed it an hour later.
--
-- Now:
--   * the run's deadline is the earlier of its time budget and 90 % of the statement_timeout in
--     force (measured from the CALL's start): a run ends as incomplete, 'succeeded', before the
--     timeout can cancel it, and the next run goes on;
--   * each batch waits for a lock at most until that deadline (lock_timeout, local to the batch's
--     transaction); a batch that could not get its locks in time ends the run as incomplete;
--   * a batch cancelled anyway (a batch slower than the time left, an operator's pg_cancel_backend)
--     is caught: the run is recorded 'failed' with the cause and committed, then the error is raised
--     again with its own SQLSTATE, so cron.job_run_details says failed too.
-- Same signature: CREATE OR REPLACE keeps 0006's grants and revokes. The scheduled function does not
-- call this procedure (it runs batches in its own bounded transactions, functions/shared/db.py).
CREATE OR REPLACE PROCEDURE public.cleanup_expired_drafts(
    p_source      text     DEFAULT 'pg_cron',
    p_max_age     interval DEFAULT interval '24 hours',
    p_batch_size  integer  DEFAULT 1000,
    p_time_budget interval DEFAULT interval '60 seconds')
LANGUAGE plpgsql AS $$
DECLARE
    v_cutoff     timestamptz := now() - p_max_age;
    v_deadline   timestamptz := clock_timestamp() + p_time_budget;
    v_timeout_ms bigint := (SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout');
    v_run        bigint;
    v_n          integer;
    v_error      text;
    v_state      text;
    v_stalled    boolean := false;
BEGIN
    IF v_timeout_ms > 0 THEN
        v_deadline := least(v_deadline, statement_timestamp() + make_interval(secs => v_timeout_ms * 0.9 / 1000));
    END IF;
    v_run := public.cleanup_run_begin(p_source, v_cutoff);
    COMMIT;
    LOOP
        BEGIN
            PERFORM set_config('lock_timeout',
                               greatest(1, ceil(extract(epoch FROM v_deadline - clock_timestamp()) * 1000))::bigint::text,
                               true);
            SELECT count(*) INTO v_n FROM public.delete_expired_drafts_batch(v_cutoff, p_batch_size);
            PERFORM public.cleanup_run_progress(v_run, v_n);
        EXCEPTION
            WHEN lock_not_available THEN
                v_stalled := true;  -- its deletions rolled back; the rows wait for the next run
            WHEN query_canceled OR OTHERS THEN  -- OTHERS alone does not catch a cancel
                GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
        END;
        IF v_error IS NOT NULL THEN
            PERFORM public.cleanup_run_finish(v_run, false, v_error);
            COMMIT;
            RAISE EXCEPTION 'draft cleanup run % failed: %', v_run, v_error USING ERRCODE = v_state;
        END IF;
        COMMIT;  -- each batch is its own short transaction: its row locks end here
        EXIT WHEN NOT v_stalled AND v_n < p_batch_size;
        IF v_stalled OR clock_timestamp() >= v_deadline THEN
            PERFORM public.cleanup_run_finish(v_run, false);
            COMMIT;
            RETURN;
        END IF;
    END LOOP;
    PERFORM public.cleanup_run_finish(v_run, true);
    COMMIT;
END
$$;

COMMENT ON PROCEDURE public.cleanup_expired_drafts(text, interval, integer, interval) IS
    'The pg_cron draft cleanup: batches of delete_expired_drafts_batch(), each committed, until none is left '
    'or the deadline (the time budget, and 90 % of any statement_timeout in force); a cancelled run is '
    'recorded failed (migration 0012)';
