// The audit trail: every change made by a person, newest first, with when (in the entry's
// outlet zone, UTC for entries without an outlet), who (their e-mail then), what (the action
// in words), on what (a link where the target has a page) and the change (from → to, reason).
// Filters live in the URL (action, person, date range, booking) and the list is paged with
// the API's cursor. Admins see their outlet's entries (the hub scopes them); super admins all.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { Link, useLocation, useSearch } from 'wouter-preact';
import { type Page, all, api, query } from '../api';
import { Pager, StatusBadge, Table, useLoad } from '../components';
import {
  type AuditFilters,
  auditParams,
  auditSearch,
  changes,
  filterProblems,
  parseAuditFilters,
  targetHref,
} from '../audit';
import { lang, t } from '../i18n';
import { AUDIT_ACTIONS, type AuditEntry, type Booth, type User } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { user } from '../session';
import { formatTime, zoneLabel } from '../time';
import { rupiah } from './Bookings';

export function AuditPage() {
  const searchText = useSearch();
  const [, navigate] = useLocation();
  const filters = parseAuditFilters(searchText);
  const problems = filterProblems(filters);
  const valid = Object.keys(problems).length === 0;
  const me = user.value;
  const superAdmin = me?.role === 'super_admin';
  // Days of the date range are the admin's outlet's (the first outlet's for a super admin,
  // as on the bookings page); the page says which zone.
  const zone = timezoneOf(me?.outlet_id ?? outlets.value[0]?.id);
  // The pages opened so far belong to one set of filters: new filters start at the first page.
  const [paging, setPaging] = useState<{ search: string; cursors: string[] }>({ search: '', cursors: [] });
  const cursors = paging.search === searchText ? paging.cursors : [];
  const cursor = cursors[cursors.length - 1];

  const page = useLoad(
    () =>
      valid
        ? api<Page<AuditEntry>>('GET', '/audit' + query({ ...auditParams(filters, zone), limit: 25, cursor }))
        : Promise.resolve(null),
    [searchText, cursor, zone],
  );
  const names = useNames();

  // Typed ids are uncontrolled (keyed by the URL's value, so a new URL shows anew): a page
  // that re-renders while they are typed must not put the URL's value back.
  const setFilter = (name: keyof AuditFilters, value: string) => {
    const text = auditSearch({ ...filters, [name]: value.trim() });
    navigate(`/audit${text ? '?' + text : ''}`);
  };

  return (
    <section>
      <header class="page-head">
        <h1>{t('audit.title')}</h1>
      </header>
      <form
        class="filters"
        aria-label={t('bookings.filter')}
        data-form="audit-filters"
        onSubmit={(e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          const typed = (name: string) => String(form.get(name) ?? '').trim();
          const text = auditSearch({ ...filters, actor: typed('actor'), booking: typed('booking') });
          navigate(`/audit${text ? '?' + text : ''}`);
        }}
      >
        <label class="field">
          <span>{t('audit.action')}</span>
          <select name="action" value={filters.action} onChange={(e) => setFilter('action', e.currentTarget.value)}>
            <option value="">{t('common.all')}</option>
            {AUDIT_ACTIONS.map((action) => (
              <option key={action} value={action}>
                {t(`action.${action}`)}
              </option>
            ))}
          </select>
        </label>
        {superAdmin ? (
          <label class="field">
            <span>{t('audit.person')}</span>
            <select name="actor" value={filters.actor} onChange={(e) => setFilter('actor', e.currentTarget.value)}>
              <option value="">{t('common.all')}</option>
              {filters.actor && !names.users[filters.actor] && <option value={filters.actor}>{filters.actor}</option>}
              {Object.entries(names.users)
                .sort(([, a], [, b]) => a.localeCompare(b))
                .map(([id, email]) => (
                  <option key={id} value={id}>
                    {email}
                  </option>
                ))}
            </select>
          </label>
        ) : (
          <FilterField label={t('audit.personId')} problem={problems.actor}>
            <input
              name="actor"
              key={filters.actor}
              defaultValue={filters.actor}
              placeholder={me?.id}
              onChange={(e) => setFilter('actor', e.currentTarget.value)}
            />
          </FilterField>
        )}
        <label class="field">
          <span>{t('audit.from')}</span>
          <input name="from" type="date" value={filters.from} onChange={(e) => setFilter('from', e.currentTarget.value)} />
        </label>
        <FilterField label={t('audit.to')} problem={problems.to}>
          <input name="to" type="date" value={filters.to} onChange={(e) => setFilter('to', e.currentTarget.value)} />
        </FilterField>
        <FilterField label={t('audit.booking')} problem={problems.booking}>
          <input
            name="booking"
            key={filters.booking}
            defaultValue={filters.booking}
            onChange={(e) => setFilter('booking', e.currentTarget.value)}
          />
        </FilterField>
        {searchText && (
          <div class="actions">
            <button type="button" class="link" data-action="clear-filters" onClick={() => navigate('/audit')}>
              {t('audit.clear')}
            </button>
          </div>
        )}
        <p class="hint muted" data-zone={zone}>
          {t('audit.zone', { zone: zoneLabel(zone) })}
        </p>
      </form>
      {valid && (
        <AuditTable
          entries={page.loading && !page.data ? undefined : (page.data?.items ?? undefined)}
          error={page.error}
          names={names}
        />
      )}
      <Pager
        cursors={cursors}
        next={page.data?.next_cursor}
        onChange={(next) => setPaging({ search: searchText, cursors: next })}
      />
    </section>
  );
}

