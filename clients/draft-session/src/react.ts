// useDraftSession: a react-hook-form form wired to a DraftClient. React is a peer dependency of
// this entry only; react-hook-form is used for its types alone (the hook calls the form it is given).
import { useCallback, useEffect, useRef, useState } from 'react';
import type { FieldValues, Path, PathValue, UseFormReturn } from 'react-hook-form';

import { DraftClient, same } from './client.js';
import type { DraftClientOptions, DraftSnapshot, FieldProblem } from './client.js';
import type { DraftApiError } from './errors.js';
import { badgeTextRu, fieldMessageRu } from './messages.js';
import type { FormValues, Materialized, MaterializeReason, SessionSummary } from './types.js';

export interface UseDraftSessionOptions extends DraftClientOptions {
  /** Offer the user's other open drafts (another device's) when this tab starts fresh. Default true. */
  offerResume?: boolean;
  /** The text of a refused field (default: Russian, by the detail's stable code). */
  fieldMessage?: (problem: FieldProblem) => string;
  /** A form value as the draft keeps it (default toDraftValue: '', NaN and [] remove the field). */
  toDraft?: (field: string, value: unknown) => unknown;
  /** A draft value as the form holds it (default: as it is), e.g. a number for a text input. */
  fromDraft?: (field: string, value: unknown) => unknown;
}

export interface DraftSession {
  client: DraftClient;
  /** The badge: state, and its Russian text. */
  state: DraftSnapshot['state'];
  stateText: string;
  snapshot: DraftSnapshot;
  /** start() has restored or opened the session and the form shows it. */
  ready: boolean;
  /** The course, once this tab materialized it or learnt another tab had. */
  course: Materialized | null;
  alreadySubmitted: boolean;
  /** Fields another writer changed, merged in after a version conflict (until dismissed). */
  conflict: string[] | null;
  dismissConflict: () => void;
  /** Another open draft of this user, offered on a fresh tab; null when there is none or once answered. */
  offer: SessionSummary | null;
  resume: () => Promise<void>;
  dismissOffer: () => void;
  /** Forget this tab's draft or course and start an empty one ("create another course"). */
  startOver: () => Promise<void>;
  /** Create the course now (submit, or before an upload) with the form's current values. */
  materialize: (reason: MaterializeReason, values?: FieldValues) => Promise<Materialized>;
  lastError: DraftApiError | null;
}

/**
 * Restores this tab's draft into `form`, autosaves the fields that change, and materializes on
 * demand. One client per component, made once: React's development double mount (effects run,
 * clean up, run again) reuses it, and its start() answers the same session both times.
 */
