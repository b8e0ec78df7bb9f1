import { describe, expect, it } from 'vitest';
import { PASSWORD_MAX, bookingAmount, newPasswordProblem, parsePrice } from '../../src/forms';
import type { Outlet } from '../../src/model';

const outlet = (extra: Partial<Outlet>): Outlet => ({
  id: 'o1',
  name: 'Mall',
  location: '',
  timezone: 'Asia/Jakarta',
  price: null,
  active: true,
  ...extra,
});

describe('a new password', () => {
  it('is 10 to 200 characters, counted as characters (not UTF-16 units)', () => {
    expect(newPasswordProblem('123456789', '123456789')).toBe('password.length');
    expect(newPasswordProblem('1234567890', '1234567890')).toBeNull();
    const longest = 'x'.repeat(PASSWORD_MAX);
    expect(newPasswordProblem(longest, longest)).toBeNull();
    expect(newPasswordProblem(longest + 'x', longest + 'x')).toBe('password.length');
    // Ten emoji are ten characters for the hub, twenty UTF-16 units for JavaScript.
    const emoji = '🔑'.repeat(10);
    expect(newPasswordProblem(emoji, emoji)).toBeNull();
    expect(newPasswordProblem('🔑'.repeat(9), '🔑'.repeat(9))).toBe('password.length');
  });

  it('must be typed the same twice', () => {
    expect(newPasswordProblem('1234567890', '1234567891')).toBe('password.mismatch');
  });
});

describe('an outlet price as typed', () => {
  it('is none when empty', () => {
    expect(parsePrice('')).toEqual({ price: null });
    expect(parsePrice('   ')).toEqual({ price: null });
  });

  it('is whole rupiah, thousands separated by dots or spaces if one likes', () => {
    expect(parsePrice('65000')).toEqual({ price: 65000 });
    expect(parsePrice('65.000')).toEqual({ price: 65000 });
    expect(parsePrice(' 1 250 000 ')).toEqual({ price: 1250000 });
    expect(parsePrice('100.000.000')).toEqual({ price: 100000000 });
  });

  it('is refused when not a whole number from 1 to 100,000,000', () => {
    for (const text of ['0', '-5', '12,5', '1e5', 'abc', '100000001']) {
      expect(parsePrice(text), text).toEqual({ problem: 'outlets.priceInvalid' });
    }
  });
});

describe("a walk-in booking's amount", () => {
  it("is left out at an outlet with a price (the hub charges the outlet's price)", () => {
    expect(bookingAmount(outlet({ price: 65000 }), '50000')).toEqual({ body: {} });
    expect(bookingAmount(outlet({ price: 65000 }), '')).toEqual({ body: {} });
  });

  it('is the typed whole amount at an outlet without a price', () => {
    expect(bookingAmount(outlet({}), '50000')).toEqual({ body: { amount: 50000 } });
    for (const typed of ['', '0', '12.5', 'x']) {
      expect(bookingAmount(outlet({}), typed), typed).toEqual({ problem: 'booking.amountInvalid', field: 'amount' });
    }
  });

  it('cannot be made at an inactive outlet, priced or not', () => {
    expect(bookingAmount(outlet({ active: false, price: 65000 }), '')).toEqual({ problem: 'booking.outletInactive' });
    expect(bookingAmount(outlet({ active: false }), '50000')).toEqual({ problem: 'booking.outletInactive' });
    expect(bookingAmount(undefined, '50000')).toEqual({ problem: 'common.required', field: 'outlet_id' });
  });
});
