// The audit trail as the UI reads it: the filters of the audit page (kept in the URL), the API
// query they make, what an entry changed, and where its target has a page. Pure: no DOM, no
// API; words are i18n keys (`action.<ACTION>`, `field.<name>`).
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from './model';
import type { Role } from './routes';
import { dayBounds } from './time';

/** The audit page's filters as they stand in its URL (`?action=&actor=&from=&to=&booking=`). */
export interface AuditFilters {
  action: AuditAction | '';
  /** A user id. */
  actor: string;
  /** A date `YYYY-MM-DD` (in the zone the page states), both ends included. */
  from: string;
  to: string;
  booking: string;
}

export const NO_FILTERS: AuditFilters = { action: '', actor: '', from: '', to: '', booking: '' };

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isAction(text: string): text is AuditAction {
  return (AUDIT_ACTIONS as readonly string[]).includes(text);
}

function isDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

/** The filters of a URL's query string. An unknown action or a malformed date is dropped (the
 * page shows it unfiltered rather than failing); ids are kept as typed, checked by
 * `filterProblems`. */
export function parseAuditFilters(search: string): AuditFilters {
  const params = new URLSearchParams(search);
  const text = (name: string) => (params.get(name) ?? '').trim();
  const action = text('action');
  const date = (name: string) => (isDate(text(name)) ? text(name) : '');
  return {
    action: isAction(action) ? action : '',
    actor: text('actor'),
    from: date('from'),
    to: date('to'),
    booking: text('booking'),
  };
}

/** The query string of `filters` (set ones only, in a fixed order), without the `?`. */
export function auditSearch(filters: AuditFilters): string {
  const params = new URLSearchParams();
  for (const name of ['action', 'actor', 'from', 'to', 'booking'] as const) {
    if (filters[name]) params.set(name, filters[name]);
  }
  return params.toString();
}

/** What is wrong with a typed id, per filter (an i18n key), so that no call is made with it. */
export function filterProblems(filters: AuditFilters): Partial<Record<'actor' | 'booking' | 'to', string>> {
  const problems: Partial<Record<'actor' | 'booking' | 'to', string>> = {};
  if (filters.actor && !UUID.test(filters.actor)) problems.actor = 'audit.badId';
  if (filters.booking && !UUID.test(filters.booking)) problems.booking = 'audit.badId';
  if (filters.from && filters.to && filters.to < filters.from) problems.to = 'audit.badRange';
  return problems;
}

/** The `GET /audit` parameters of `filters`: the dates are whole days in `timezone`. */
export function auditParams(filters: AuditFilters, timezone: string): Record<string, string | undefined> {
  return {
    action: filters.action || undefined,
    actor_id: filters.actor || undefined,
    booking_id: filters.booking || undefined,
    from: filters.from ? dayBounds(filters.from, timezone).from : undefined,
    to: filters.to ? dayBounds(filters.to, timezone).to : undefined,
  };
}

/** One changed value of an entry: `field` is empty when the entry changed a single value
 * (an override's status). */
export interface Change {
  field: string;
  from: unknown;
  to: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Fields that only name the target again: not worth a line. */
const SAME_AS_TARGET = new Set(['id', 'payment_id']);

/** What an entry's `details.from` → `details.to` changed: for records, the fields that differ
 * (all of a created record's fields, the new one's), in the record's order; for single values,
 * the one change; nothing when neither side says anything. */
export function changes(from: unknown, to: unknown): Change[] {
  if (isRecord(from) || isRecord(to)) {
    const before = isRecord(from) ? from : {};
    const after = isRecord(to) ? to : {};
    const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return fields
      .filter((field) => !SAME_AS_TARGET.has(field))
      .filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]))
      .map((field) => ({ field, from: before[field] ?? null, to: after[field] ?? null }));
  }
  if ((from ?? null) === null && (to ?? null) === null) return [];
  if (JSON.stringify(from) === JSON.stringify(to)) return [];
  return [{ field: '', from: from ?? null, to: to ?? null }];
}

/** Where the UI shows an entry's target to `role`, or null where it has no page (an outlet, a
 * user or the config for an admin; a payment is shown on its booking's page). */
export function targetHref(entry: Pick<AuditEntry, 'target' | 'booking_id'>, role: Role | undefined): string | null {
  const target = entry.target;
  const superAdmin = role === 'super_admin';
  switch (target?.type) {
    case 'booking':
      return target.id ? `/bookings/${target.id}` : null;
    case 'payment':
      return entry.booking_id ? `/bookings/${entry.booking_id}` : null;
    case 'booth':
      return '/booths';
    case 'outlet':
      return superAdmin ? '/outlets' : null;
    case 'user':
      return superAdmin ? '/admin-users' : null;
    case 'config':
      return superAdmin ? '/config' : null;
    default:
      return null;
  }
}