export function useDraftSession<T extends FieldValues>(form: UseFormReturn<T>, options: UseDraftSessionOptions): DraftSession {
  const [client] = useState(() => new DraftClient(options));
  const [snapshot, setSnapshot] = useState<DraftSnapshot>(() => client.snapshot());
  const [ready, setReady] = useState(false);
  const [course, setCourse] = useState<Materialized | null>(null);
  const [conflict, setConflict] = useState<string[] | null>(null);
  const [offer, setOffer] = useState<SessionSummary | null>(null);
  const formRef = useRef(form);
  formRef.current = form;
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const applying = useRef(false);  // the form is being filled from the draft: not a user's edit
  const blank = useRef<FormValues | null>(null);

  const toDraft = useCallback((field: string, value: unknown) =>
    (optionsRef.current.toDraft ?? defaultToDraft)(field, value), []);

  /** Show the draft's values: all of them (whole), or only those that differ from the form's. */
  const fill = useCallback((values: FormValues, whole: boolean) => {
    const f = formRef.current;
    const base = blank.current ?? {};
    const fromDraft = optionsRef.current.fromDraft ?? ((_: string, value: unknown) => value);
    const shown = (name: string) => (name in values ? fromDraft(name, values[name]) : base[name]);
    applying.current = true;
    try {
      if (whole) {
        f.reset(Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(values)])]
          .map((name) => [name, shown(name)])) as T);
        return;
      }
      const current = f.getValues() as FormValues;
      for (const name of new Set([...Object.keys(values), ...Object.keys(current)])) {
        if (!(name in base) && !(name in values)) continue;
        if (same(toDraft(name, current[name]), toDraftValue(values[name]))) continue;
        f.setValue(name as Path<T>, shown(name) as PathValue<T, Path<T>>, { shouldDirty: false });
      }
    } finally {
      applying.current = false;
    }
  }, [toDraft]);

  useEffect(() => {
    let live = true;
    const f = formRef.current;
    blank.current ??= { ...(f.getValues() as FormValues) };  // the form's empty state, before any draft
    const refresh = () => { if (live) setSnapshot(client.snapshot()); };
    const message = (problem: FieldProblem) => (optionsRef.current.fieldMessage ?? fieldMessageRu)(problem);
    const offs = [
      client.on('state', refresh),
      client.on('session', refresh),
      client.on('remotechange', (values) => fill(values, false)),
      client.on('conflict', ({ fields }) => { if (live && fields.length) setConflict(fields); }),
      client.on('invalid', (invalid) => {
        for (const [field, problem] of Object.entries(invalid)) {
          formRef.current.setError(field as Path<T>, { type: 'server', message: message(problem) });
        }
        refresh();
      }),
      client.on('materialized', (result) => { if (live) setCourse(result); refresh(); }),
      client.on('alreadysubmitted', (result) => { if (live) setCourse(result); refresh(); }),
    ];
    const watcher = f.watch((values, { name }) => {
      if (!name || applying.current) return;
      const field = String(name).split('.')[0]!;  // formats.2 -> formats: the list is one field
      const value = (values as FormValues)[field];
      const err = formRef.current.getFieldState(field as Path<T>).error;
      if (err?.type === 'server') formRef.current.clearErrors(field as Path<T>);
      client.update({ [field]: toDraft(field, value) });
    });
    client.start().then((started) => {
      if (!live) return;
      fill(started.formData as FormValues, true);
      if (started.courseId) setCourse({ courseId: started.courseId, slug: started.slug!, sessionId: started.sessionId!, created: false });
      setReady(true);
      refresh();
      if (started.restored || started.courseId || optionsRef.current.offerResume === false) return;
      client.otherDrafts().then((others) => {
        if (live && !client.courseId) setOffer(others.find((s) => s.topic) ?? null);
      }, () => {});  // no list, no offer: the fresh draft is fine as it is
    });
    return () => {
      live = false;
      watcher.unsubscribe();
      offs.forEach((off) => off());
      client.stop({ flush: true });  // unmounted for good (a route change): what was typed goes out now
    };
  }, [client, fill, toDraft]);

  const resume = useCallback(async () => {
    if (!offer) return;
    setOffer(null);
    const resumed = await client.resume(offer.sessionId);
    fill(resumed.formData as FormValues, true);
    if (resumed.courseId) setCourse({ courseId: resumed.courseId, slug: resumed.slug!, sessionId: resumed.sessionId!, created: false });
    setSnapshot(client.snapshot());
  }, [client, offer, fill]);

  const startOver = useCallback(async () => {
    await client.reset();
    fill({}, true);
    setCourse(null);
    setConflict(null);
    setSnapshot(client.snapshot());
  }, [client, fill]);

  const materialize = useCallback(async (reason: MaterializeReason, values?: FieldValues) => {
    const all = (values ?? formRef.current.getValues()) as FormValues;
    const result = await client.materialize(reason, Object.fromEntries(
      Object.entries(all).map(([name, value]) => [name, toDraft(name, value)])));
    setCourse(result);
    setSnapshot(client.snapshot());
    return result;
  }, [client, toDraft]);

  return {
    client, state: snapshot.state, stateText: badgeTextRu(snapshot), snapshot, ready, course,
    alreadySubmitted: snapshot.alreadySubmitted, conflict, dismissConflict: () => setConflict(null),
    offer, resume, dismissOffer: () => setOffer(null), startOver, materialize, lastError: client.lastError,
  };
}

const defaultToDraft = (_field: string, value: unknown) => toDraftValue(value);

/** A form control's value as the draft keeps it: empty text, NaN (an empty number input) and [] remove the field. */
export function toDraftValue(value: unknown): unknown {
  if (value === undefined || value === null || value === '' || value === false) return null;
  if (typeof value === 'number' && Number.isNaN(value)) return null;
  if (Array.isArray(value) && value.length === 0) return null;
  return value;
}
