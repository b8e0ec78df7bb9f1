import { describe, expect, it } from 'vitest';
import { rupiah } from '../../src/pages/Bookings';
import type { Booth, LiveEvent } from '../../src/model';
import { applyPresence } from '../../src/pages/Booths';
import { type DashboardState, applyEvent, countByStatus, inDay } from '../../src/pages/Dashboard';

describe('page logic', () => {
  it("counts today's sessions by status, every status present", () => {
    const counts = countByStatus({ a: 'DONE', b: 'DONE', c: 'ONGOING' });
    expect(counts.DONE).toBe(2);
    expect(counts.ONGOING).toBe(1);
    expect(counts.EXPIRED).toBe(0);
    expect(Object.keys(counts)).toHaveLength(8);
  });

  it('places a booking time inside a day of the outlet, both ends included', () => {
    const day = { from: '2026-11-25T16:00:00.000Z', to: '2026-11-26T15:59:59.999Z' };
    expect(inDay('2026-11-25T16:00:00Z', day)).toBe(true);
    expect(inDay('2026-11-26T15:59:59.999Z', day)).toBe(true);
    expect(inDay('2026-11-26T16:00:00Z', day)).toBe(false);
    expect(inDay('2026-11-25T15:59:59Z', day)).toBe(false);
  });

  it('applies live events on top of the loaded state, in order, the last one winning', () => {
    const booth: Booth = { id: 'b1', outlet_id: 'o', name: 'A', active: true, online: false, last_seen_at: null };
    const event = (kind: string, extra: Partial<LiveEvent> = {}): LiveEvent => ({
      type: 'event',
      stream: 'outlet:o',
      seq: 1,
      event: kind,
      booking_id: null,
      booth_id: 'b1',
      outlet_id: 'o',
      status: null,
      at: '2026-11-26T03:00:00Z',
      ...extra,
    } as LiveEvent);
    let state: DashboardState = { booths: { b1: booth }, today: { k: 'PAID' } };
    for (const e of [event('BOOTH_ONLINE'), event('BOOTH_OFFLINE'), event('BOOTH_ONLINE')]) state = applyEvent(state, e);
    expect(state.booths.b1.online).toBe(true);
    state = applyEvent(state, event('SESSION_APPROVED', { booking_id: 'k', status: 'ARRIVED' }));
    expect(state.today.k).toBe('ARRIVED');
    const same = applyEvent(state, event('SESSION_APPROVED', { booking_id: 'unknown', status: 'ARRIVED' }));
    expect(same).toBe(state);
    const list = applyPresence([booth], event('BOOTH_ONLINE'));
    expect(list[0]).toMatchObject({ online: true, last_seen_at: '2026-11-26T03:00:00Z' });
    expect(applyPresence(list, event('BOOKING_CREATED'))).toBe(list);
  });

  it('writes rupiah the Indonesian way', () => {
    expect(rupiah(1250000)).toBe('Rp 1.250.000');
  });
});
