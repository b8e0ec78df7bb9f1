import { describe, expect, it } from 'vitest';
import { rupiah } from '../../src/pages/Bookings';
import { countByStatus, inDay } from '../../src/pages/Dashboard';

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

  it('writes rupiah the Indonesian way', () => {
    expect(rupiah(1250000)).toBe('Rp 1.250.000');
  });
});