function FilterField(props: { label: string; problem: string | undefined; children: ComponentChildren }) {
  return (
    <label class={props.problem ? 'field invalid' : 'field'}>
      <span>{props.label}</span>
      {props.children}
      {props.problem && <small class="field-error">{t(props.problem)}</small>}
    </label>
  );
}

/** Names for ids in the trail: users (a super admin's list; an admin may not list users) and
 * booths. */
export interface Names {
  users: Record<string, string>;
  booths: Record<string, string>;
}

export function useNames(): Names {
  const superAdmin = user.value?.role === 'super_admin';
  const users = useLoad(() => (superAdmin ? all<User>('/admin-users', {}) : Promise.resolve([])), [superAdmin]);
  const booths = useLoad(() => all<Booth>('/booths', {}), []);
  return {
    users: Object.fromEntries((users.data ?? []).map((u) => [u.id, u.email])),
    booths: Object.fromEntries((booths.data ?? []).map((b) => [b.id, b.name])),
  };
}

/** Audit entries as a table (`entries` undefined while loading). */
export function AuditTable(props: { entries: AuditEntry[] | undefined; error?: unknown; names: Names; empty?: string }) {
  const role = user.value?.role;
  return (
    <Table
      list="audit"
      items={props.entries}
      error={props.error}
      empty={props.empty ?? t('audit.empty')}
      head={[t('common.time'), t('audit.person'), t('audit.action'), t('audit.target'), t('audit.details')]}
      row={(entry) => {
        const zone = entry.outlet_id ? timezoneOf(entry.outlet_id) : 'UTC';
        return (
          <tr key={entry.id} data-audit={entry.id} data-action={entry.action}>
            <td>{formatTime(entry.at, zone, lang.value)}</td>
            <td data-person={entry.actor_id ?? ''}>{entry.actor_email ?? '—'}</td>
            <td>{t(`action.${entry.action}`)}</td>
            <td>
              <Target entry={entry} href={targetHref(entry, role)} names={props.names} />
            </td>
            <td>
              <Details entry={entry} />
            </td>
          </tr>
        );
      }}
    />
  );
}

function Target({ entry, href, names }: { entry: AuditEntry; href: string | null; names: Names }) {
  const target = entry.target;
  if (!target) return <span class="muted">—</span>;
  const id = target.id ?? '';
  // A known name says enough; otherwise what it is and a short id.
  const known =
    target.type === 'outlet'
      ? outlets.value.find((o) => o.id === id)?.name
      : target.type === 'booth'
        ? names.booths[id]
        : target.type === 'user'
          ? names.users[id]
          : undefined;
  const text = known ?? `${t(`target.${target.type}`)} ${id.slice(0, 8).toUpperCase()}`.trim();
  if (!href) return <span data-target={target.type}>{text}</span>;
  return (
    <Link href={href} data-target={target.type} data-target-link={href}>
      {text}
    </Link>
  );
}

function Details({ entry }: { entry: AuditEntry }) {
  const zone = entry.outlet_id ? timezoneOf(entry.outlet_id) : 'UTC';
  const lines = changes(entry.details.from, entry.details.to);
  const value = (field: string, raw: unknown) => <Value field={field} raw={raw} zone={zone} action={entry.action} />;
  return (
    <>
      {lines.length > 0 && (
        <ul class="changes">
          {lines.map((c) => (
            <li key={c.field} data-change={c.field}>
              {c.field && <span class="field-name">{fieldName(c.field)}: </span>}
              {entry.details.from !== null && entry.details.from !== undefined && (
                <>
                  {value(c.field, c.from)} →{' '}
                </>
              )}
              {value(c.field, c.to)}
            </li>
          ))}
        </ul>
      )}
      {entry.details.reason && <span class="reason">{entry.details.reason}</span>}
    </>
  );
}

function fieldName(field: string): string {
  const key = `field.${field}`;
  const name = t(key);
  return name === key ? field : name;
}

/** A value of a change in words: a status as a badge, an outlet by name, a price in rupiah. */
function Value({ field, raw, zone, action }: { field: string; raw: unknown; zone: string; action: string }) {
  if (raw === null || raw === undefined) return <>—</>;
  if (action === 'SESSION_OVERRIDE' && field === '' && typeof raw === 'string') return <StatusBadge status={raw} />;
  if (typeof raw === 'boolean') return <>{t(raw ? 'common.yes' : 'common.no')}</>;
  if (field === 'outlet_id' && typeof raw === 'string') return <>{outletName(raw)}</>;
  if (field === 'price' && typeof raw === 'number') return <>{rupiah(raw)}</>;
  if (field === 'role' && typeof raw === 'string') return <>{t(`role.${raw}`)}</>;
  if (field.endsWith('_at') && typeof raw === 'string') return <>{formatTime(raw, zone, lang.value)}</>;
  if (typeof raw === 'object') return <span class="mono">{JSON.stringify(raw)}</span>;
  return <>{String(raw)}</>;
}
