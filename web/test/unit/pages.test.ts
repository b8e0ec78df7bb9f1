import { describe, expect, it } from 'vitest';
import type { Booking } from '../../src/model';
import { history } from '../../src/pages/Booking';
import { rupiah } from '../../src/pages/Bookings';
import { countByStatus } from '../../src/pages/Dashboard';

describe('page logic', () => {
  it("counts today's sessions by status, every status present", () => {
    const counts = countByStatus({ a: 'DONE', b: 'DONE', c: 'ONGOING' });
    expect(counts.DONE).toBe(2);
    expect(counts.ONGOING).toBe(1);
    expect(counts.EXPIRED).toBe(0);
    expect(Object.keys(counts)).toHaveLength(8);
  });

  it("orders a booking's milestones in time", () => {
    const booking = {
      paid_at: '2026-11-26T03:00:00Z',
      started_at: '2026-11-26T03:10:00Z',
      finished_at: null,
      expired_at: null,
      override_at: '2026-11-26T03:05:00Z',
    } as Booking;
    expect(history(booking).map((s) => s.key)).toEqual(['booking.paid', 'booking.overridden', 'booking.started']);
  });

  it('writes rupiah the Indonesian way', () => {
    expect(rupiah(1250000)).toBe('Rp 1.250.000');
  });
});
