import { describe, expect, it } from 'vitest';
import { NO_FILTERS, auditParams, auditSearch, changes, filterProblems, parseAuditFilters, targetHref } from '../../src/audit';

const BOOKING = '0b6f3c1e-0000-4000-8000-000000000001';
const USER = '0b6f3c1e-0000-4000-8000-000000000002';

describe('the audit filters in the URL', () => {
  it('reads every filter of a query string', () => {
    expect(parseAuditFilters(`?action=OUTLET_UPDATED&actor=${USER}&from=2026-12-01&to=2026-12-05&booking=${BOOKING}`)).toEqual({
      action: 'OUTLET_UPDATED',
      actor: USER,
      from: '2026-12-01',
      to: '2026-12-05',
      booking: BOOKING,
    });
    expect(parseAuditFilters('')).toEqual(NO_FILTERS);
  });

  it('drops an unknown action and malformed or impossible dates, and trims ids', () => {
    const filters = parseAuditFilters('action=DROP_TABLES&from=2026-13-01&to=yesterday&actor=%20abc%20');
    expect(filters).toEqual({ ...NO_FILTERS, actor: 'abc' });
    expect(parseAuditFilters('from=2026-02-30').from).toBe('');
    expect(parseAuditFilters('action=login').action).toBe('');
  });

  it('writes the set filters back in a fixed order, so that a link is stable', () => {
    const text = auditSearch({ ...NO_FILTERS, booking: BOOKING, action: 'LOGIN' });
    expect(text).toBe(`action=LOGIN&booking=${BOOKING}`);
    expect(parseAuditFilters(text)).toEqual({ ...NO_FILTERS, booking: BOOKING, action: 'LOGIN' });
    expect(auditSearch(NO_FILTERS)).toBe('');
  });

  it('refuses ids that are not UUIDs and a range that ends before it starts, before any call', () => {
    expect(filterProblems({ ...NO_FILTERS, actor: 'sari', booking: '123' })).toEqual({
      actor: 'audit.badId',
      booking: 'audit.badId',
    });
    expect(filterProblems({ ...NO_FILTERS, from: '2026-12-05', to: '2026-12-04' })).toEqual({ to: 'audit.badRange' });
    expect(filterProblems({ ...NO_FILTERS, actor: USER, from: '2026-12-05', to: '2026-12-05' })).toEqual({});
  });

  it("asks the API for whole days in the page's zone, both ends included", () => {
    const params = auditParams({ ...NO_FILTERS, action: 'LOGIN', actor: USER, from: '2026-12-01', to: '2026-12-02' }, 'Asia/Jakarta');
    expect(params).toEqual({
      action: 'LOGIN',
      actor_id: USER,
      booking_id: undefined,
      from: '2026-11-30T17:00:00.000Z',
      to: '2026-12-02T16:59:59.999Z',
    });
    expect(auditParams(NO_FILTERS, 'UTC')).toEqual({
      action: undefined,
      actor_id: undefined,
      booking_id: undefined,
      from: undefined,
      to: undefined,
    });
  });
});

describe("an audit entry's change", () => {
  it('lists the fields of a record that changed, in its order', () => {
    const before = { id: 'o1', name: 'Mall A', location: 'Jakarta', price: null, active: true };
    const after = { id: 'o1', name: 'Mall B', location: 'Jakarta', price: 65000, active: true };
    expect(changes(before, after)).toEqual([
      { field: 'name', from: 'Mall A', to: 'Mall B' },
      { field: 'price', from: null, to: 65000 },
    ]);
  });

  it("lists a created record's fields, and a single value's change", () => {
    expect(changes(null, { name: 'Booth A', active: true })).toEqual([
      { field: 'name', from: null, to: 'Booth A' },
      { field: 'active', from: null, to: true },
    ]);
    expect(changes('AWAITING_CUSTOMER', 'DONE')).toEqual([{ field: '', from: 'AWAITING_CUSTOMER', to: 'DONE' }]);
  });

  it('leaves out what names the target again, and says nothing when nothing is said', () => {
    const at = '2026-12-05T03:00:00Z';
    expect(changes({ payment_id: 'p', refunded_at: null }, { payment_id: 'p', refunded_at: at })).toEqual([
      { field: 'refunded_at', from: null, to: at },
    ]);
    expect(changes(null, null)).toEqual([]);
    expect(changes(undefined, undefined)).toEqual([]);
    expect(changes({ a: 1 }, { a: 1 })).toEqual([]);
  });
});

describe("an audit entry's target", () => {
  const entry = (type: string, id?: string, booking_id: string | null = null) =>
    ({ target: { type, id }, booking_id }) as Parameters<typeof targetHref>[0];

  it('links to the pages that exist for the role', () => {
    expect(targetHref(entry('booking', BOOKING), 'admin')).toBe(`/bookings/${BOOKING}`);
    expect(targetHref(entry('payment', 'p', BOOKING), 'admin')).toBe(`/bookings/${BOOKING}`);
    expect(targetHref(entry('booth', 'b'), 'admin')).toBe('/booths');
    expect(targetHref(entry('user', USER), 'super_admin')).toBe('/admin-users');
    expect(targetHref(entry('outlet', 'o'), 'super_admin')).toBe('/outlets');
    expect(targetHref(entry('config'), 'super_admin')).toBe('/config');
  });

  it("gives an admin no link to a super admin's page, and none without a target", () => {
    expect(targetHref(entry('user', USER), 'admin')).toBeNull();
    expect(targetHref(entry('outlet', 'o'), 'admin')).toBeNull();
    expect(targetHref(entry('config'), 'admin')).toBeNull();
    expect(targetHref({ target: null, booking_id: null }, 'super_admin')).toBeNull();
  });
});
