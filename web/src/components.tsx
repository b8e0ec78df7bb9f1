// Small building blocks shared by the pages.
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from './api';
import { lang, setLang, t } from './i18n';
import { outlets } from './outlets';
import type { Status } from './model';
import { qrPicture } from './qr';

export function Loading() {
  return <p class="muted" role="status">{t('common.loading')}</p>;
}

export function Empty({ children }: { children?: ComponentChildren }) {
  return <p class="empty">{children ?? t('common.empty')}</p>;
}

/** A failed call: the contract's codes that an operator meets in words of their own
 * language (`error.<CODE>` in the dictionaries), anything else as the hub said it. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" data-error={error instanceof ApiError ? error.code : 'error'}>
      {problemText(error)}
    </p>
  );
}

export function problemText(error: unknown): string {
  if (error instanceof ApiError) {
    const known = t(`error.${error.code}`);
    if (known !== `error.${error.code}`) return known;
  }
  return t('common.error', { message: error instanceof Error ? error.message : String(error) });
}

export function StatusBadge({ status }: { status: Status | string }) {
  return <span class={`badge status-${status}`} data-status={status}>{t(`status.${status}`)}</span>;
}

/** Whether a user, booth or outlet is active (deactivated ones keep their history). */
export function ActiveBadge({ active }: { active: boolean }) {
  return (
    <span class={active ? 'badge active' : 'badge inactive'} data-active-badge={String(active)}>
      {active ? t('common.active') : t('common.inactive')}
    </span>
  );
}

/** A labelled form field with the server's message for it, if any. */
export function Field(props: {
  label: string;
  name: string;
  errors: Record<string, string>;
  children: ComponentChildren;
}) {
  const message = props.errors[props.name];
  return (
    <label class={message ? 'field invalid' : 'field'}>
      <span>{props.label}</span>
      {props.children}
      {message && <small class="field-error" data-field={props.name}>{message}</small>}
    </label>
  );
}

/** Field errors of a failed call (422 details, or a missing value checked here). */
export function fieldErrors(error: unknown): Record<string, string> {
  return error instanceof ApiError ? error.fields : {};
}

export interface Load<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads `fetcher()` when `deps` change; `reload()` loads again. */
export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[]): Load<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(null);
    fetcher()
      .then((value) => current && setData(value))
      .catch((err) => current && setError(err))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  return { data, error, loading, reload: () => setRound((r) => r + 1) };
}

/** The outlet field of a form: a choice for a super admin, fixed to their own for an admin. */
export function OutletSelect(props: {
  value: string;
  onChange: (id: string) => void;
  errors: Record<string, string>;
  locked?: boolean;
}) {
  return (
    <Field label={t('common.outlet')} name="outlet_id" errors={props.errors}>
      <select
        name="outlet_id"
        value={props.value}
        disabled={props.locked}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      >
        {outlets.value.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** Switches between Indonesian and English. */
export function LanguageSwitch() {
  return (
    <button
      type="button"
      class="link"
      data-action="switch-language"
      onClick={() => setLang(lang.value === 'id' ? 'en' : 'id')}
    >
      {t('lang.switch')}
    </button>
  );
}

/** A list as a table, with its loading, error and empty states. `items` is undefined while
 * loading; `numeric` names the columns (by index) aligned as numbers. */
export function Table<T>(props: {
  list: string;
  items: T[] | undefined;
  error?: unknown;
  empty?: string;
  head: string[];
  numeric?: number[];
  row: (item: T) => ComponentChildren;
}) {
  if (props.error) return <ErrorNote error={props.error} />;
  if (props.items === undefined) return <Loading />;
  if (props.items.length === 0) return <Empty>{props.empty}</Empty>;
  return (
    <div class="table-wrap">
      <table class="list" data-list={props.list}>
        <thead>
          <tr>
            {props.head.map((title, index) => (
              <th key={title} class={props.numeric?.includes(index) ? 'num' : undefined}>
                {title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.items.map(props.row)}</tbody>
      </table>
    </div>
  );
}

/** `text` as a QR code (an SVG: sharp on screen and in print); `label` says what it is. */
export function QrCode({ text, label, name }: { text: string; label: string; name: string }) {
  const picture = useMemo(() => qrPicture(text), [text]);
  return (
    <svg
      class="qr"
      data-qr={name}
      role="img"
      aria-label={label}
      viewBox={`0 0 ${picture.side} ${picture.side}`}
      shape-rendering="crispEdges"
      xmlns="http://www.w3.org/2000/svg"
    >
      <rect width={picture.side} height={picture.side} fill="#fff" />
      <path d={picture.path} fill="#000" />
    </svg>
  );
}

/** Asks before a change that cannot be taken back silently (deactivating, a new token). */
export function Confirm(props: { text: string; yes: string; onYes: () => void; onNo: () => void }) {
  return (
    <div class="confirm" role="alertdialog" aria-label={props.text}>
      <p>{props.text}</p>
      <button type="button" class="danger" data-action="confirm" onClick={props.onYes}>
        {props.yes}
      </button>
      <button type="button" class="link" data-action="cancel" onClick={props.onNo}>
        {t('common.cancel')}
      </button>
    </div>
  );
}

/** Cursor paging: the cursors of the pages opened so far (none: the first page). */
export interface PagerProps {
  cursors: string[];
  next: string | null | undefined;
  onChange: (cursors: string[]) => void;
}

/** "Previous" and "Next" under a list paged with the API's cursor. */
export function Pager({ cursors, next, onChange }: PagerProps) {
  if (cursors.length === 0 && !next) return null;
  return (
    <div class="pager">
      {cursors.length > 0 && (
        <button type="button" data-action="previous-page" onClick={() => onChange(cursors.slice(0, -1))}>
          {t('common.previous')}
        </button>
      )}
      {next && (
        <button type="button" data-action="next-page" onClick={() => onChange([...cursors, next])}>
          {t('common.next')}
        </button>
      )}
    </div>
  );
}
